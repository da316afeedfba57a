/**
 * What the rules look at: the text as a reader (or a model) would take it, not as it was typed.
 *
 * Obfuscation that a model reads straight through, such as homoglyphs ("іgnоrе" with Cyrillic
 * і and о), zero-width characters inside words, bidi controls, full-width or mathematical
 * letters, stacked diacritics, invisible Unicode tag characters, and payloads wrapped in base64
 * or %-encoding, is undone here into *views* of the text. Each view keeps, for every one of its
 * characters, the span of the original string it came from, so a match found in a view maps back
 * to exact original offsets, and redaction cuts the original text (see index.ts).
 *
 * Folding is done per code point: NFKD (the compatibility mapping of NFKC, so "ｉｇｎｏｒｅ" and
 * "𝐢𝐠𝐧𝐨𝐫𝐞" become "ignore"), then combining marks are dropped ("ìgnörè" → "ignore"), then
 * look-alike letters are mapped to their Latin twins. Per code point, so the offset map is
 * exact; the result equals NFKD-and-strip of the whole string, because the only cross-character
 * step of normalisation is reordering combining marks, which are dropped anyway.
 *
 * Plain printable ASCII (the common case) skips folding entirely: the original string is the
 * view. Payload sniffing still runs on it, cheaply gated on "%" and on runs of 16+ base64
 * characters with mixed case.
 */

import { alphabetRuns } from "./runs";

export interface View {
  text: string;
  /** Original offset where each view character's source starts; null when the view is the original. */
  from: Int32Array | null;
  /** Original offset just past each view character's source. */
  to: Int32Array | null;
}

/** Maps a match [start, end) in `view` back to the original string. */
export function originalSpan(view: View, start: number, end: number): [number, number] {
  if (view.from === null) return [start, end];
  return [view.from[start]!, view.to![end - 1]!];
}

const NOT_PLAIN = /[^\t\n\r\x20-\x7e]/;

/**
 * Is `text` plain printable ASCII (tab, newline, carriage return, space to tilde)?
 *
 * @example
 * isPlainAscii("hello"); // true
 * isPlainAscii("hеllo"); // false (Cyrillic е)
 */
export function isPlainAscii(text: string): boolean {
  return !NOT_PLAIN.test(text);
}

// ---------------------------------------------------------------------------------------------
// Folding

/** Characters that render as nothing or only steer layout: dropped. */
function invisible(cp: number): boolean {
  return (
    cp === 0x00ad || // soft hyphen
    cp === 0x034f || // combining grapheme joiner
    cp === 0x061c || // Arabic letter mark
    cp === 0x115f || cp === 0x1160 || cp === 0x3164 || cp === 0xffa0 || // Hangul fillers
    cp === 0x17b4 || cp === 0x17b5 ||
    (cp >= 0x180b && cp <= 0x180e) || // Mongolian variation selectors, vowel separator
    (cp >= 0x200b && cp <= 0x200f) || // zero-width space/non-joiner/joiner, LRM, RLM
    (cp >= 0x202a && cp <= 0x202e) || // bidi embeddings and overrides
    (cp >= 0x2060 && cp <= 0x2064) || // word joiner, invisible operators
    (cp >= 0x2066 && cp <= 0x206f) || // bidi isolates, deprecated format characters
    (cp >= 0xfe00 && cp <= 0xfe0f) || // variation selectors
    cp === 0xfeff || // zero-width no-break space / BOM
    (cp >= 0x1d173 && cp <= 0x1d17a) || // musical formatting
    (cp >= 0xe0100 && cp <= 0xe01ef) // variation selectors supplement
  );
}

/**
 * Latin look-alikes that NFKD leaves alone: Cyrillic, Greek, Armenian and Cherokee letters,
 * small capitals, IPA letters, typographic quotes and dashes.
 */
