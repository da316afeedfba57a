/**
 * extract()'s fast path (./scan.ts via extractText) against its definition (extractByParse:
 * JSON.parse of every document, then take()): equal on hand-written tricky shapes and on
 * hundreds of thousands of generated and mutated documents and streams.
 */
import { describe, expect, test } from "bun:test";
import { extract, extractByParse, extractText } from "./record";
import { matchTemplate, SCAN_BAIL, SCAN_OK, scanDocument, type Found } from "./scan";

function same(body: string, streamed: boolean): void {
  const want = extractByParse(body, streamed);
  const got = extractText(body, streamed);
  if (got.content !== want.content || !sameUsage(got.usage, want.usage)) {
    // toEqual for a readable diff, with the input
    expect({ body, streamed, got }).toEqual({ body, streamed, got: want });
  }
}

function sameUsage(a: { completion_tokens: number; prompt_tokens: number } | null, b: typeof a): boolean {
  if (a === null || b === null) return a === b;
  // Object.is: -0 and NaN count, and key order (the record's JSON) too
  return Object.is(a.completion_tokens, b.completion_tokens) && Object.is(a.prompt_tokens, b.prompt_tokens) && JSON.stringify(a) === JSON.stringify(b);
}

const sse = (frames: string[], eol = "\n") => frames.map((f) => `data: ${f}${eol}${eol}`).join("");
const chunk = (content: string, extra = "") =>
  `{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":${JSON.stringify(content)}},"logprobs":null,"finish_reason":null}]${extra}}`;

