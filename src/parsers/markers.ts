/**
 * Finding markers (tags, special tokens) in streamed text. A marker can arrive split across
 * chunks, so besides whole markers these find where a marker *might* be starting at the end of
 * the text: only that tail has to be held back until the next chunk decides it.
 */

/** Index of the first occurrence of any marker in `s` at or after `from`, or -1. */
export function findFirst(s: string, from: number, markers: readonly string[]): number {
  let best = -1;
  for (let m = 0; m < markers.length; m++) {
    const i = s.indexOf(markers[m], from);
    if (i >= 0 && (best < 0 || i < best)) best = i;
  }
  return best;
}

/** Which of `markers` starts at `at` in `s` (the longest, if several do), or -1. */
export function markerAt(s: string, at: number, markers: readonly string[]): number {
  let which = -1;
  for (let m = 0; m < markers.length; m++) {
    if (s.startsWith(markers[m], at) && (which < 0 || markers[m].length > markers[which].length)) which = m;
  }
  return which;
}

/** True when `s` from `at` to its end is a proper start of `marker`. */
function isPartialAt(s: string, at: number, marker: string): boolean {
  const n = s.length - at;
  if (n >= marker.length) return false;
  for (let k = 0; k < n; k++) if (s.charCodeAt(at + k) !== marker.charCodeAt(k)) return false;
  return true;
}

/**
 * Where the tail of `s` that could still grow into one of `markers` begins (at or after
 * `from`), or `s.length` when no tail could. Holding back from there is the least that keeps a
 * split marker whole.
 *
 * @example
 * partialStart("see <tool_c", 0, ["<tool_call>"]) // 4: "<tool_c" may become the tag
 * partialStart("a < b", 0, ["<tool_call>"])       // 5: nothing to hold
 */
export function partialStart(s: string, from: number, markers: readonly string[]): number {
  let longest = 0;
  for (let m = 0; m < markers.length; m++) if (markers[m].length > longest) longest = markers[m].length;
  for (let at = Math.max(from, s.length - longest + 1); at < s.length; at++) {
    for (let m = 0; m < markers.length; m++) if (isPartialAt(s, at, markers[m])) return at;
  }
  return s.length;
}

/** ASCII whitespace: what chat templates put between blocks. */
export function isSpaceCode(c: number): boolean {
  return c === 32 || c === 10 || c === 13 || c === 9;
}

/** True when `s[from, to)` is empty or only whitespace. */
export function isAllSpace(s: string, from = 0, to = s.length): boolean {
  for (let i = from; i < to; i++) if (!isSpaceCode(s.charCodeAt(i))) return false;
  return true;
}

/** Index of the first non-whitespace character of `s` at or after `from`, or `s.length`. */
export function skipSpace(s: string, from = 0): number {
  let i = from;
  while (i < s.length && isSpaceCode(s.charCodeAt(i))) i++;
  return i;
}