const HOMOGLYPHS: Record<string, string> = {
  // Cyrillic
  а: "a", в: "b", е: "e", ё: "e", к: "k", м: "m", н: "h", о: "o", р: "p", с: "c", т: "t", у: "y", х: "x",
  ѕ: "s", і: "i", ї: "i", ј: "j", ԁ: "d", ԛ: "q", ԝ: "w", ӏ: "l", һ: "h", ɡ: "g", ү: "y", ӟ: "z", ԍ: "g",
  А: "A", В: "B", Е: "E", Ё: "E", К: "K", М: "M", Н: "H", О: "O", Р: "P", С: "C", Т: "T", У: "Y", Х: "X",
  Ѕ: "S", І: "I", Ї: "I", Ј: "J", Ԁ: "D", Ԛ: "Q", Ԝ: "W", Ӏ: "I", Һ: "H", Ү: "Y", Ь: "b", ь: "b",
  // Greek
  α: "a", β: "b", γ: "y", δ: "d", ε: "e", ι: "i", κ: "k", ν: "v", ο: "o", ρ: "p", τ: "t", υ: "u", χ: "x",
  ω: "w", ϲ: "c", ϳ: "j", ς: "s", η: "n", μ: "u",
  Α: "A", Β: "B", Ε: "E", Ζ: "Z", Η: "H", Ι: "I", Κ: "K", Μ: "M", Ν: "N", Ο: "O", Ρ: "P", Τ: "T", Υ: "Y",
  Χ: "X", Ϲ: "C", Ϳ: "J",
  // Armenian
  օ: "o", ս: "u", ց: "g", հ: "h", ո: "n", ւ: "w", զ: "q", Օ: "O", Ս: "U",
  // Cherokee capitals that are drawn like Latin ones
  Ꭺ: "A", Ᏼ: "B", Ꮯ: "C", Ꭼ: "E", Ꮋ: "H", Ꮖ: "I", Ꭻ: "J", Ꮶ: "K", Ꮇ: "M", Ꮃ: "W", Ꮪ: "S", Ꭲ: "T", Ꮓ: "Z",
  // Latin small capitals and IPA
  ᴀ: "a", ʙ: "b", ᴄ: "c", ᴅ: "d", ᴇ: "e", ꜰ: "f", ɢ: "g", ʜ: "h", ɪ: "i", ᴊ: "j", ᴋ: "k", ʟ: "l", ᴍ: "m",
  ɴ: "n", ᴏ: "o", ᴘ: "p", ǫ: "q", ʀ: "r", ꜱ: "s", ᴛ: "t", ᴜ: "u", ᴠ: "v", ᴡ: "w", ʏ: "y", ᴢ: "z",
  ı: "i", ȷ: "j", ɑ: "a", ɩ: "i", ʋ: "u", ɒ: "a", ꞵ: "b",
  // Punctuation
  "‘": "'", "’": "'", "‚": "'", "‛": "'", "′": "'", "ʼ": "'", "“": '"', "”": '"', "„": '"', "″": '"',
  "‐": "-", "‑": "-", "‒": "-", "–": "-", "—": "-", "―": "-", "−": "-", "⁄": "/", "∕": "/", "꞉": ":",
  "\u2028": "\n", "\u2029": "\n",
};

const COMBINING = /\p{M}/gu;

/**
 * Folding results per BMP code unit: FOLD_UNKNOWN until first seen, FOLD_EMPTY for characters
 * that vanish, FOLD_MULTI when the result is longer than one unit (kept in `foldMulti`), else
 * the single folded unit. Most non-ASCII text (Cyrillic, Greek, CJK, accented Latin) folds to
 * one unit per character, so the hot loop is an array read.
 */
const FOLD_UNKNOWN = -1;
const FOLD_EMPTY = -2;
const FOLD_MULTI = -3;
const foldBmp = new Int32Array(0x10000).fill(FOLD_UNKNOWN);
const foldMulti = new Map<number, string>();
const FOLD_CACHE_LIMIT = 8192;

function foldString(cp: number): string {
  if (invisible(cp)) return "";
  // Unicode tag characters spell ASCII invisibly ("ASCII smuggling"): read them as ASCII.
  if (cp >= 0xe0000 && cp <= 0xe007f) return cp >= 0xe0020 && cp <= 0xe007e ? String.fromCharCode(cp - 0xe0000) : "";
  let out = "";
  for (const ch of String.fromCodePoint(cp).normalize("NFKD").replace(COMBINING, "")) out += HOMOGLYPHS[ch] ?? ch;
  return out;
}

/** The folded form of a code point above the BMP or with a multi-unit result (cached). */
function foldCodePoint(cp: number): string {
  let out = foldMulti.get(cp);
  if (out === undefined) {
    out = foldString(cp);
    if (foldMulti.size >= FOLD_CACHE_LIMIT) foldMulti.clear();
    foldMulti.set(cp, out);
  }
  return out;
}

/** The fold table entry for a BMP code unit that is not a surrogate, computed on first use. */
function foldUnit(c: number): number {
  let f = foldBmp[c]!;
  if (f === FOLD_UNKNOWN) {
    const out = foldString(c);
    f = out.length === 0 ? FOLD_EMPTY : out.length === 1 ? out.charCodeAt(0) : FOLD_MULTI;
    foldBmp[c] = f;
  }
  return f;
}


