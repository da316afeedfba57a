// The parsing translator on an OpenAI-compatible upstream's SSE bytes, as the forwarder drives
// it: the client must see the same reply however the bytes were split, and a stream cut short
// must end in an error event, never look complete.
import { describe, expect, test } from "bun:test";
import { createSseParser } from "../providers/common/sse.ts";
import type { StreamTranslator } from "../providers/common/transform.ts";
import type { ChatCompletionChunk } from "./chunk.ts";
import { createParsingTranslator, parserFor, type OutputParser } from "./index.ts";
import { mergeDeltas } from "./message.ts";
import { ALL_CASES, type Case } from "./test-cases.ts";
import { cutAt, randomCuttings } from "./test-support.ts";
import type { Delta, ParsedMessage, ParserOptions, ToolCallFormat } from "./types.ts";

const enc = new TextEncoder();
const HEAD = { id: "chatcmpl-7", object: "chat.completion.chunk", created: 1700000000, model: "Qwen/Qwen3-8B" };
const USAGE = { prompt_tokens: 31, total_tokens: 57, completion_tokens: 26 };

/** A parser whose tool-call ids are call_0, call_1, … per translator or message, so runs compare. */
function parserOf(format: ToolCallFormat, options: Omit<ParserOptions, "toolCalls"> = {}): OutputParser {
  let n = 0;
  const base = parserFor(format, options);
  return {
    ...base,
    chunks() {
      n = 0;
      return parserFor(format, { ...options, newToolCallId: () => `call_${n++}` }).chunks();
    },
    sse() {
      return createParsingTranslator(this);
    },
    message(text) {
      let m = 0;
      return parserFor(format, { ...options, newToolCallId: () => `call_${m++}` }).message(text);
    },
  };
}

const frame = (o: unknown): string => `data: ${JSON.stringify(o)}\n\n`;

const choice = (delta: object, finish_reason: string | null = null) => ({ index: 0, delta, logprobs: null, finish_reason, stop_reason: null });

/** The start of a reply as vLLM streams it: the role chunk, then one token per chunk. */
const vllmTokens = (tokens: readonly string[]): string =>
  frame({ ...HEAD, choices: [choice({ role: "assistant", content: "" })] }) + tokens.map((content) => frame({ ...HEAD, choices: [choice({ content })] })).join("");

/** A whole reply as vLLM streams it (stream_options.include_usage): tokens, finish chunk, usage chunk, [DONE]. */
const vllmStream = (tokens: readonly string[], finish = "stop"): string =>
  vllmTokens(tokens) + frame({ ...HEAD, choices: [choice({ content: "" }, finish)] }) + frame({ ...HEAD, choices: [], usage: USAGE }) + "data: [DONE]\n\n";

type Event = { event: string; data: string } | { comment: string };

function parseEvents(text: string): Event[] {
  const events: Event[] = [];
  const p = createSseParser(
    (event, data) => events.push({ event, data }),
    (comment) => events.push({ comment }),
  );
  p.push(text);
  p.end();
  return events;
}

/** The chat chunks among the client's events. */
function chunksOf(text: string): ChatCompletionChunk[] {
  const out: ChatCompletionChunk[] = [];
  for (const e of parseEvents(text)) {
    if (!("data" in e) || e.data === "[DONE]") continue;
    const v = JSON.parse(e.data);
    if (v.object === "chat.completion.chunk") out.push(v);
  }
  return out;
}

const deltasOf = (chunks: ChatCompletionChunk[]): Delta[] => chunks.flatMap((c) => (c.choices ?? []).map((ch) => ch.delta as Delta));
const mergedOf = (text: string): ParsedMessage => mergeDeltas(deltasOf(chunksOf(text)));
const finishesOf = (text: string) => chunksOf(text).flatMap((c) => (c.choices ?? []).filter((ch) => ch.finish_reason != null).map((ch) => ch.finish_reason));

/** Everything the translator returns for `pieces`, end() included. */
function run(t: StreamTranslator, pieces: Iterable<string | Uint8Array>): string {
  let out = "";
  for (const piece of pieces) out += t.push(piece);
  return out + t.end();
}

const QWEN_TOKENS = [
  "<think>", "\n", "The", " user", " wants", " the", " weather", ".", "\n", "</think>", "\n\n",
  "<tool_call>", "\n", '{"', "name", '":', ' "', "get", "_weather", '",', ' "', "arguments", '":', ' {"', "city", '":', ' "', "Paris", '"}}', "\n", "</tool_call>",
];

