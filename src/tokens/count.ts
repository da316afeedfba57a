/**
 * Counting the tokens of one text with one encoding: pre-tokenize, then merge each piece.
 *
 * Bounding: a pre-tokenizer piece longer than MAX_PIECE_CHARS UTF-16 units (a run of letters
 * with no space, a run of one symbol, a whitespace run, a p50k digit run) is cut into chunks of
 * that size (never inside a surrogate pair) and each chunk is counted on its own. Counts are
 * exact for every text whose pieces are all shorter — that is all ordinary prose, code and
 * CJK/Thai text, whose pieces end at punctuation or spaces — and an estimate only for such
 * runs, off by at most about one token per cut (bench/results measures it). The cut bounds the
 * scratch memory of one merge, and with the heap merge in bpe.ts the time stays linear-ish
 * either way.
 */

import { countMerges } from "./bpe.ts";
import type { Encoding } from "./encodings.ts";

/** Longest piece counted exactly; longer ones are cut into pieces of this many UTF-16 units. */
export const MAX_PIECE_CHARS = 4096;

const utf8 = new TextEncoder();
// UTF-8 of a piece is at most 3 bytes per UTF-16 unit (a surrogate pair: 4 bytes for 2 units).
const pieceBytes = Buffer.allocUnsafe(3 * MAX_PIECE_CHARS);

/** Rank keys are byte strings; for ASCII the piece already is one, so it needs no copy. */
function byteStringOf(piece: string): string {
  for (let i = 0; i < piece.length; i++) {
    if (piece.charCodeAt(i) > 0x7f) {
      // TextEncoder turns lone surrogates into U+FFFD, exactly as js-tiktoken's encode does.
      const { written } = utf8.encodeInto(piece, pieceBytes);
      return pieceBytes.toString("latin1", 0, written);
    }
  }
  return piece;
}

function countPiece(encoding: Encoding, piece: string): number {
  const bytes = byteStringOf(piece);
  return encoding.ranks.has(bytes) ? 1 : countMerges(encoding, bytes);
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}

function countLongPiece(encoding: Encoding, piece: string): number {
  let total = 0;
  // Long runs are usually one pattern repeated, so consecutive chunks are often identical.
  let previousChunk = "";
  let previousCount = 0;
  for (let from = 0; from < piece.length; ) {
    let to = Math.min(from + MAX_PIECE_CHARS, piece.length);
    if (to < piece.length && isHighSurrogate(piece.charCodeAt(to - 1))) to--;
    const chunk = piece.substring(from, to);
    if (chunk !== previousChunk) {
      previousChunk = chunk;
      previousCount = countPiece(encoding, chunk);
    }
    total += previousCount;
    from = to;
  }
  return total;
}

/**
 * Tokens in `text` under `encoding`. Special-token strings such as `<|endoftext|>` count as
 * the plain text they are (what a model sees when a user types them), never as one token.
 *
 * @example
 * countTokens(getEncoding("cl100k_base"), "hello world"); // 2
 */
export function countTokens(encoding: Encoding, text: string): number {
  if (text.length === 0) return 0;
  const { pieces } = encoding;
  pieces.lastIndex = 0;
  let total = 0;
  for (let match = pieces.exec(text); match !== null; match = pieces.exec(text)) {
    const piece = match[0];
    total += piece.length <= MAX_PIECE_CHARS ? countPiece(encoding, piece) : countLongPiece(encoding, piece);
  }
  return total;
}

/**
 * Whether `countTokens` is exact for `text` (no piece had to be cut). For tests and the bench.
 *
 * @example
 * isCountExact(getEncoding("o200k_base"), "a".repeat(10_000)); // false
 */
export function isCountExact(encoding: Encoding, text: string): boolean {
  const { pieces } = encoding;
  pieces.lastIndex = 0;
  for (let match = pieces.exec(text); match !== null; match = pieces.exec(text)) {
    if (match[0].length > MAX_PIECE_CHARS) return false;
  }
  return true;
}
