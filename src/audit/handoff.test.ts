import { describe, expect, test } from "bun:test";
import { HandOffWriter, readHandOffs } from "./handoff";
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

describe("hand-off batches", () => {
  test("round-trip every field, nulls, empty and multi-chunk bodies, non-ASCII text", () => {
    const w = new HandOffWriter(64);
    const input = Array.from({ length: 20 }, (_, i) => sample(i));
    for (const h of input) w.write(h);
    const { buffer, length, count } = w.take();
    expect(count).toBe(20);
    expect(readHandOffs(buffer, length)).toEqual(input);
  });

  test("bodies larger than the initial buffer grow it; the writer starts afresh after take()", () => {
    const w = new HandOffWriter(16);
    const big = crypto.getRandomValues(new Uint8Array(100_000));
    w.write(sample(1, { request: [big] }));
    const first = w.take();
    expect(readHandOffs(first.buffer, first.length)[0].request[0]).toEqual(big);
    w.write(sample(2));
    const second = w.take();
    expect(readHandOffs(second.buffer, second.length)).toEqual([sample(2)]);
  });

  test("the batch survives a transfer to a worker-like structured clone", () => {
    const w = new HandOffWriter();
    w.write(sample(4));
    const { buffer, length } = w.take();
    const moved = structuredClone(buffer, { transfer: [buffer] });
    expect(buffer.byteLength).toBe(0); // transferred, not copied
    expect(readHandOffs(moved, length)).toEqual([sample(4)]);
  });
});