describe("a Qwen3 reply through vLLM", () => {
  const upstream = vllmStream(QWEN_TOKENS);
  const out = run(parserOf("hermes").sse(), [upstream]);
  const events = parseEvents(out);
  const chunks = chunksOf(out);

  test("reasoning and the call land in their fields, stop becomes tool_calls", () => {
    expect(mergedOf(out)).toEqual({
      content: null,
      reasoning_content: "\nThe user wants the weather.\n",
      tool_calls: [{ id: "call_0", type: "function", function: { name: "get_weather", arguments: '{"city": "Paris"}' } }],
    });
    // Reasoning streams token by token; the call comes whole, in one delta.
    expect(deltasOf(chunks).filter((d) => d.reasoning_content !== undefined).length).toBeGreaterThan(5);
    const withCalls = deltasOf(chunks).filter((d) => d.tool_calls !== undefined);
    expect(withCalls).toHaveLength(1);
    expect(withCalls[0].tool_calls).toEqual([{ index: 0, id: "call_0", type: "function", function: { name: "get_weather", arguments: '{"city": "Paris"}' } }]);
    expect(finishesOf(out)).toEqual(["tool_calls"]);
  });

  test("the role chunk leads, the usage chunk passes unchanged, [DONE] ends it", () => {
    expect(chunks[0].choices![0].delta).toEqual({ role: "assistant" });
    const dataEvents = events.filter((e): e is { event: string; data: string } => "data" in e);
    expect(dataEvents.at(-1)!.data).toBe("[DONE]");
    expect(dataEvents.at(-2)!.data).toBe(JSON.stringify({ ...HEAD, choices: [], usage: USAGE }));
    expect(out.endsWith(`usage":${JSON.stringify(USAGE)}}\n\ndata: [DONE]\n\n`)).toBe(true);
  });

  test("chunks whose text was held back are not sent; every sent chunk says something", () => {
    const upstreamChunks = parseEvents(upstream).length - 1;
    expect(chunks.length).toBeLessThan(upstreamChunks);
    for (const c of chunks) {
      const says = c.usage != null || c.choices!.some((ch) => ch.finish_reason != null || Object.keys(ch.delta ?? {}).length > 0);
      expect(says).toBe(true);
    }
    // Every id, model and stop_reason of the upstream's chunks is kept.
    for (const c of chunks) expect(c).toMatchObject(HEAD);
    expect(chunks[1].choices![0]).toHaveProperty("stop_reason", null);
  });
});

describe("bytes split anywhere", () => {
  // Multi-byte characters in content, reasoning and arguments, so cuts land inside them.
  const tokens = ["<think>", "考え", "る…", "</think>", "答え", "は", "🎉", "。", "<tool_call>", '{"name": "say", ', '"arguments": {"text": "こんにちは 🌍"}}', "</tool_call>"];
  const lf = vllmStream(tokens);
  const expected = run(parserOf("hermes").sse(), [lf]);

  test("the whole stream parses as it should", () => {
    expect(mergedOf(expected)).toEqual({
      content: "答えは🎉。",
      reasoning_content: "考える…",
      tool_calls: [{ id: "call_0", type: "function", function: { name: "say", arguments: '{"text": "こんにちは 🌍"}' } }],
    });
    expect(finishesOf(expected)).toEqual(["tool_calls"]);
  });

  test("cut in two at every byte, and one byte at a time: the same output", () => {
    const bytes = enc.encode(lf);
    const p = parserOf("hermes");
    for (let i = 0; i <= bytes.length; i++) {
      const out = run(p.sse(), [bytes.subarray(0, i), bytes.subarray(i)]);
      if (out !== expected) expect({ cut: i, merged: mergedOf(out), out }).toEqual({ cut: i, merged: mergedOf(expected), out: expected });
    }
    const oneByOne = run(p.sse(), Array.from(bytes, (_, i) => bytes.subarray(i, i + 1)));
    expect(mergedOf(oneByOne)).toEqual(mergedOf(expected));
    expect(oneByOne).toBe(expected);
  });

  test("CRLF line endings, cut in two at every byte: the same output", () => {
    const bytes = enc.encode(lf.replaceAll("\n", "\r\n"));
    const p = parserOf("hermes");
    for (let i = 0; i <= bytes.length; i++) {
      const out = run(p.sse(), [bytes.subarray(0, i), bytes.subarray(i)]);
      if (out !== expected) expect({ cut: i, out }).toEqual({ cut: i, out: expected });
    }
  });

  test("string pieces, at random", () => {
    const p = parserOf("hermes");
    for (const cuts of randomCuttings(lf, 50, 42, 40)) expect(run(p.sse(), cutAt(lf, cuts))).toBe(expected);
  });
});

