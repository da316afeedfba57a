/**
 * Runs of the base64/base64url alphabet (A–Z a–z 0–9 + / _ -), found by one loop over the text.
 *
 * Both payload sniffing (runs of 16+ that may decode to text) and the entropy rule (runs of
 * 20–512 that may be keys) start from these. A regex with a lookbehind and a {16,} run does the
 * same job at several times the cost on ordinary prose, where no run is long enough.
 */

/** 1 for the run alphabet, 2 for "=", 0 otherwise; ASCII only. */
const CLASS = new Uint8Array(128);
for (const c of "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/_-") CLASS[c.charCodeAt(0)] = 1;
CLASS["=".charCodeAt(0)] = 2;

/**
 * Calls `found(start, end, padding)` for every maximal run of at least `min` alphabet characters;
 * `padding` is the number of "=" right after it (0–2 are taken as base64 padding, counted up to 3
 * so that callers can tell "too many").
 *
 * @example
 * alphabetRuns("key QUJDREVGR0hJSktMTU5PUA== end", 16, (s, e, pad) => console.log(s, e, pad)); // 4 26 2
 */
export function alphabetRuns(text: string, min: number, found: (start: number, end: number, padding: number) => void): void {
  const n = text.length;
  let i = 0;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c >= 128 || CLASS[c] !== 1) {
      i++;
      continue;
    }
    const start = i;
    while (i < n) {
      const d = text.charCodeAt(i);
      if (d >= 128 || CLASS[d] !== 1) break;
      i++;
    }
    if (i - start >= min) {
      let padding = 0;
      while (padding < 3 && i + padding < n && text.charCodeAt(i + padding) === 61) padding++;
      found(start, i, padding);
    }
  }
}

/** Is the character at `index` part of the run alphabet or "="? (false outside the text) */
export function inAlphabetOrPad(text: string, index: number): boolean {
  const c = text.charCodeAt(index);
  return c < 128 && CLASS[c] !== 0;
}