describe("hand-written shapes", () => {
  const docs = [
    // OpenAI replies
    '{"choices":[{"index":0,"message":{"role":"assistant","content":"Hello"}}],"usage":{"prompt_tokens":5,"completion_tokens":7}}',
    JSON.stringify({ id: "x", choices: [{ message: { content: "Hi\n\"there\"\\ é 😀 \u2028" } }], usage: { prompt_tokens: 1 } }, null, 2),
    '{"choices":[{"message":{"content":"\\ud800 lone"}}]}',
    '{"choices":[{"message":{"content":null,"tool_calls":[{"id":"t"}]}}],"usage":{"prompt_tokens":3,"completion_tokens":1}}',
    '{"choices":[{"text":"abc"},{"text":"def"}]}',
    '{"choices":[{"delta":{"content":null},"message":{"content":"m"},"text":"t"}]}',
    '{"choices":[{"delta":{},"message":{"content":null},"text":"t"}]}',
    '{"choices":[{"delta":"str","message":[1],"text":null}]}',
    '{"choices":[{"delta":{"content":5},"message":{"content":"m"}}]}',
    '{"choices":[{"delta":{"content":false}},{"delta":{"content":{"a":1}}},{"delta":{"content":["x"]}}]}',
    '{"choices":[null,1,"x",[],{"delta":{"content":"ok"}},true]}',
    '{"choices":{"0":{"delta":{"content":"no"}}}}',
    '{"choices":"abc"}',
    '{"choices":null,"usage":null}',
    '{"choices":[{"delta":{"content":"a"}}],"choices":[{"delta":{"content":"b"}}]}',
    '{"choices":[{"delta":{"content":"a"}}],"choices":5}',
    '{"choices":[{"delta":{"content":"a","content":"b"}}]}',
    '{"choices":[{"delta":{"content":"a"},"delta":{"role":"x"}}]}',
    '{"choices":[{"delta":{"content":"a"},"delta":{"content":null},"message":{"content":"m"}}]}',
    '{"choices":[{"text":"a","text":7}]}',
    '{"choi\\u0063es":[{"delta":{"cont\\u0065nt":"esc keys"}}],"us\\u0061ge":{"prompt_tok\\u0065ns":2}}',
    // usage
    '{"usage":{"prompt_tokens":"5","completion_tokens":7}}',
    '{"usage":{"prompt_tokens":5}}',
    '{"usage":{"prompt_tokens":5,"completion_tokens":"7"}}',
    '{"usage":{"prompt_tokens":1.5,"completion_tokens":-0}}',
    '{"usage":{"prompt_tokens":-0,"completion_tokens":1e400}}',
    '{"usage":{"prompt_tokens":1E2,"completion_tokens":12345678901234567890}}',
    '{"usage":{"prompt_tokens":0.1e-5,"completion_tokens":9007199254740993}}',
    '{"usage":{"prompt_tokens":123456789012345,"completion_tokens":1234567890123456}}',
    '{"usage":{"prompt_tokens":5},"usage":{"completion_tokens":1}}',
    '{"usage":{"prompt_tokens":5},"usage":null}',
    '{"usage":{"prompt_tokens":5,"prompt_tokens":null}}',
    '{"usage":[5]}',
    '{"usage":"x"}',
    // not OpenAI, or not objects
    '{"type":"message","content":[{"type":"text","text":"anthropic"}],"usage":{"input_tokens":3,"output_tokens":4}}',
    '{"type":"content_block_delta","delta":{"type":"text_delta","text":"hi"}}',
    '{"type":5,"choices":[{"delta":{"content":"type is not a string"}}]}',
    '{"type":"x","type":5,"choices":[{"delta":{"content":"last type wins"}}]}',
    '{"candidates":[{"content":{"parts":[{"text":"gemini"}]}}],"usageMetadata":{"promptTokenCount":1}}',
    "[1,2,3]",
    '"just a string"',
    "42",
    "null",
    "true",
    "{}",
    "[]",
    // invalid JSON
    "",
    " ",
    "<html>bad gateway</html>",
    '{"choices":[{"delta":{"content":"a"}},]}',
    "{'choices':[]}",
    '{"usage":{"prompt_tokens":01}}',
    '{"usage":{"prompt_tokens":1.}}',
    '{"usage":{"prompt_tokens":.5}}',
    '{"usage":{"prompt_tokens":+1}}',
    '{"usage":{"prompt_tokens":-}}',
    '{"usage":{"prompt_tokens":1e}}',
    '{"usage":{"prompt_tokens":NaN}}',
    '{"choices":[{"delta":{"content":"tab\there"}}]}',
    '{"choices":[{"delta":{"content":"nl\nhere"}}]}',
    '{"choices":[{"delta":{"content":"bad \\x escape"}}]}',
    '{"choices":[{"delta":{"content":"bad \\u12 escape"}}]}',
    '{"choices":[{"delta":{"content":"trailing backslash\\"}}]}',
    '{"choices":[{"delta":{"content":"cut',
    '{"choices":[]} extra',
    '{"choices":[]}{"choices":[]}',
    '{"choices":[]} // comment',
    '\ufeff{"choices":[]}',
    '{"choices":[]}\u00a0',
    '\u00a0{"choices":[]}',
    ' \t\r\n{"choices":[{"text":"ws ok"}]} \n',
    '{"a":tru}',
    '{"a":nul}',
    '{"a":falsey}',
    '{"a" 1}',
    '{"a":1 "b":2}',
    '{,}',
    "[1,]",
    "[1 2]",
    '{"a":[}',
    "{".repeat(40) + "}".repeat(40),
    '{"choices":' + "[".repeat(60) + "]".repeat(60) + "}",
    '{"x":' + '{"a":'.repeat(100) + "1" + "}".repeat(100) + ',"choices":[{"text":"deep"}]}',
  ];

  test("JSON replies", () => {
    for (const d of docs) same(d, false);
  });

  test("each as one SSE event, and all of them as one stream (which stops at the first bad event)", () => {
    for (const d of docs) {
      same(`data: ${d}\n\n`, true);
      same(`data:${d}\r\n\r\n`, true);
      same(sse([chunk("a"), d, chunk("b"), chunk("c")]), true);
    }
    same(sse(docs), true);
    same(sse(docs.filter((d) => !d.includes("bad"))), true);
  });

  test("SSE framing: spaces, CRLF, [DONE], comments, other fields, blank data, cut tails", () => {
    const frames = [chunk(""), chunk("Hel"), chunk("lo"), chunk(" wor"), chunk("ld", ',"usage":null')];
    const usage = '{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4}}';
    const bodies = [
      sse([...frames, usage, "[DONE]"]),
      sse([...frames, usage, "[DONE]"], "\r\n"),
      frames.map((f) => `data:${f}\n`).join(""),
      frames.map((f) => `data:   ${f}  \t\n\n`).join(""),
      frames.map((f) => `event: message\nid: 1\ndata: ${f}\n: keep-alive\n\n`).join(""),
      `data: \n\ndata:\n\ndata: [DONE]\n\ndata:  [DONE] \n\n${sse(frames)}`,
      `data: [DONE]x\n\n${sse(frames)}`,
      `DATA: ${frames[1]}\n\n data: ${frames[2]}\n\n${sse(frames)}`,
      sse(frames).slice(0, -30),
      sse(frames).slice(0, -3),
      `${sse(frames)}data: ${frames[1].slice(0, 50)}\n\n${sse(frames)}`,
      `\u00a0data: ${frames[1]}\n\ndata:\u00a0${frames[1]}\u3000\n\ndata:\ufeff${frames[2]}\u2028\n\n`,
      sse([...frames, ...frames.map((f) => f.replace('"m"', '"m2"'))]),
      "",
      "\n\n\n",
      "data: {}",
    ];
    for (const b of bodies) same(b, true);
  });

  test("events that almost fit a template are parsed, not matched", () => {
    const t = chunk("x");
    const [pre, post] = t.split('"x"');
    const holes = [
      '"a","content":5',
      '"a"},{"delta":{"content":"b"}',
      '"a" ',
      ' "a"',
      '"a\\"',
      '"a\\\\"',
      '"a\\\\\\"b"',
      '"a\\u0022b"',
      '"tab\tx"',
      '"\\q"',
      '""',
      '"\\n\\t\\"\\\\\\/\\b\\f\\r\\u00e9\\ud83d\\ude00"',
      "5",
      "null",
      '"a"x"',
      '"',
      '"a""b"',
    ];
    for (const h of holes) {
      same(sse([t, t, `${pre}${h}${post}`, t]), true);
      same(sse([t, t, `${pre}${h}${post}x`, t]), true);
      // one character off right next to the literal, on either side
      same(sse([t, t, `${pre}${h}]${post.slice(1)}`, t]), true);
      same(sse([t, t, `${pre.slice(0, -1)}[${h}${post}`, t]), true);
    }
    // the template's own text with another suffix (OpenAI's per-event "obfuscation" field)
    same(sse(Array.from({ length: 20 }, (_, i) => chunk(`t${i}`, `,"obfuscation":"${"abcdefgh".slice(0, i % 8)}"`))), true);
  });

  test("the fast path is taken for the common shapes (the tests above are not vacuous)", () => {
    const found: Found = { content: "", usage: false, prompt: 0, completion: 0, template: undefined };
    const body = chunk(" tok5");
    expect(scanDocument(body, 0, body.length, found)).toBe(SCAN_OK);
    expect(found.content).toBe(" tok5");
    expect(found.template).toBeDefined();
    const other = chunk("other\n\"q\"");
    expect(matchTemplate(other, 0, other.length, found.template!, found)).toBe(true);
    expect(found.content).toBe('other\n"q"');
    const bad = '{"choices":[{"delta":{"content":"a"}},]}';
    expect(scanDocument(bad, 0, bad.length, found)).toBe(SCAN_BAIL);
    const anthropic = '{"type":"content_block_delta","delta":{"type":"text_delta","text":"hi"}}';
    expect(scanDocument(anthropic, 0, anthropic.length, found)).toBe(SCAN_BAIL);
  });

  test("extract() over chunks split anywhere equals extract over the whole, multi-byte characters included", () => {
    const enc = new TextEncoder();
    const body = enc.encode(sse([chunk("é😀 ü"), chunk("日本語"), chunk("x", ',"usage":{"prompt_tokens":2,"completion_tokens":3}')]));
    const whole = extractByParse(new TextDecoder().decode(body), true);
    for (let cut = 0; cut <= body.length; cut += 7) {
      expect(extract([body.subarray(0, cut), body.subarray(cut)], true)).toEqual(whole);
    }
  });
});

