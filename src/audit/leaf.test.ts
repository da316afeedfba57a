/**
 * The worker's leaf builder against the definition of a leaf, encode(toRecord(h)) of the record as
 * the worker reads it back from the batch: byte for byte, over generated records of every shape.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadCore, type NativeCore } from "../native";
import { HandOffWriter, readHandOffs } from "./handoff";
import { LeafBuilder, PHASES, WordIds } from "./leaf";
import { canonicalJson, decode, encode, toRecord, wordTokens, type HandOff } from "./record";

let dir: string;
let core: NativeCore;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "warden-leaf-"));
  core = await loadCore(dir);
});
afterAll(() => {
  core.close();
  rmSync(dir, { recursive: true, force: true });
});

const enc = new TextEncoder();
const dec = new TextDecoder();

function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const STRINGS = ["", "a", "req_0123456789abcdef", "/v1/chat/completions", "mock-gpt", "tenant-ü", "ключ", "😀", "\ud800", "\udc00x", '"quoted"', "back\\slash", "nl\nx", "\u0000\u001f\u007f", "unit\u001fsep", "bell\u0007", "\b\f", "\t", "\u2028\u2029", "tab\there", "é", "~ !#$%&'()*+,-./:;<=>?@[]^_`{|}"];
const NUMBERS = [0, -0, 1, 1.5, 2.5, -2.5, 0.49999999999999994, 1234.5, 1e21, 1.7976931348623157e308, -7, Number.NaN, Infinity, -Infinity, 2 ** 31, 2 ** 31 - 1, 2 ** 53, 1_795_000_000_123, 1_795_000_000_123.25, 9.999, 4294967296];
const WORDS = ["the", "tok", "Hello", "world", ",", ".", "é", "日本", "😀", "\n", "  ", "\t", "\r", "\u000b", "\u000c", "\u0001", "a1b2", "x", "Z9", "@", "[", "`", "{", "/", ":", "\u007f"];

function generator(r: () => number) {
  const pick = <T,>(xs: readonly T[]) => xs[Math.floor(r() * xs.length)]!;
  const str = (): string => {
    const x = r();
    if (x < 0.5) return pick(STRINGS);
    if (x < 0.9) return Array.from({ length: 1 + Math.floor(r() * 4) }, () => pick(STRINGS)).join("");
    return pick(STRINGS).repeat(100 + Math.floor(r() * 1500)); // longer than a leaf's fixed room
  };
  const maybe = (): string | null => (r() < 0.3 ? null : str());
  const text = (): string => {
    const x = r();
    if (x < 0.1) return "";
    if (x < 0.2) return "the ".repeat(20 + Math.floor(r() * 40)); // degenerate repetition
    if (x < 0.3) return `here: ${Buffer.from(Array.from({ length: 300 + Math.floor(r() * 400) }, () => Math.floor(r() * 256))).toString("base64")} done`; // high entropy span
    if (x < 0.35) return "a".repeat(300) + " " + "b".repeat(10);
    if (x < 0.37) return Array.from({ length: 3000 }, (_, k) => `w${(k * 7919) % 1700}${k % 5 === 0 ? "," : ""}`).join(r() < 0.5 ? " " : "\n"); // many distinct words: the id table grows and probes
    if (x < 0.38) return `lone ${pick(["\ud800", "\udfff", "\ud83d"])} surrogate`;
    if (x < 0.4) return `${"the ".repeat(200)}${Buffer.from(Array.from({ length: 400 }, () => Math.floor(r() * 256))).toString("base64")}`; // both flags
    return Array.from({ length: Math.floor(r() * 80) }, () => pick(WORDS)).join(r() < 0.5 ? " " : "");
  };
  const usage = () => (r() < 0.3 ? "" : `,"usage":{"prompt_tokens":${pick(["3", "0", "-0", "1.5", "1e400", '"x"', "12345678901234567890"])},"completion_tokens":${pick(["16", "2.25", "null", "-4"])}}`);
  const reply = (streamed: boolean): Uint8Array[] => {
    const x = r();
    if (x < 0.05) return [];
    if (x < 0.1) return [enc.encode("<html>bad gateway</html>")];
    if (x < 0.13) return [crypto.getRandomValues(new Uint8Array(1 + Math.floor(r() * 300)))];
    if (!streamed) {
      const body = `{"id":"chatcmpl-1","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":${JSON.stringify(text())}}}]${usage()}}`;
      return [enc.encode(body)];
    }
    const words = text().split(/(?<= )/);
    const frames = words.map((w) => `data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":${JSON.stringify(w)}}}]}\n\n`);
    frames.push(`data: {"id":"c","choices":[]${usage()}}\n\ndata: [DONE]\n\n`);
    // chunk boundaries anywhere, multi-byte characters split too
    const all = enc.encode(frames.join(""));
    const chunks: Uint8Array[] = [];
    for (let at = 0; at < all.length; ) {
      const n = 1 + Math.floor(r() * 200);
      chunks.push(all.subarray(at, at + n));
      at += n;
    }
    return chunks;
  };
  const handOff = (i: number): HandOff => {
    const streamed = r() < 0.5;
    return {
      time: r() < 0.8 ? 1_795_000_000_000 + i : pick(NUMBERS),
      requestId: r() < 0.9 ? `req_${i.toString(16)}` : str(),
      keyId: maybe(),
      tenant: maybe(),
      route: r() < 0.9 ? "/v1/chat/completions" : str(),
      model: maybe(),
      upstream: maybe(),
      status: r() < 0.8 ? pick([200, 400, 429, 500, 503]) : pick([0, 65535, 70000, -1, 200.7, 599]),
      refusal: r() < 0.7 ? null : { stage: r() < 0.9 ? str() : (null as unknown as string), code: str() },
      totalUs: r() < 0.7 ? r() * 100_000 : pick(NUMBERS),
      upstreamFirstByteUs: r() < 0.3 ? null : r() < 0.8 ? r() * 50_000 : pick(NUMBERS),
      request: r() < 0.1 ? [] : [enc.encode(`{"model":"m","messages":[{"role":"user","content":${JSON.stringify(str())}}]}`)],
      response: reply(streamed),
      streamed,
      waf: Array.from({ length: r() < 0.7 ? 0 : 1 + Math.floor(r() * 3) }, () => ({ rule: str(), action: pick(["block", "redact", "flag"]), param: str() })),
      rateLimit: r() < 0.4 ? null : { outcome: pick(["allowed", "limited", "unenforced"] as const), reason: maybe(), subject: maybe() },
    };
  };
  return { handOff };
}

/** The definition: each record as the worker reads it back, through toRecord and encode. */
function definition(batches: { buffer: ArrayBuffer; length: number }[], firstSeq: number): string[] {
  const out: string[] = [];
  for (const b of batches) for (const h of readHandOffs(b.buffer, b.length)) out.push(dec.decode(encode(toRecord(h, firstSeq + out.length, core))));
  return out;
}

