/**
 * The BPE encodings Warden can count with, loaded lazily from js-tiktoken's rank files.
 *
 * We read js-tiktoken's rank data but not its `Tiktoken` class: that class also builds a decode
 * table and keys ranks by comma-joined byte lists, which we never need, and its merge loop is
 * quadratic. A counting table keyed by byte strings loads in less than half the time and memory
 * (o200k_base: ~150 ms and ~51 MiB RSS against ~330 ms and ~88 MiB; see
 * bench/results/2026-11-23-tokens.md). `count.test.ts` holds our counts against
 * `Tiktoken.encode` on a mixed corpus, so the two cannot drift apart.
 */

/** Names of the encodings we ship. */
export type EncodingName = "o200k_base" | "cl100k_base" | "p50k_base";

export const ENCODING_NAMES: readonly EncodingName[] = ["o200k_base", "cl100k_base", "p50k_base"];

/** A loaded encoding: what the counter needs and nothing else. */
export interface Encoding {
  readonly name: EncodingName;
  /** Token bytes as a byte string (one char per byte, U+0000..U+00FF) → merge rank. */
  readonly ranks: Map<string, number>;
  /** Rank of each two-byte token at `first << 8 | second`, else NO_MERGE: the first merge
   * round of every piece looks up all adjacent byte pairs, and this spares it the hashing. */
  readonly twoByteRanks: Int32Array;
  /** The pre-tokenizer: splits text into the pieces BPE runs on (global, unicode). */
  readonly pieces: RegExp;
  /** Milliseconds spent building this table (import + parse), for logs and the bench. */
  readonly loadMs: number;
}

/** A rank no real token has: "this pair is not a token". */
export const NO_MERGE = 0x7fffffff;

interface RankFile {
  pat_str: string;
  bpe_ranks: string;
}

// `require` inside a function keeps each 0.5–2.3 MB rank module out of start-up until first use;
// `bun build --compile` bundles these literal specifiers and still evaluates them lazily.
function readRankFile(name: EncodingName): RankFile {
  let mod: { default?: RankFile } & Partial<RankFile>;
  switch (name) {
    case "o200k_base":
      mod = require("js-tiktoken/ranks/o200k_base");
      break;
    case "cl100k_base":
      mod = require("js-tiktoken/ranks/cl100k_base");
      break;
    case "p50k_base":
      mod = require("js-tiktoken/ranks/p50k_base");
      break;
  }
  // The CommonJS build exports the object itself, the ES build has it as `default`.
  return (mod.default ?? mod) as RankFile;
}

/**
 * Parses js-tiktoken's compact rank format: lines of `<tag> <first rank> <base64 token>...`,
 * ranks counting up from the first one (gaps between lines are the special tokens).
 */
function parseRanks(compact: string): Map<string, number> {
  const ranks = new Map<string, number>();
  for (const line of compact.split("\n")) {
    if (line.length === 0) continue;
    const fields = line.split(" ");
    const first = Number.parseInt(fields[1]!, 10);
    for (let i = 2; i < fields.length; i++) {
      // atob yields exactly the byte string we key by: one char per byte.
      ranks.set(atob(fields[i]!), first + i - 2);
    }
  }
  return ranks;
}

function twoByteRankTable(ranks: Map<string, number>): Int32Array {
  const table = new Int32Array(65536).fill(NO_MERGE);
  for (const [bytes, rank] of ranks) {
    if (bytes.length === 2) table[(bytes.charCodeAt(0) << 8) | bytes.charCodeAt(1)] = rank;
  }
  return table;
}

const loaded = new Map<EncodingName, Encoding>();

/**
 * Returns the encoding, building it on first use (o200k ~100 ms; see bench/results).
 *
 * @example
 * const enc = getEncoding("cl100k_base");
 * enc.ranks.get("hello"); // 15339
 */
export function getEncoding(name: EncodingName): Encoding {
  const ready = loaded.get(name);
  if (ready !== undefined) return ready;
  const started = performance.now();
  const file = readRankFile(name);
  const ranks = parseRanks(file.bpe_ranks);
  const twoByteRanks = twoByteRankTable(ranks);
  const pieces = new RegExp(file.pat_str, "gu");
  const encoding: Encoding = { name, ranks, twoByteRanks, pieces, loadMs: performance.now() - started };
  loaded.set(name, encoding);
  return encoding;
}

/**
 * Builds encodings ahead of the first request, so that request does not pay the load time.
 * Optional: without it each encoding loads on first use.
 *
 * @example
 * preloadEncodings(["o200k_base"]); // at start-up, for a fleet of gpt-4o users
 */
export function preloadEncodings(names: readonly EncodingName[] = ENCODING_NAMES): void {
  for (const name of names) getEncoding(name);
}

/**
 * Whether an encoding has been built (for logs and tests).
 *
 * @example
 * isEncodingLoaded("p50k_base"); // false until something counts with it
 */
export function isEncodingLoaded(name: EncodingName): boolean {
  return loaded.has(name);
}