// ------------------------------------------------------------------------------------------------
// Generated documents
// ------------------------------------------------------------------------------------------------

function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const KEYS = ["choices", "delta", "message", "text", "content", "usage", "prompt_tokens", "completion_tokens", "type", "index", "role", "id", "x"];
const STRINGS = ["", "a", " tok1", "Hello", "é😀", "\n", '"', "\\", "\u2028", "\u0000", "\ud800", "\t", "/", "choices", "content"];
const NUMBERS = ["0", "-0", "1", "42", "-7", "1.5", "1e3", "1E+2", "2e-2", "1e400", "-1e400", "12345678901234567890", "0.1", "9007199254740993", "123456789012345"];

function generator(r: () => number) {
  const pick = <T,>(xs: T[]) => xs[Math.floor(r() * xs.length)];
  const ws = () => (r() < 0.85 ? "" : pick([" ", "\n", "\t", "\r\n", "  "]));
  const str = () => {
    let s = "";
    for (let n = Math.floor(r() * 3); n >= 0; n--) s += pick(STRINGS);
    return JSON.stringify(s);
  };
  const value = (depth: number): string => {
    const x = r();
    if (depth > 4 || x < 0.25) return str();
    if (x < 0.4) return pick(NUMBERS);
    if (x < 0.5) return pick(["null", "true", "false"]);
    if (x < 0.75) return object(depth + 1);
    return `[${ws()}${Array.from({ length: Math.floor(r() * 4) }, () => value(depth + 1)).join(`${ws()},${ws()}`)}${ws()}]`;
  };
  const object = (depth: number): string => {
    const n = Math.floor(r() * 5);
    const members: string[] = [];
    for (let i = 0; i < n; i++) {
      const key = r() < 0.9 ? JSON.stringify(pick(KEYS)) : `"${pick(["cont\\u0065nt", "choi\\u0063es", "te\\u0078t", "us\\u0061ge"])}"`;
      members.push(`${ws()}${key}${ws()}:${ws()}${value(depth)}`);
    }
    return `{${members.join(",")}${ws()}}`;
  };
  // OpenAI-like documents, so that the interesting keys nest the way take() reads them
  const openai = (): string => {
    const choice = () => {
      const parts: string[] = [];
      for (const k of ["index", "delta", "message", "text", "finish_reason"]) {
        if (r() < 0.4) continue;
        const v = k === "delta" || k === "message" ? (r() < 0.8 ? `{"role":"assistant","content":${r() < 0.8 ? str() : value(3)}${r() < 0.2 ? `,"content":${value(3)}` : ""}}` : value(3)) : value(3);
        parts.push(`"${k}":${ws()}${v}`);
        if (r() < 0.05) parts.push(`"${k}":${value(3)}`);
      }
      return r() < 0.9 ? `{${parts.join(",")}}` : value(2);
    };
    const members = [`"id":"chatcmpl-${Math.floor(r() * 100)}"`, `"object":"chat.completion.chunk"`];
    if (r() < 0.1) members.push(`"type":${r() < 0.5 ? str() : value(2)}`);
    if (r() < 0.9) members.push(`"choices":${r() < 0.9 ? `[${Array.from({ length: Math.floor(r() * 3) }, choice).join(",")}]` : value(2)}`);
    if (r() < 0.5) members.push(`"usage":${r() < 0.8 ? `{"prompt_tokens":${r() < 0.8 ? pick(NUMBERS) : value(2)},"completion_tokens":${pick(NUMBERS)}}` : value(2)}`);
    if (r() < 0.1) members.push(`"choices":[${choice()}]`);
    if (r() < 0.1) members.push(`"usage":${value(2)}`);
    if (r() < 0.1) members.push(`"x":${object(2)}`);
    return `{${members.join(`,${ws()}`)}}`;
  };
  const mutate = (s: string): string => {
    const i = Math.floor(r() * (s.length + 1));
    const x = r();
    if (x < 0.3) return s.slice(0, i) + s.slice(i + 1);
    if (x < 0.6) return s.slice(0, i) + pick(['"', "\\", "{", "}", "[", "]", ",", ":", " ", "\u0001", "\u001f", "\u007f", "\t", "0", "-", ".", "e", "n", "\n"]) + s.slice(i);
    if (x < 0.8) return s.slice(0, i);
    return s.slice(0, i) + s.slice(i).replace(/[0-9]/, "0$&");
  };
  return { openai, object, value, mutate, pick, str };
}

