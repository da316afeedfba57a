import { describe, expect, test } from "bun:test";
import { createUsageEventFilter, withStreamUsage } from "./usage-event";

const enc = new TextEncoder();
const dec = new TextDecoder();
const chunk = (content: string) => `data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":${JSON.stringify(content)}},"finish_reason":null}],"usage":null}\n\n`;
const finish = `data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":null}\n\n`;
const usage = `data: {"id":"c1","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7}}\n\n`;
const done = "data: [DONE]\n\n";
const stream = chunk("Hel") + chunk('lo "usage":{ not a key') + finish + usage + done;

/** Feeds `text` cut at `cuts`, returns what the client gets. */
function through(text: string, cuts: number[]): string {
  const bytes = enc.encode(text);
  const f = createUsageEventFilter();
  let out = "";
  let at = 0;
  for (const c of [...cuts, bytes.length]) {
    out += dec.decode(f.push(bytes.subarray(at, c)));
    at = c;
  }
  return out + dec.decode(f.end());
}

describe("the usage event filter", () => {
  test("removes the usage-only event and nothing else, wherever the stream is cut", () => {
    const want = chunk("Hel") + chunk('lo "usage":{ not a key') + finish + done;
    expect(through(stream, [])).toBe(want);
    const n = enc.encode(stream).length;
    for (let cut = 1; cut < n; cut++) expect(through(stream, [cut])).toBe(want);
    expect(through(stream, Array.from({ length: n - 1 }, (_, i) => i + 1))).toBe(want);
  });

  test("chunks without a usage object pass as the same bytes; CRLF events are understood", () => {
    const f = createUsageEventFilter();
    const plain = enc.encode(chunk("a"));
    expect(f.push(plain)).toBe(plain);
    const crlf = usage.replaceAll("\n", "\r\n") + done.replaceAll("\n", "\r\n");
    expect(dec.decode(f.push(enc.encode(crlf)))).toBe("data: [DONE]\r\n\r\n");
  });

  test("a stream cut inside an event: what was held is handed over at the end, as it came", () => {
    const f = createUsageEventFilter();
    expect(dec.decode(f.push(enc.encode(chunk("a") + "data: {\"partial")))).toBe(chunk("a"));
    expect(dec.decode(f.end())).toBe('data: {"partial');
  });
});

test("withStreamUsage asks for usage unless the request already does, keeping other options", () => {
  expect(withStreamUsage({ model: "m", stream: true })).toEqual({ model: "m", stream: true, stream_options: { include_usage: true } });
  expect(withStreamUsage({ stream_options: { include_obfuscation: false } })).toEqual({ stream_options: { include_obfuscation: false, include_usage: true } });
  expect(withStreamUsage({ stream_options: { include_usage: false } })).toEqual({ stream_options: { include_usage: true } });
  expect(withStreamUsage({ stream_options: { include_usage: true } })).toBeUndefined();
});