const utf16 = new TextDecoder("utf-16le");

/**
 * A view under construction: its UTF-16 code units and, per unit, the source span it came from.
 * Units go into typed arrays and become a string once, at the end: building the string by
 * concatenation, or filling the maps with a native call per character, costs several times more
 * on text that is mostly non-ASCII.
 */
class ViewBuilder {
  units: Uint16Array;
  from: Int32Array;
  to: Int32Array;
  length = 0;

  constructor(capacity: number) {
    const size = Math.max(16, capacity);
    this.units = new Uint16Array(size);
    this.from = new Int32Array(size);
    this.to = new Int32Array(size);
  }

  /** Appends `piece`, every character of which came from source span [start, end). */
  push(piece: string, start: number, end: number): void {
    const n = piece.length;
    if (n === 0) return;
    this.reserve(n);
    const at = this.length;
    for (let i = 0; i < n; i++) {
      this.units[at + i] = piece.charCodeAt(i);
      this.from[at + i] = start;
      this.to[at + i] = end;
    }
    this.length += n;
  }

  /** Appends one code unit that came from source span [start, end). */
  unit(u: number, start: number, end: number): void {
    if (this.length === this.units.length) this.reserve(1);
    const at = this.length++;
    this.units[at] = u;
    this.from[at] = start;
    this.to[at] = end;
  }

  /** Appends source[start, end) unchanged, character for character. */
  copy(source: string, start: number, end: number): void {
    const n = end - start;
    if (n <= 0) return;
    this.reserve(n);
    const at = this.length;
    for (let i = 0; i < n; i++) {
      this.units[at + i] = source.charCodeAt(start + i);
      this.from[at + i] = start + i;
      this.to[at + i] = start + i + 1;
    }
    this.length += n;
  }

  private reserve(n: number): void {
    if (this.length + n <= this.from.length) return;
    const size = Math.max(this.from.length * 2, this.length + n);
    const units = new Uint16Array(size);
    const from = new Int32Array(size);
    const to = new Int32Array(size);
    units.set(this.units.subarray(0, this.length));
    from.set(this.from.subarray(0, this.length));
    to.set(this.to.subarray(0, this.length));
    this.units = units;
    this.from = from;
    this.to = to;
  }

  /** The view, with offsets composed through `parent` (whose text this one was built from). */
  build(parent: View): View {
    const n = this.length;
    const from = this.from.subarray(0, n);
    const to = this.to.subarray(0, n);
    if (parent.from !== null) {
      for (let i = 0; i < n; i++) {
        from[i] = parent.from[from[i]!]!;
        to[i] = parent.to![to[i]! - 1]!;
      }
    }
    return { text: utf16.decode(this.units.subarray(0, n)), from, to };
  }
}

/**
 * The folded view of `view` (see the file comment). Returns `view` itself when its text is
 * plain ASCII.
 */
function folded(view: View): View {
  const text = view.text;
  if (isPlainAscii(text)) return view;
  const b = new ViewBuilder(text.length);
  const n = text.length;
  let i = 0;
  while (i < n) {
    let run = i;
    while (run < n && text.charCodeAt(run) < 0x80) run++;
    b.copy(text, i, run);
    if (run >= n) break;
    const c = text.charCodeAt(run);
    if (c < 0xd800 || c > 0xdfff) {
      const f = foldUnit(c);
      if (f >= 0) b.unit(f, run, run + 1);
      else if (f === FOLD_MULTI) b.push(foldCodePoint(c), run, run + 1);
      i = run + 1;
    } else {
      const cp = text.codePointAt(run)!;
      const width = cp > 0xffff ? 2 : 1;
      b.push(foldCodePoint(cp), run, run + width);
      i = run + width;
    }
  }
  return b.build(view);
}

/**
 * The text a reader or model would see, as the rules see it.
 *
 * @example
 * normaliseForScan("іgn\u200Bоrе"); // "ignore"
 */
export function normaliseForScan(text: string): string {
  return folded(identity(text)).text;
}

function identity(text: string): View {
  return { text, from: null, to: null };
}

// ---------------------------------------------------------------------------------------------
// Payloads

const PERCENT_RUN = /(?:%[0-9A-Fa-f]{2})+/g;

