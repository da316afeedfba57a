/**
 * Where a JSON object or array ends, found incrementally as its text streams in (formats such
 * as Llama 3's and Mistral's have no closing tag: the call ends where its JSON does), and where
 * a member's value lies inside a complete object, so arguments can be passed on exactly as the
 * model wrote them (a parse-and-stringify round trip would round integers above 2^53).
 */

/** Scanner state between chunks: nesting depth and whether we are inside a string. */
export interface JsonExtent {
  depth: number;
  inString: boolean;
  escaped: boolean;
}

export function newJsonExtent(): JsonExtent {
  return { depth: 0, inString: false, escaped: false };
}

const QUOTE = 34;
const BACKSLASH = 92;
const OPEN_BRACE = 123;
const CLOSE_BRACE = 125;
const OPEN_BRACKET = 91;
const CLOSE_BRACKET = 93;

/**
 * Feeds `s[from, to)` to a scanner that started at a `{` or `[`. Returns the index just past
 * the value's closing bracket, or -1 when the value has not ended by `to` (the state then
 * carries over to the next call). It only balances brackets outside strings: whether the text
 * is valid JSON is for `JSON.parse` to say once the extent is known.
 *
 * @example
 * const st = newJsonExtent();
 * scanJsonExtent(st, '{"a": "}', 0); // -1: the } is inside a string
 * scanJsonExtent(st, '"}x', 0);      // 2: the object ended before "x"
 */
export function scanJsonExtent(st: JsonExtent, s: string, from: number, to = s.length): number {
  let { depth, inString, escaped } = st;
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (inString) {
      if (escaped) escaped = false;
      else if (c === BACKSLASH) escaped = true;
      else if (c === QUOTE) inString = false;
    } else if (c === QUOTE) {
      inString = true;
    } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      depth++;
    } else if ((c === CLOSE_BRACE || c === CLOSE_BRACKET) && --depth <= 0) {
      st.depth = 0;
      st.inString = false;
      st.escaped = false;
      return i + 1;
    }
  }
  st.depth = depth;
  st.inString = inString;
  st.escaped = escaped;
  return -1;
}

function skipWs(s: string, i: number): number {
  while (i < s.length && (s.charCodeAt(i) === 32 || s.charCodeAt(i) === 10 || s.charCodeAt(i) === 13 || s.charCodeAt(i) === 9)) i++;
  return i;
}

function stringEnd(s: string, i: number): number {
  // s[i] is the opening quote.
  for (let j = i + 1; j < s.length; j++) {
    const c = s.charCodeAt(j);
    if (c === BACKSLASH) j++;
    else if (c === QUOTE) return j + 1;
  }
  return s.length;
}

/** End of the JSON value starting at `i` in valid JSON text `s`. */
function valueEnd(s: string, i: number): number {
  const c = s.charCodeAt(i);
  if (c === QUOTE) return stringEnd(s, i);
  if (c === OPEN_BRACE || c === OPEN_BRACKET) {
    const end = scanJsonExtent(newJsonExtent(), s, i);
    return end < 0 ? s.length : end;
  }
  let j = i;
  while (j < s.length) {
    const d = s.charCodeAt(j);
    if (d === 44 || d === CLOSE_BRACE || d === CLOSE_BRACKET || d === 32 || d === 10 || d === 13 || d === 9) break;
    j++;
  }
  return j;
}

/**
 * `[start, end)` of the value of top-level member `key` in the object text `s` (which
 * `JSON.parse` accepted), or null. With duplicate keys the last wins, as in `JSON.parse`.
 *
 * @example
 * const s = '{"name": "f", "arguments": {"n": 12345678901234567890}}';
 * const [a, b] = memberSpan(s, "arguments")!;
 * s.slice(a, b) // '{"n": 12345678901234567890}'
 */
export function memberSpan(s: string, key: string): [number, number] | null {
  let i = skipWs(s, 0);
  if (s.charCodeAt(i) !== OPEN_BRACE) return null;
  let found: [number, number] | null = null;
  i++;
  for (;;) {
    i = skipWs(s, i);
    if (s.charCodeAt(i) !== QUOTE) return found;
    const keyEnd = stringEnd(s, i);
    const raw = s.slice(i + 1, keyEnd - 1);
    const name = raw.includes("\\") ? (JSON.parse(s.slice(i, keyEnd)) as string) : raw;
    i = skipWs(s, keyEnd) + 1; // past the colon
    const start = skipWs(s, i);
    const end = valueEnd(s, start);
    if (name === key) found = [start, end];
    i = skipWs(s, end);
    if (s.charCodeAt(i) !== 44) return found;
    i++;
  }
}

/**
 * `[start, end)` of each element of the top-level array text `s` (which `JSON.parse` accepted).
 *
 * @example
 * elementSpans('[{"a":1}, 2]') // [[1, 8], [10, 11]]
 */
export function elementSpans(s: string): [number, number][] {
  const spans: [number, number][] = [];
  let i = skipWs(s, 0);
  if (s.charCodeAt(i) !== OPEN_BRACKET) return spans;
  i++;
  for (;;) {
    i = skipWs(s, i);
    if (i >= s.length || s.charCodeAt(i) === CLOSE_BRACKET) return spans;
    const end = valueEnd(s, i);
    spans.push([i, end]);
    i = skipWs(s, end);
    if (s.charCodeAt(i) !== 44) return spans;
    i++;
  }
}
