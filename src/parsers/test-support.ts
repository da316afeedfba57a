/**
 * Helpers for the parser tests and the bench: running a parser over a reply cut into pieces,
 * and the ways of cutting it (every position, every character, seeded random cuts).
 */

import { mergeDeltas } from "./message.ts";
import { createStreamParser } from "./stream.ts";
import type { Delta, ParsedMessage, ParserOptions } from "./types.ts";

export interface Run {
  merged: ParsedMessage;
  deltas: Delta[];
  /** What each push released, in order (the last entry is what end() released). */
  perPush: (readonly Delta[])[];
}

/** Runs a fresh parser (with ids call_0, call_1, …) over `pieces`. */
export function runPieces(pieces: readonly string[], options: ParserOptions = {}): Run {
  let n = 0;
  const parser = createStreamParser({ ...options, newToolCallId: () => `call_${n++}` });
  const perPush: (readonly Delta[])[] = [];
  const deltas: Delta[] = [];
  for (const piece of pieces) {
    const out = parser.push(piece);
    perPush.push(out);
    deltas.push(...out);
  }
  const rest = parser.end();
  perPush.push(rest);
  deltas.push(...rest);
  return { merged: mergeDeltas(deltas), deltas, perPush };
}

/** `text` cut at the given positions (ascending). */
export function cutAt(text: string, cuts: readonly number[]): string[] {
  const pieces: string[] = [];
  let from = 0;
  for (const c of cuts) {
    pieces.push(text.slice(from, c));
    from = c;
  }
  pieces.push(text.slice(from));
  return pieces;
}

/** mulberry32: a small seeded generator, so a failing random cut can be replayed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `count` random cuttings of `text` into pieces of 1 to `maxPiece` characters. */
export function randomCuttings(text: string, count: number, seed: number, maxPiece = 12): number[][] {
  const random = seededRandom(seed);
  const all: number[][] = [];
  for (let k = 0; k < count; k++) {
    const cuts: number[] = [];
    for (let at = 1 + Math.floor(random() * maxPiece); at < text.length; at += 1 + Math.floor(random() * maxPiece)) cuts.push(at);
    all.push(cuts);
  }
  return all;
}