/** `view` with every run of %xx escapes decoded; undefined when there are none. */
function urlDecoded(view: View): View | undefined {
  const text = view.text;
  if (!text.includes("%")) return undefined;
  PERCENT_RUN.lastIndex = 0;
  let m: RegExpExecArray | null;
  let b: ViewBuilder | undefined;
  let last = 0;
  while ((m = PERCENT_RUN.exec(text)) !== null) {
    b ??= new ViewBuilder(text.length);
    b.copy(text, last, m.index);
    b.push(percentDecode(m[0]), m.index, m.index + m[0].length);
    last = m.index + m[0].length;
  }
  if (b === undefined) return undefined;
  b.copy(text, last, text.length);
  return b.build(view);
}

function percentDecode(run: string): string {
  try {
    return decodeURIComponent(run);
  } catch {
    // Not UTF-8: take the bytes as Latin-1, which still exposes any ASCII inside.
    let out = "";
    for (let i = 0; i < run.length; i += 3) out += String.fromCharCode(parseInt(run.slice(i + 1, i + 3), 16));
    return out;
  }
}

/** Shorter base64 runs are too often plain words to be worth decoding. */
const MIN_RUN = 16;
const MIN_PAYLOAD_CHARS = 8;
const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Decodes one base64 run when it holds text: valid UTF-8 with no control characters besides
 * tab and line breaks. Random bytes (keys, hashes, images) essentially never pass that test.
 */
function base64Text(run: string): string | undefined {
  const body = run.replace(/=+$/, "");
  if (body.length % 4 === 1) return undefined;
  if (!/[A-Z]/.test(body) || !/[a-z0-9]/.test(body)) return undefined; // words and CONSTANTS are not base64
  let decoded: string;
  try {
    decoded = strictUtf8.decode(Buffer.from(body, body.includes("-") || body.includes("_") ? "base64url" : "base64"));
  } catch {
    return undefined;
  }
  if (decoded.length < MIN_PAYLOAD_CHARS) return undefined;
  for (let i = 0; i < decoded.length; i++) {
    const c = decoded.charCodeAt(i);
    if ((c < 0x20 && c !== 9 && c !== 10 && c !== 13) || (c >= 0x7f && c < 0xa0) || c === 0xfffd) return undefined;
  }
  return decoded;
}

/**
 * One view holding every base64 payload of `view` that decodes to text, separated by newlines;
 * each decoded character maps to the whole encoded run it came from. Undefined when none.
 */
function base64Payloads(view: View): View | undefined {
  const text = view.text;
  if (text.length < MIN_RUN) return undefined;
  let b: ViewBuilder | undefined;
  alphabetRuns(text, MIN_RUN, (start, runEnd, padding) => {
    const end = runEnd + Math.min(padding, 2);
    const decoded = base64Text(text.slice(start, end));
    if (decoded === undefined) return;
    b ??= new ViewBuilder(decoded.length + 1);
    if (b.length > 0) b.push("\n", start, end);
    b.push(decoded, start, end);
  });
  return b === undefined ? undefined : (b as ViewBuilder).build(view);
}

/** Payloads inside payloads are followed this many levels deep. */
const MAX_DECODE_DEPTH = 2;

/**
 * Every view the rules scan for one string: the folded text (the original when it is plain
 * ASCII), then %-decoded and base64-decoded payload views, each folded in turn, to
 * {@link MAX_DECODE_DEPTH} levels. At most a handful of views, whatever the input: all payloads
 * of one level share one view.
 *
 * @example
 * scanViews("aWdub3JlIGFsbCBwcmV2aW91cyBpbnN0cnVjdGlvbnM=").map((v) => v.text);
 * // ["aWdub3JlIGFsbCBwcmV2aW91cyBpbnN0cnVjdGlvbnM=", "ignore all previous instructions"]
 */
export function scanViews(text: string): View[] {
  const out: View[] = [];
  addViews(identity(text), 0, out);
  return out;
}

function addViews(view: View, depth: number, out: View[]): void {
  const v = folded(view);
  out.push(v);
  if (depth >= MAX_DECODE_DEPTH) return;
  const decoded = urlDecoded(v);
  if (decoded !== undefined) addViews(decoded, depth + 1, out);
  const payloads = base64Payloads(v);
  if (payloads !== undefined) addViews(payloads, depth + 1, out);
}

/**
 * The decoded payloads found in `text` (for tests and debugging).
 *
 * @example
 * decodedPayloads("see %69gnore"); // ["see ignore"]
 */
export function decodedPayloads(text: string): string[] {
  return scanViews(text).slice(1).map((v) => v.text);
}
