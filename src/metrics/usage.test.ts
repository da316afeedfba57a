import { describe, expect, test } from "bun:test";
import { extract } from "../audit/record";
import { TAIL_BYTES, tailUsage } from "./usage";

const enc = (s: string) => new TextEncoder().encode(s);
/** Splits `s` into chunks of `n` bytes, the way a stream may arrive. */
const chunked = (s: string, n: number) => {
  const b = enc(s);
  const out: Uint8Array[] = [];
  for (let i = 0; i < b.length; i += n) out.push(b.subarray(i, i + n));
  return out;
};

const JSON_REPLY = JSON.stringify({
  id: "chatcmpl-1",
  choices: [{ index: 0, message: { role: "assistant", content: 'He said "usage": {"prompt_tokens": 999} once' } }],
  usage: { prompt_tokens: 9, completion_tokens: 16, total_tokens: 25, prompt_tokens_details: { cached_tokens: 0 }, completion_tokens_details: { reasoning_tokens: 0 } },
  system_fingerprint: "fp_x",
});

function sse(events: unknown[]): string {
  return events.map((e) => `data: ${JSON.stringify(e)}\n\n`).join("") + "data: [DONE]\n\n";
}

describe("tailUsage", () => {
  test("a JSON reply, nested details and a quoted look-alike in the content", () => {
    expect(tailUsage([enc(JSON_REPLY)])).toEqual({ prompt: 9, completion: 16 });
    expect(extract([enc(JSON_REPLY)], false).usage).toEqual({ prompt_tokens: 9, completion_tokens: 16 });
  });

  test("a stream: earlier events carry usage null, the final one the counts", () => {
    const events = [
      ...Array.from({ length: 50 }, (_, i) => ({ choices: [{ index: 0, delta: { content: ` tok${i}` } }], usage: null })),
      { choices: [], usage: { prompt_tokens: 12, completion_tokens: 50, total_tokens: 62 } },
    ];
    const body = sse(events);
    expect(tailUsage([enc(body)])).toEqual({ prompt: 12, completion: 50 });
    // Any split of the bytes into chunks, the usage object itself cut in two included.
    for (const n of [1, 7, 64, 333, 4096]) expect(tailUsage(chunked(body, n))).toEqual({ prompt: 12, completion: 50 });
  });

  test("no usage: a stream without include_usage, or with usage null to the end", () => {
    expect(tailUsage([enc(sse([{ choices: [{ delta: { content: "hi" } }] }]))])).toBeNull();
    expect(tailUsage([enc(sse([{ choices: [], usage: null }]))])).toBeNull();
    expect(tailUsage([])).toBeNull();
    expect(tailUsage([new Uint8Array(0)])).toBeNull();
  });

  test("an embeddings reply has prompt tokens only", () => {
    const reply = JSON.stringify({ object: "list", data: [{ embedding: [0.1, 0.2] }], usage: { prompt_tokens: 4, total_tokens: 4 } });
    expect(tailUsage([enc(reply)])).toEqual({ prompt: 4, completion: 0 });
  });

  test("only the last TAIL_BYTES are read: a long reply with usage at its end works, usage far from the end is not found", () => {
    const long = JSON.stringify({ choices: [{ message: { content: "x".repeat(100_000) } }], usage: { prompt_tokens: 1, completion_tokens: 2 } });
    expect(tailUsage(chunked(long, 1000))).toEqual({ prompt: 1, completion: 2 });
    const early = JSON.stringify({ usage: { prompt_tokens: 1, completion_tokens: 2 }, choices: [{ message: { content: "x".repeat(TAIL_BYTES) } }] });
    expect(tailUsage([enc(early)])).toBeNull();
  });

  test("bytes left in the scratch buffer by a longer reply are never read", () => {
    const long = JSON.stringify({ choices: [{ message: { content: "y".repeat(TAIL_BYTES) } }], usage: { prompt_tokens: 1, completion_tokens: 2 } });
    expect(tailUsage([enc(long)])).toEqual({ prompt: 1, completion: 2 });
    expect(tailUsage([enc('{"a":1}')])).toBeNull();
    expect(tailUsage([enc("{}")])).toBeNull();
    expect(tailUsage([enc(long)])).toEqual({ prompt: 1, completion: 2 });
    expect(tailUsage([enc("x".repeat(TAIL_BYTES - 10))])).toBeNull();
  });

  test("malformed or cut-off usage is no usage", () => {
    expect(tailUsage([enc('{"usage":{"prompt_tokens":')])).toBeNull();
    expect(tailUsage([enc('{"usage":{"prompt_tokens":"9"}}')])).toBeNull();
    expect(tailUsage([enc('{"usage": "none"}')])).toBeNull();
    expect(tailUsage([enc('{"usage" : { "prompt_tokens" : 3 , "completion_tokens" : 4 } }')])).toEqual({ prompt: 3, completion: 4 });
  });

  test("a quoted look-alike after the real usage is skipped: its quotes are escaped", () => {
    const reply = JSON.stringify({ usage: { prompt_tokens: 7, completion_tokens: 8 }, note: 'x "usage": {"prompt_tokens": 999, "completion_tokens": 1}' });
    expect(tailUsage([enc(reply)])).toEqual({ prompt: 7, completion: 8 });
  });

  test("a reply whose bytes end inside a string with braces in it", () => {
    const reply = JSON.stringify({ usage: { prompt_tokens: 5, completion_tokens: 6, note: "a } b { c \" d" } });
    expect(tailUsage([enc(reply)])).toEqual({ prompt: 5, completion: 6 });
  });
});