function built(builder: LeafBuilder): string[] {
  return Array.from({ length: builder.count }, (_, i) => dec.decode(builder.leaves.subarray(builder.offsets[i], builder.offsets[i + 1])));
}

function pack(records: HandOff[]): { buffer: ArrayBuffer; length: number } {
  const w = new HandOffWriter(256);
  for (const h of records) w.write(h);
  const { buffer, length } = w.take();
  return { buffer, length };
}

describe("leaf builder", () => {
  test("equals encode(toRecord()) byte for byte over generated records, batches and seqs", () => {
    const r = rng(7);
    const g = generator(r);
    const builder = new LeafBuilder(); // one builder for all: nothing may leak from build to build
    let records = 0;
    for (let round = 0; round < 150; round++) {
      const batches = Array.from({ length: 1 + Math.floor(r() * 3) }, () => pack(Array.from({ length: Math.floor(r() * 40) }, () => g.handOff(records++))));
      const seq = r() < 0.5 ? Math.floor(r() * 1000) : Math.floor(r() * 2 ** 40);
      const want = definition(batches, seq);
      expect(builder.build(batches, seq, core)).toBe(want.length);
      const got = built(builder);
      for (let i = 0; i < want.length; i++) if (got[i] !== want[i]) expect(got[i]).toBe(want[i]!);
    }
    expect(records).toBeGreaterThan(3000);
  });

  test("leaves are canonical JSON (sorted keys, integers) for ordinary records", () => {
    const r = rng(8);
    const g = generator(r);
    const builder = new LeafBuilder();
    builder.build([pack(Array.from({ length: 200 }, (_, i) => g.handOff(i)))], 0, core);
    let checked = 0;
    for (const leaf of built(builder)) {
      let canonical: string;
      try {
        canonical = canonicalJson(decode(enc.encode(leaf)));
      } catch {
        continue; // a generated oddity (a fraction, a number past 2^53): not a canonical record
      }
      expect(canonical).toBe(leaf);
      checked++;
    }
    expect(checked).toBeGreaterThan(100);
  });

  test("an empty group builds nothing; a damaged batch throws before anything is written", () => {
    const builder = new LeafBuilder();
    expect(builder.build([], 5, core)).toBe(0);
    expect(builder.build([{ buffer: new ArrayBuffer(0), length: 0 }], 5, core)).toBe(0);
    const good = pack([generator(rng(9)).handOff(1)]);
    expect(() => builder.build([good, { buffer: good.buffer, length: good.length - 3 }], 0, core)).toThrow("damaged");
    expect(builder.build([good], 0, core)).toBe(1); // and it still works afterwards
  });

  test("word ids of ASCII text equal wordTokens(), prefixes and collisions included; non-ASCII is left to it", () => {
    const r = rng(11);
    const ids = new WordIds();
    const out = new Uint32Array(4096);
    const alphabet = ["a", "b", "ab", "A", "0", " ", " ", ",", "\t", "\r", "\u000b", "\u000c", "\n", "-", "_", "\u0000", "\u007f", "@", "[", "`", "{", "Z", "z", "9"];
    for (let i = 0; i < 20_000; i++) {
      const text = Array.from({ length: Math.floor(r() * (i % 100 === 0 ? 1500 : 60)) }, () => alphabet[Math.floor(r() * alphabet.length)]).join("");
      const n = ids.ascii(text, out, 7);
      const want = wordTokens(text);
      expect(n).toBe(want.length);
      for (let k = 0; k < n; k++) if (out[7 + k] !== want[k]) expect({ text, got: Array.from(out.subarray(7, 7 + n)) }).toEqual({ text, got: Array.from(want) });
    }
    expect(ids.ascii("abc é", out, 0)).toBe(-1);
    expect(ids.ascii("x", out, 0)).toBe(1); // the table is clean after a text it gave up on
    expect(out[0]).toBe(0);
  });

  test("profiling adds each phase's time", () => {
    const builder = new LeafBuilder();
    let now = 0;
    builder.clock = () => (now += 1);
    builder.build([pack([generator(rng(10)).handOff(1)])], 0, core);
    expect(Array.from(builder.profile)).toEqual(PHASES.map(() => 1));
  });
});
