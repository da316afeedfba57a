import { describe, expect, test } from "bun:test";
import { createSseParser } from "./sse";

type Ev = [string, string];

function parseAll(pieces: (string | Uint8Array)[]): Ev[] {
  const events: Ev[] = [];
  const p = createSseParser((e, d) => events.push([e, d]));
  for (const piece of pieces) p.push(piece);
  p.end();
  return events;
}

const enc = new TextEncoder();

/** Every way of cutting `bytes` in two, plus one byte at a time. */
function splits(bytes: Uint8Array): Uint8Array[][] {
  const out: Uint8Array[][] = [];
  for (let i = 0; i <= bytes.length; i++) out.push([bytes.subarray(0, i), bytes.subarray(i)]);
  out.push(Array.from(bytes, (_, i) => bytes.subarray(i, i + 1)));
  return out;
}

describe("SSE parser", () => {
  test("named events, default name, multi-line data, comments", () => {
    const events = parseAll([": keep-alive\n\nevent: ping\ndata: {\"type\":\"ping\"}\n\ndata: a\ndata: b\n\n"]);
    expect(events).toEqual([["ping", '{"type":"ping"}'], ["message", "a\nb"]]);
  });

  test("comments go to the optional comment handler, even between an event's lines", () => {
    const comments: string[] = [];
    const events: Ev[] = [];
    const p = createSseParser((e, d) => events.push([e, d]), (c) => comments.push(c));
    p.push(": keep-alive\n\ndata: a\n:mid\ndata: b\n\n");
    p.end();
    expect(comments).toEqual([" keep-alive", "mid"]);
    expect(events).toEqual([["message", "a\nb"]]);
  });

  test("LF, CRLF and lone CR line endings", () => {
    expect(parseAll(["data: x\n\n"])).toEqual([["message", "x"]]);
    expect(parseAll(["data: x\r\n\r\n"])).toEqual([["message", "x"]]);
    expect(parseAll(["data: x\r\rdata: y\r\r"])).toEqual([["message", "x"], ["message", "y"]]);
  });

  test("only one leading space of a value is stripped; a field without colon is empty", () => {
    expect(parseAll(["data:  two\n\ndata:none\n\ndata\n\n"])).toEqual([["message", " two"], ["message", "none"], ["message", ""]]);
  });

  test("unknown fields and event-only blocks dispatch nothing", () => {
    expect(parseAll(["id: 7\nretry: 10\n\nevent: lonely\n\ndata: z\n\n"])).toEqual([["message", "z"]]);
  });

  test("an unterminated last event is still delivered at end()", () => {
    expect(parseAll(["data: tail"])).toEqual([["message", "tail"]]);
    expect(parseAll(["data: tail\n"])).toEqual([["message", "tail"]]);
  });

  test("a leading byte-order mark is ignored", () => {
    expect(parseAll([new Uint8Array([0xef, 0xbb, 0xbf, ...enc.encode("data: x\n\n")])])).toEqual([["message", "x"]]);
  });

  test("the same events whatever byte the input is split at (LF, CRLF, CR, multi-byte UTF-8)", () => {
    const text = 'event: content_block_delta\ndata: {"text":"héllo → 世界 🎉"}\n\n: c\r\nevent: x\r\ndata: 1\r\ndata: 2\r\n\r\ndata: cr\r\r';
    const bytes = enc.encode(text);
    const expected = parseAll([text]);
    expect(expected).toEqual([["content_block_delta", '{"text":"héllo → 世界 🎉"}'], ["x", "1\n2"], ["message", "cr"]]);
    for (const pieces of splits(bytes)) expect(parseAll(pieces)).toEqual(expected);
  });

  test("a CR at the end of one chunk and LF at the start of the next is one line end", () => {
    expect(parseAll(["data: a\r", "\n\r", "\ndata: b\r", "\r"])).toEqual([["message", "a"], ["message", "b"]]);
  });

  test("long lines arriving in many small pieces are not rescanned from their start", () => {
    const big = "x".repeat(1_000_000);
    const text = `data: ${big}\n\n`;
    const pieces: string[] = [];
    for (let i = 0; i < text.length; i += 16) pieces.push(text.slice(i, i + 16));
    const t0 = performance.now();
    const events = parseAll(pieces);
    expect(events[0][1].length).toBe(1_000_000);
    // Rescanning 1 MB from the start at every 16-byte piece takes seconds; a linear scan, milliseconds.
    expect(performance.now() - t0).toBeLessThan(1000);
  });
});