describe("generated documents", () => {
  test("JSON replies: random OpenAI-like documents, random JSON, and their mutations", () => {
    const r = rng(1);
    const g = generator(r);
    for (let i = 0; i < 30_000; i++) {
      const doc = r() < 0.7 ? g.openai() : g.object(0);
      same(doc, false);
      same(g.mutate(doc), false);
    }
  });

  test("streams: templated events with random texts, random events and mutations between them", () => {
    const r = rng(2);
    const g = generator(r);
    for (let i = 0; i < 4000; i++) {
      const head = `{"id":"chatcmpl-${i}","object":"chat.completion.chunk","created":${i},"model":"m","choices":[{"index":0,"delta":{"content":`;
      const tail = r() < 0.5 ? '},"logprobs":null,"finish_reason":null}]}' : '},"finish_reason":null}],"usage":null}';
      const frames: string[] = [];
      for (let n = 2 + Math.floor(r() * 12); n > 0; n--) {
        const x = r();
        let f = x < 0.7 ? `${head}${g.str()}${tail}` : x < 0.85 ? g.openai() : g.value(0);
        if (r() < 0.08) f = g.mutate(f);
        frames.push(f);
      }
      const body = frames.map((f) => `data:${g.pick([" ", "", "  "])}${f}${g.pick(["\n\n", "\r\n\r\n", "\n"])}`).join("") + (r() < 0.5 ? "data: [DONE]\n\n" : "");
      same(body, true);
      if (r() < 0.2) same(g.mutate(body), true);
    }
  });
});

