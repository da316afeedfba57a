/**
 * Byte-pair merging that only counts: how many tokens one pre-tokenizer piece becomes.
 *
 * The merge order is tiktoken's: repeatedly merge the adjacent pair whose bytes have the lowest
 * rank, the leftmost one on a tie, until no adjacent pair is a token. Ranks are unique per byte
 * string, so this order is fully determined and every implementation of it gives the same count.
 *
 * js-tiktoken rescans every pair after each merge and rebuilds string keys on the way, which is
 * what makes a 50 000-char piece take minutes. Short pieces (nearly all of them) use the same
 * rescan over integer arrays; long ones keep the candidate pairs in a binary heap, so a piece of
 * m bytes costs O(m log m) instead of O(m²).
 */

import { NO_MERGE } from "./encodings.ts";

/** What merging needs from an encoding. */
export interface MergeTables {
  readonly ranks: Map<string, number>;
  readonly twoByteRanks: Int32Array;
}

/**
 * Up to this many bytes the rescan beats heap upkeep (bench/tokens.ts measures both sides).
 * Must stay below 2^22, the position range the heap keys leave room for.
 */
const SCAN_MAX_BYTES = 128;

/** Heap keys pack (rank, start) into one double: rank · 2^22 + start stays below 2^53. */
const POSITION_SPAN = 2 ** 22;

/** Largest piece, in bytes, the heap path accepts; callers cut longer pieces first. */
export const MAX_MERGE_BYTES = POSITION_SPAN - 1;

// Scratch arrays shared by every call: counting is synchronous, so one set is enough, and
// reusing it keeps the hot path free of per-piece allocations. They only ever grow.
let starts = new Int32Array(256);
let joinRanks = new Int32Array(256);
let nextPart = new Int32Array(256);
let prevPart = new Int32Array(256);
let heap = new Float64Array(768);
let heapSize = 0;

function ensureScratch(bytes: number): void {
  if (starts.length > bytes) return;
  let size = starts.length;
  while (size <= bytes) size *= 2;
  starts = new Int32Array(size);
  joinRanks = new Int32Array(size);
  nextPart = new Int32Array(size);
  prevPart = new Int32Array(size);
  heap = new Float64Array(3 * size);
}

function rankOf(ranks: Map<string, number>, bytes: string, from: number, to: number): number {
  const rank = ranks.get(bytes.substring(from, to));
  return rank === undefined ? NO_MERGE : rank;
}

function twoByteRankAt(twoByteRanks: Int32Array, bytes: string, at: number): number {
  return twoByteRanks[(bytes.charCodeAt(at) << 8) | bytes.charCodeAt(at + 1)]!;
}

/**
 * Number of tokens `bytes` (a byte string: one char per byte) becomes after BPE merging.
 * A byte string that is itself a token should be checked by the caller first (one lookup).
 *
 * @example
 * countMerges(getEncoding("cl100k_base"), "hello"); // 1
 */
export function countMerges(tables: MergeTables, bytes: string): number {
  const length = bytes.length;
  if (length <= 1) return length;
  if (length > MAX_MERGE_BYTES) throw new RangeError(`piece of ${length} bytes is too long to merge`);
  ensureScratch(length);
  return length <= SCAN_MAX_BYTES ? countByRescan(tables, bytes) : countByHeap(tables, bytes);
}

