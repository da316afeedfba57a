import { describe, expect, test } from "bun:test";
import { GatewayError } from "../errors";
import { readBody } from "./index";

function chunked(parts: Uint8Array[], onPull?: () => void): Request {
  let i = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(c) {
      onPull?.();
      if (i < parts.length) c.enqueue(parts[i++]);
      else c.close();
    },
  });
  return new Request("http://x/v1/chat/completions", { method: "POST", body });
}

describe("readBody", () => {
  test("returns the whole body across chunks", async () => {
    const body = await readBody(chunked([new Uint8Array([1, 2]), new Uint8Array([3])]), 10);
    expect([...body]).toEqual([1, 2, 3]);
  });

  test("refuses a declared Content-Length over the cap before reading", async () => {
    const req = new Request("http://x/", { method: "POST", body: "x".repeat(20), headers: { "content-length": "20" } });
    const err = await readBody(req, 10).catch((e) => e);
    expect(err).toBeInstanceOf(GatewayError);
    expect(err.status).toBe(413);
    expect(err.code).toBe("request_too_large");
  });

  test("stops reading a streamed body as soon as it passes the cap", async () => {
    let pulls = 0;
    const parts = Array.from({ length: 100 }, () => new Uint8Array(8));
    const err = await readBody(chunked(parts, () => pulls++), 20).catch((e) => e);
    expect(err.status).toBe(413);
    expect(pulls).toBeLessThan(10); // 3 chunks pass the cap; the rest is never pulled
  });
});
