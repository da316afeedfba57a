/**
 * A one-pass keyword prefilter for the phrase rules.
 *
 * A regex alternation of a dozen words costs ~3 ns per character even when nothing matches,
 * and the injection rules have two dozen of them. Instead, every word-initial prefix of 3, 4
 * and 5 letters in the text is hashed into a table that says which keyword groups start that
 * way, in one pass over the text (~1 ns per character) shared by every rule. A pattern runs only
 * when each of its groups is present. Hash collisions can only let a pattern run needlessly,
 * never skip one: the filter over-approximates.
 *
 * The same pass records where each group's words start, so that a pattern whose matches always
 * lie near one of its keywords can be run on short windows around those words instead of over
 * the whole text (rule.ts).
 */

/** A set of keywords; `bit` is its flag in {@link wordMask}'s result. */
export interface WordGroup {
  readonly bit: number;
  readonly index: number;
  readonly words: readonly string[];
}

const TABLE_BITS = 16;
const table = new Uint32Array(1 << TABLE_BITS);
let groups = 0;

function slot(hash: number, length: number): number {
  return (Math.imul(hash, 0x9e3779b1) ^ length) >>> (32 - TABLE_BITS);
}

/**
 * Registers a group of keywords. A keyword matches any word that starts with its first five
 * letters (so "ignor" covers "ignore", "ignoring"); keywords need at least three letters.
 *
 * @example
 * const LEAK = wordGroup("reveal", "print", "show");
 */
export function wordGroup(...words: string[]): WordGroup {
  if (groups >= 32) throw new Error("wordGroup: at most 32 groups");
  const index = groups++;
  const bit = 1 << index;
  for (const word of words) {
    const w = word.toLowerCase();
    if (!/^[a-z]{3,}$/.test(w)) throw new Error(`wordGroup: keyword "${word}" must be 3+ letters a-z`);
    const n = Math.min(5, w.length);
    let hash = 0;
    for (let i = 0; i < n; i++) hash = (Math.imul(hash, 31) + w.charCodeAt(i)) | 0;
    table[slot(hash, n)]! |= bit;
  }
  return { bit, index, words };
}

let lastText: string | undefined;
let lastMask = 0;
/** Word starts of the last text: flat [group index, position] pairs, in text order. */
let starts = new Int32Array(256);
let startCount = 0;

function record(bits: number, position: number): void {
  while (bits !== 0) {
    const index = 31 - Math.clz32(bits);
    bits &= ~(1 << index);
    if (startCount * 2 + 2 > starts.length) {
      const grown = new Int32Array(starts.length * 2);
      grown.set(starts);
      starts = grown;
    }
    starts[startCount * 2] = index;
    starts[startCount * 2 + 1] = position;
    startCount++;
  }
}

/**
 * The groups whose keywords start some word of `text` (case-insensitive). Memoised for the
 * last text, since every rule asks about the same view in turn.
 *
 * @example
 * (wordMask("Please IGNORE this") & IGNORE.bit) !== 0; // true
 */
export function wordMask(text: string): number {
  if (text === lastText) return lastMask;
  let mask = 0;
  startCount = 0;
  const n = text.length;
  let i = 0;
  while (i < n) {
    const c = text.charCodeAt(i) | 0x20; // ASCII lower case; non-letters stay out of a-z
    if (c < 97 || c > 122) {
      i++;
      continue;
    }
    // A word starts here (digits count as separators: "2fa" also indexes "fa", which only
    // lets more patterns run). Hash its 3-, 4- and 5-letter prefixes, then skip the rest.
    let hash = c;
    let bits = 0;
    let j = i + 1;
    for (; j < n; j++) {
      const d = text.charCodeAt(j) | 0x20;
      if (d < 97 || d > 122) break;
      const length = j - i + 1;
      if (length <= 5) {
        hash = (Math.imul(hash, 31) + d) | 0;
        if (length >= 3) bits |= table[slot(hash, length)]!;
      }
    }
    if (bits !== 0) {
      mask |= bits;
      record(bits, i);
    }
    i = j + 1;
  }
  lastText = text;
  lastMask = mask;
  return mask;
}

/**
 * Calls `found(position)` for each word of `text` that starts with a keyword of `group`, in
 * text order (a superset: prefixes are hashed).
 */
export function wordStarts(text: string, group: WordGroup, found: (position: number) => void): void {
  wordMask(text);
  for (let k = 0; k < startCount; k++) if (starts[k * 2] === group.index) found(starts[k * 2 + 1]!);
}
