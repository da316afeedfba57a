import { describe, expect, test } from "bun:test";
import { analyse, canonicalJson, decode, encode, extract, toRecord, type HandOff } from "./record";

/** Shannon entropy in TS, standing in for the Rust core in these unit tests. */
function shannon(s: ArrayLike<number>): number {
  const counts = new Map<number, number>();
  for (let i = 0; i < s.length; i++) counts.set(s[i], (counts.get(s[i]) ?? 0) + 1);
  let h = 0;
  for (const c of counts.values()) h -= (c / s.length) * Math.log2(c / s.length);
  return h;
}
const entropy = { byteEntropy: (spans: Uint8Array[]) => Float64Array.from(spans, shannon), tokenEntropy: (spans: Uint32Array[]) => Float64Array.from(spans, shannon) };

const enc = new TextEncoder();
const chat = { choices: [{ index: 0, message: { role: "assistant", content: "Hello there, how can I help?" } }], usage: { prompt_tokens: 5, completion_tokens: 7 } };
const sse = [
  'data: {"choices":[{"delta":{"role":"assistant","content":""}}]}\n\n',
  'data: {"choices":[{"delta":{"content":"Hel"}}]}\n\ndata: {"choices":[{"delta":{"con',
  'tent":"lo"}}]}\n\n',
  'data: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2}}\n\ndata: [DONE]\n\n',
].map((s) => enc.encode(s));

function handOff(over: Partial<HandOff> = {}): HandOff {
  return {
    time: 1_795_000_000_000,
    requestId: "req_1",
    keyId: null,
    tenant: null,
    route: "/v1/chat/completions",
    model: "m",
    upstream: "up",
    status: 200,
    refusal: null,
    totalUs: 1234.4,
    upstreamFirstByteUs: 1000.6,
    request: [enc.encode('{"model":"m"}')],
    response: [enc.encode(JSON.stringify(chat))],
    streamed: false,
    waf: [],
    rateLimit: null,
    ...over,
  };
}

describe("canonical encoding", () => {
  test("sorts keys at every level, no whitespace, integers only", () => {
    expect(canonicalJson({ b: 1, a: { d: [2, { z: null, y: "é\n" }], c: true } })).toBe('{"a":{"c":true,"d":[2,{"y":"é\\n","z":null}]},"b":1}');
    expect(() => canonicalJson({ x: 1.5 })).toThrow("integers only");
  });

  test("records are built canonical: the fast encoding equals the sorting one, for every shape", () => {
    const marked = handOff({
      waf: [{ rule: "secret.aws_access_key", action: "redact", param: "messages[0].content" }],
      rateLimit: { outcome: "limited", reason: "tokens", subject: "tenant:acme" },
    });
    for (const h of [handOff(), marked, handOff({ refusal: { stage: "auth", code: "x" }, upstreamFirstByteUs: null, response: [] })]) {
      const r = toRecord(h, 7, entropy);
      expect(new TextDecoder().decode(encode(r))).toBe(canonicalJson(r));
    }
    const bytes = encode(toRecord(handOff(), 7, entropy));
    const reordered = Object.fromEntries(Object.entries(decode(bytes)).reverse());
    expect(canonicalJson(reordered)).toBe(new TextDecoder().decode(bytes));
    expect(new TextDecoder().decode(bytes)).toStartWith('{"analysis":{"content_bytes":28,');
  });

  test("records carry hashes of the bodies, never the bodies", () => {
    const r = toRecord(handOff({ request: [enc.encode('{"model":"m","messages":[{"content":"my secret"}]}')] }), 0, entropy);
    const text = new TextDecoder().decode(encode(r));
    expect(text).not.toContain("my secret");
    expect(r.request_sha256).toBe(new Bun.CryptoHasher("sha256").update('{"model":"m","messages":[{"content":"my secret"}]}').digest("hex"));
    expect(r.latency_us).toEqual({ total: 1234, upstream_first_byte: 1001 });
  });
});

describe("reply extraction", () => {
  test("JSON replies and SSE streams split anywhere give content and usage", () => {
    expect(extract([enc.encode(JSON.stringify(chat))], false)).toEqual({ content: "Hello there, how can I help?", usage: { completion_tokens: 7, prompt_tokens: 5 } });
    expect(extract(sse, true)).toEqual({ content: "Hello", usage: { completion_tokens: 2, prompt_tokens: 3 } });
  });

  test("an unreadable reply yields nothing but does not throw", () => {
    expect(extract([enc.encode("<html>bad gateway</html>")], false)).toEqual({ content: "", usage: null });
  });
});

describe("response analysis", () => {
  test("flags degenerate repetition and long random-looking spans, not prose", () => {
    expect(analyse("the the the ".repeat(3), entropy)!.flags).toEqual([]); // too short to judge
    expect(analyse("a".repeat(200), entropy)!.flags).toEqual(["degenerate_repetition"]);
    const loop = analyse("the ".repeat(40), entropy)!; // 2 bits per byte, but one token over and over
    expect(loop.entropy_mbits).toBeGreaterThan(1000);
    expect(loop.token_entropy_mbits).toBe(0);
    expect(loop.flags).toEqual(["degenerate_repetition"]);
    const random = Buffer.from(crypto.getRandomValues(new Uint8Array(600))).toString("base64");
    expect(analyse(`here you go: ${random}`, entropy)!.flags).toEqual(["high_entropy_span"]);
    const prose = "Warden sits between applications and model providers and records what passed through it. ".repeat(5);
    const a = analyse(prose, entropy)!;
    expect(a.flags).toEqual([]);
    expect(a.entropy_mbits).toBeGreaterThan(3500);
    expect(a.entropy_mbits).toBeLessThan(4600);
    expect(analyse("", entropy)).toBeNull();
  });
});