describe("the scanner alone", () => {
  const found: Found = { content: "", usage: false, prompt: 0, completion: 0, template: undefined };
  const asExtracted = (f: Found) => ({ content: f.content, usage: f.usage ? { completion_tokens: f.completion, prompt_tokens: f.prompt } : null });

  test("a document it accepts reads as JSON.parse + take() read it; templates refill the same way", () => {
    const r = rng(3);
    const g = generator(r);
    let accepted = 0;
    let templates = 0;
    const N = 30_000;
    for (let i = 0; i < N; i++) {
      let doc = r() < 0.7 ? g.openai() : g.object(0);
      if (r() < 0.3) doc = g.mutate(doc);
      if (scanDocument(doc, 0, doc.length, found) !== SCAN_OK) continue;
      accepted++;
      const want = extractByParse(doc, false);
      const got = asExtracted(found);
      if (got.content !== want.content || !sameUsage(got.usage, want.usage)) expect({ doc, got }).toEqual({ doc, got: want });
      const t = found.template;
      if (t === undefined) continue;
      templates++;
      for (let k = 0; k < 5; k++) {
        const hole = r() < 0.8 ? g.str() : g.mutate(g.str());
        const next = t.prefix + hole + t.suffix;
        let parsed: ReturnType<typeof extractByParse> | undefined;
        try {
          JSON.parse(next);
          parsed = extractByParse(next, false);
        } catch {
          parsed = undefined; // not a document: the template must not match it
        }
        const matched = matchTemplate(next, 0, next.length, t, found);
        if (parsed === undefined) expect({ next, matched }).toEqual({ next, matched: false });
        else if (matched) {
          const got2 = asExtracted(found);
          if (got2.content !== parsed.content || !sameUsage(got2.usage, parsed.usage)) expect({ next, got: got2 }).toEqual({ next, got: parsed });
        }
      }
    }
    // not vacuous: most valid documents take the fast path, and many offer a template
    expect(accepted).toBeGreaterThan(N * 0.4);
    expect(templates).toBeGreaterThan(N * 0.1);
  });
});