describe("every reply of test-cases.ts, token by token", () => {
  const check = (c: Case, tokens: readonly string[]) => {
    const p = parserOf(c.options.toolCalls ?? "none", c.options);
    const out = run(p.sse(), [vllmStream(tokens)]);
    const whole = p.message(c.text);
    expect(mergedOf(out)).toEqual(whole);
    expect(finishesOf(out)).toEqual([whole.tool_calls.length > 0 ? "tool_calls" : "stop"]);
    expect(out.endsWith("data: [DONE]\n\n")).toBe(true);
  };
  for (const [group, cases] of ALL_CASES) {
    test(group, () => {
      for (const c of cases) {
        check(c, Array.from(c.text)); // one code point per chunk
        for (const cuts of randomCuttings(c.text, 3, c.text.length, 6)) check(c, cutAt(c.text, cuts));
      }
    });
  }
});

describe("the end of the stream", () => {
  const cut = vllmTokens(["Hello ", "<tool_call>", '{"name": "f"']);

  test("cut before [DONE]: end() sends what was held, then an error event; done", () => {
    const t = parserOf("hermes").sse();
    const pushed = t.push(cut);
    expect(mergedOf(pushed).content).toBe("Hello ");
    expect(t.done).toBe(false);
    const closing = t.end();
    expect(t.done).toBe(true);
    const events = parseEvents(closing);
    expect(events).toHaveLength(2);
    expect(mergedOf(closing).content).toBe('<tool_call>{"name": "f"');
    expect(chunksOf(closing)[0]).toMatchObject({ ...HEAD, choices: [{ index: 0, finish_reason: null }] });
    expect(JSON.parse((events[1] as { data: string }).data)).toEqual({
      error: { message: "The upstream stream ended before the reply was complete.", type: "upstream_error", param: null, code: "upstream_stream_interrupted" },
    });
    expect(t.push(frame({ ...HEAD, choices: [{ index: 0, delta: { content: "late" }, finish_reason: null }] }))).toBe("");
    expect(t.end()).toBe("");
  });

  test("cut after the finish chunk: only the error event", () => {
    const t = parserOf("hermes").sse();
    t.push(vllmStream(["Hi"]).replace("data: [DONE]\n\n", ""));
    const closing = t.end();
    expect(parseEvents(closing)).toEqual([{ event: "message", data: expect.stringContaining('"code":"upstream_stream_interrupted"') }]);
  });

  test("an empty body ends in the error event", () => {
    const t = parserOf("none").sse();
    expect(t.end()).toContain("upstream_stream_interrupted");
    expect(t.done).toBe(true);
  });

  test("[DONE] first sends what was held; input after it is ignored", () => {
    const t = parserOf("hermes").sse();
    const open = frame({ ...HEAD, choices: [{ index: 0, delta: { content: "ok <tool_call>{" }, finish_reason: null }] });
    const more = frame({ ...HEAD, choices: [{ index: 0, delta: { content: "late" }, finish_reason: null }] });
    const out = t.push(`${open}data: [DONE]\n\n${more}: keep-alive\n\n`);
    expect(t.done).toBe(true);
    const events = parseEvents(out);
    expect(events.map((e) => ("data" in e ? e.data === "[DONE]" : false))).toEqual([false, false, true]);
    expect(mergedOf(out).content).toBe("ok <tool_call>{");
    expect(t.push(more)).toBe("");
    expect(t.push("data: [DONE]\n\n")).toBe("");
    expect(t.end()).toBe("");
  });

  test("a [DONE] without its blank line still ends the stream properly", () => {
    const t = parserOf("none").sse();
    expect(t.push(`${frame({ ...HEAD, choices: [{ index: 0, delta: { content: "x" }, finish_reason: "stop" }] })}data: [DONE]`)).toContain('"content":"x"');
    expect(t.done).toBe(false);
    expect(t.end()).toBe("data: [DONE]\n\n");
    expect(t.done).toBe(true);
  });

  test("held text of every unfinished choice (n = 2) comes before the error event", () => {
    const t = parserOf("hermes").sse();
    t.push(frame({ ...HEAD, choices: [{ index: 0, delta: { content: "a<tool_c" }, finish_reason: null }] }));
    t.push(frame({ ...HEAD, choices: [{ index: 1, delta: { content: "b<thi" }, finish_reason: null }] }));
    const closing = t.end();
    const held = chunksOf(closing)[0].choices!.map((c) => [c.index, c.delta]);
    expect(held).toEqual([[0, { content: "<tool_c" }], [1, { content: "<thi" }]]);
    expect(closing).toContain("upstream_stream_interrupted");
  });
});