/** tiktoken's own loop, over integer arrays: parts are `starts[i]..starts[i+1]`. */
function countByRescan({ ranks, twoByteRanks }: MergeTables, bytes: string): number {
  const length = bytes.length;
  for (let i = 0; i <= length; i++) starts[i] = i;
  for (let i = 0; i < length - 1; i++) joinRanks[i] = twoByteRankAt(twoByteRanks, bytes, i);
  let parts = length;
  while (parts > 1) {
    let best = NO_MERGE;
    let at = -1;
    for (let i = 0; i < parts - 1; i++) {
      if (joinRanks[i]! < best) {
        best = joinRanks[i]!;
        at = i;
      }
    }
    if (at < 0) break;
    // Drop the boundary between part `at` and part `at + 1`; pairs to its right shift left.
    starts.copyWithin(at + 1, at + 2, parts + 1);
    joinRanks.copyWithin(at + 1, at + 2, parts - 1);
    parts--;
    joinRanks[at] = at + 1 < parts ? rankOf(ranks, bytes, starts[at]!, starts[at + 2]!) : NO_MERGE;
    if (at > 0) joinRanks[at - 1] = rankOf(ranks, bytes, starts[at - 1]!, starts[at + 1]!);
  }
  return parts;
}

function heapPush(key: number): void {
  let i = heapSize++;
  while (i > 0) {
    const parent = (i - 1) >> 1;
    if (heap[parent]! <= key) break;
    heap[i] = heap[parent]!;
    i = parent;
  }
  heap[i] = key;
}

function heapPop(): number {
  const top = heap[0]!;
  const last = heap[--heapSize]!;
  let i = 0;
  for (;;) {
    let child = 2 * i + 1;
    if (child >= heapSize) break;
    if (child + 1 < heapSize && heap[child + 1]! < heap[child]!) child++;
    if (heap[child]! >= last) break;
    heap[i] = heap[child]!;
    i = child;
  }
  heap[i] = last;
  return top;
}

/**
 * Same merges as the rescan, found with a heap of (rank, start) keys. Parts form a linked list
 * indexed by their first byte; `joinRanks[s]` is the rank of the part at `s` joined with the
 * next one. A heap entry is stale once that rank changed, and is then skipped when popped:
 * a pair's span only grows, and ranks are unique per byte string, so a stale rank never comes back.
 */
function countByHeap({ ranks, twoByteRanks }: MergeTables, bytes: string): number {
  const length = bytes.length;
  heapSize = 0;
  for (let i = 0; i < length; i++) {
    nextPart[i] = i + 1;
    prevPart[i] = i - 1;
  }
  for (let i = 0; i < length - 1; i++) {
    const rank = twoByteRankAt(twoByteRanks, bytes, i);
    joinRanks[i] = rank;
    if (rank !== NO_MERGE) heapPush(rank * POSITION_SPAN + i);
  }
  joinRanks[length - 1] = NO_MERGE;
  let parts = length;
  while (heapSize > 0) {
    const key = heapPop();
    const start = key % POSITION_SPAN;
    if (joinRanks[start] !== (key - start) / POSITION_SPAN) continue;
    const absorbed = nextPart[start]!;
    const after = nextPart[absorbed]!;
    nextPart[start] = after;
    if (after < length) prevPart[after] = start;
    joinRanks[absorbed] = NO_MERGE;
    parts--;
    if (after < length) {
      const rank = rankOf(ranks, bytes, start, nextPart[after]!);
      joinRanks[start] = rank;
      if (rank !== NO_MERGE) heapPush(rank * POSITION_SPAN + start);
    } else {
      joinRanks[start] = NO_MERGE;
    }
    const before = prevPart[start]!;
    if (before >= 0) {
      const rank = rankOf(ranks, bytes, before, after);
      joinRanks[before] = rank;
      if (rank !== NO_MERGE) heapPush(rank * POSITION_SPAN + before);
    }
  }
  return parts;
}

/**
 * Test hook: runs one strategy regardless of length, so tests can hold them against each other.
 *
 * @example
 * countMergesWith("heap", enc, "aaaa") === countMergesWith("rescan", enc, "aaaa");
 */
export function countMergesWith(strategy: "rescan" | "heap", tables: MergeTables, bytes: string): number {
  if (bytes.length <= 1) return bytes.length;
  ensureScratch(bytes.length);
  return strategy === "rescan" ? countByRescan(tables, bytes) : countByHeap(tables, bytes);
}
