import { describe, expect, test } from "bun:test";
import { F, FIELDS, HandOffWriter, indexHandOffs, readHandOffs } from "./handoff";
import type { HandOff } from "./record";

const enc = new TextEncoder();

function sample(i: number, over: Partial<HandOff> = {}): HandOff {
  return {
    time: 1_795_000_000_123 + i,
    requestId: `req_${i}`,
    keyId: i % 2 ? "key_1" : null,
    tenant: i % 2 ? "tenant-ü" : null,
    route: "/v1/chat/completions",
    model: "meta-llama/Llama-3.1-8B",
    upstream: null,
    status: 200 + i,
    refusal: i % 3 === 0 ? { stage: "auth", code: "invalid_api_key" } : null,
    totalUs: 1234.5,
    upstreamFirstByteUs: i % 2 ? null : 999.25,
    request: [enc.encode(`{"n":${i}}`)],
    response: [enc.encode("data: a\n\n"), new Uint8Array(0), enc.encode("data: [DONE]\n\n")],
    streamed: i % 2 === 1,
    waf: i % 4 === 1 ? [{ rule: "pii.email", action: "redact", param: "messages[0].content" }, { rule: "injection.ignore_previous", action: "flag", param: "messages[1].content[0].text" }] : [],
    rateLimit: i % 5 === 0 ? null : i % 5 === 1 ? { outcome: "limited", reason: "tokens", subject: "tenant:ü" } : { outcome: "allowed", reason: null, subject: null },
    ...over,
  };
}

/** A body as the batch carries it: the chunks back to back, as one chunk (none when empty). */
function flat(chunks: Uint8Array[]): Uint8Array[] {
  const total = chunks.reduce((n, c) => n + c.length, 0);
  if (total === 0) return [];
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return [out];
}
const carried = (h: HandOff): HandOff => ({ ...h, request: flat(h.request), response: flat(h.response) });

describe("hand-off batches", () => {
  test("round-trip every field, nulls, empty and multi-chunk bodies (joined), non-ASCII text", () => {
    const w = new HandOffWriter(64);
    const input = Array.from({ length: 20 }, (_, i) => sample(i));
    input.push(sample(20, { request: [], response: [new Uint8Array(0), new Uint8Array(0)] }));
    for (const h of input) w.write(h);
    const { buffer, length, count } = w.take();
    expect(count).toBe(21);
    const read = readHandOffs(buffer, length);
    expect(read).toEqual(input.map(carried));
    expect(read[0].response).toEqual([enc.encode("data: a\n\ndata: [DONE]\n\n")]);
  });

  test("the index points at every field readHandOffs reads", () => {
    const w = new HandOffWriter(64);
    const input = Array.from({ length: 12 }, (_, i) => sample(i));
    for (const h of input) w.write(h);
    const { buffer, length } = w.take();
    const view = new DataView(buffer);
    const bytes = new Uint8Array(buffer);
    const index = { at: new Int32Array(FIELDS), count: 0 };
    indexHandOffs(view, length, index);
    indexHandOffs(view, length, index); // appends: the same batch twice
    expect(index.count).toBe(24);
    const str = (p: number) => {
      const n = view.getUint32(p, true);
      return n === 0xffffffff ? null : new TextDecoder().decode(bytes.subarray(p + 4, p + 4 + n));
    };
    const read = readHandOffs(buffer, length);
    for (let r = 0; r < 24; r++) {
      const at = (f: number) => index.at[r * FIELDS + f];
      const h = read[r % 12];
      expect(view.getFloat64(at(F.start), true)).toBe(h.time);
      expect(str(at(F.requestId))).toBe(h.requestId);
      expect(str(at(F.tenant))).toBe(h.tenant);
      expect(str(at(F.refusalCode))).toBe(h.refusal?.code ?? null);
      expect(view.getUint32(at(F.waf), true)).toBe(h.waf.length);
      expect(str(at(F.rateSubject))).toBe(h.rateLimit?.subject ?? null);
      expect(str(at(F.response))).toBe(new TextDecoder().decode(flat(h.response)[0] ?? new Uint8Array(0)));
    }
    expect(() => indexHandOffs(view, length - 1, { at: new Int32Array(0), count: 0 })).toThrow("damaged");
  });

  test("bodies larger than the initial buffer grow it; the writer starts afresh after take()", () => {
    const w = new HandOffWriter(16);
    const big = crypto.getRandomValues(new Uint8Array(100_000));
    w.write(sample(1, { request: [big] }));
    const first = w.take();
    expect(readHandOffs(first.buffer, first.length)[0].request[0]).toEqual(big);
    w.write(sample(2));
    const second = w.take();
    expect(readHandOffs(second.buffer, second.length)).toEqual([carried(sample(2))]);
  });

  test("the batch survives a transfer to a worker-like structured clone", () => {
    const w = new HandOffWriter();
    w.write(sample(4));
    const { buffer, length } = w.take();
    const moved = structuredClone(buffer, { transfer: [buffer] });
    expect(buffer.byteLength).toBe(0); // transferred, not copied
    expect(readHandOffs(moved, length)).toEqual([carried(sample(4))]);
  });
});