describe("what passes through", () => {
  test("comments, error events, data that is not JSON, JSON that is not a chat chunk", () => {
    const t = parserOf("hermes").sse();
    const input = [
      ": keep-alive\n\n",
      'data: {"error":{"message":"boom","type":"internal_error","param":null,"code":500}}\n\n',
      "data: hello <think> world\n\n",
      'data: {"object":"text_completion","choices":[{"index":0,"text":"<think>x"}]}\n\n',
      "data: [1,2]\n\n",
      ":\n\n",
    ];
    for (const e of input) expect(t.push(e)).toBe(e);
  });

  test("named events keep their name and data; multi-line data keeps its lines", () => {
    const t = parserOf("hermes").sse();
    const named = 'event: ping\ndata: {"choices":[{"index":0,"delta":{"content":"<think>"}}]}\n\n';
    expect(t.push(named)).toBe(named);
    expect(t.push("data: line one\ndata:  two\n\n")).toBe("data: line one\ndata:  two\n\n");
    expect(t.push("event: status\r\ndata: a\r\ndata: b\r\n\r\n")).toBe("event: status\ndata: a\ndata: b\n\n");
  });

  test("after an upstream error event, end() adds no second error", () => {
    const t = parserOf("hermes").sse();
    t.push(frame({ ...HEAD, choices: [{ index: 0, delta: { content: "Hi" }, finish_reason: null }] }));
    const err = 'data: {"error":{"message":"out of memory","type":"InternalServerError","param":null,"code":500}}\n\n';
    expect(t.push(err)).toBe(err);
    expect(t.end()).toBe("");
    expect(t.done).toBe(true);
  });

  test("a held-back chunk is dropped unless it carries a finish_reason, usage, logprobs or another field", () => {
    const held = (extra: object, choiceExtra: object = {}) => frame({ ...HEAD, ...extra, choices: [{ index: 0, delta: { content: "<tool_" }, logprobs: null, finish_reason: null, ...choiceExtra }] });
    expect(parserOf("hermes").sse().push(held({}))).toBe("");
    expect(parserOf("hermes").sse().push(held({ usage: null }, { stop_reason: null }))).toBe("");
    expect(parserOf("hermes").sse().push(held({ system_fingerprint: "fp_1", service_tier: "default" }))).toBe("");
    const keep = [held({ usage: USAGE }), held({}, { logprobs: { content: [] } }), held({}, { token_ids: [27, 14172] }), held({ prompt_token_ids: [1, 2] })];
    for (const k of keep) {
      const out = parserOf("hermes").sse().push(k);
      expect(chunksOf(out)).toHaveLength(1);
      expect(chunksOf(out)[0].choices![0].delta).toEqual({});
    }
    const finishing = parserOf("hermes").sse().push(held({}, { finish_reason: "length" }));
    expect(chunksOf(finishing)[0].choices![0]).toMatchObject({ finish_reason: "length", delta: { content: "<tool_" } });
  });

  test("an upstream that parses tool calls itself is left alone", () => {
    const t = parserOf("hermes").sse();
    const native = frame({ ...HEAD, choices: [{ index: 0, delta: { tool_calls: [{ index: 0, id: "call_up", type: "function", function: { name: "f", arguments: "{}" } }] }, finish_reason: null }] });
    expect(t.push(native)).toBe(native);
  });
});

describe("the API", () => {
  test("the JSDoc example holds", () => {
    const t = createParsingTranslator(parserFor("hermes"));
    expect(t.push('data: {"object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"<think>hm</think>Hi"},"finish_reason":null}]}\n\n')).toBe(
      'data: {"object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"Hi","reasoning_content":"hm"},"finish_reason":null}]}\n\n',
    );
    expect(t.push("data: [DONE]\n\n")).toBe("data: [DONE]\n\n");
    expect(t.done).toBe(true);
    expect(t.end()).toBe("");
  });

  test("parserFor(...).sse() gives each stream a fresh translator", () => {
    const p = parserFor("hermes", { reasoning: { startsInside: true } });
    const a = p.sse();
    const b = p.sse();
    const chunk = (content: string) => frame({ ...HEAD, choices: [{ index: 0, delta: { content }, finish_reason: null }] });
    expect(mergedOf(a.push(chunk("thinking")))).toEqual({ content: null, reasoning_content: "thinking", tool_calls: [] });
    expect(mergedOf(b.push(chunk("</think>Hi")))).toEqual({ content: "Hi", reasoning_content: null, tool_calls: [] });
    a.push("data: [DONE]\n\n");
    expect(a.done).toBe(true);
    expect(b.done).toBe(false);
  });
});
