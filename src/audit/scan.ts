/**
 * A fast path for `extract` (./record.ts) over SSE streams: most events of a stream are one
 * template with only the token's text changing, e.g.
 *
 *   {"id":"chatcmpl-…","object":"chat.completion.chunk",…,"choices":[{"index":0,"delta":{"content":"<text>"},…}]}
 *
 * JSON.parse of every event builds a dozen objects and strings to read that one string. Here one
 * event is scanned in full ({@link scanDocument}), which also finds the string token the text
 * came from; the characters before and after that token become a {@link Template}. A later event
 * equal to the template's prefix + one JSON string literal + the template's suffix
 * ({@link matchTemplate}) parses, by JSON's grammar, to the same document with only that string
 * changed, so it adds exactly that string and the template's usage. Checking that costs two
 * native string comparisons and a scan of the short literal.
 *
 * The contract is one-sided: a scan returns SCAN_OK having proved that `JSON.parse` of the
 * document succeeds and that `take(JSON.parse(doc))` would add exactly what `found` says, or
 * SCAN_BAIL having decided nothing; the caller then runs JSON.parse + take (which also decides
 * whether the document is invalid). So the scanner accepts a *subset* of JSON: strict RFC 8259
 * grammar (no control characters in strings, exact number grammar, JSON whitespace only), nesting
 * up to {@link MAX_DEPTH}; anything else bails. It mirrors take() for OpenAI documents:
 *
 *   content += c  for each choice of doc.choices (when it is an array), where
 *                 c = choice?.delta?.content ?? choice?.message?.content ?? choice?.text ?? ""
 *                 and c is a string;
 *   usage = usageOf(doc.usage) ?? usage   (prompt_tokens a number; completion_tokens or 0)
 *
 * with JSON.parse's rules: the last of duplicate keys wins, and a document adds nothing unless it
 * is valid as a whole. A top-level string `type` (an Anthropic document, see
 * src/providers/anthropic/usage.ts) bails: take() reads those itself. Anything take() learns to
 * read must bail here too, or be mirrored; src/audit/extract.test.ts holds extractText() equal to
 * extractByParse() on many shapes, generated and hand-written.
 *
 * A full scan in JavaScript costs several JSON.parse of the same event (~2.4 µs against ~0.4 for a
 * 230-byte event), so whole documents (a JSON reply) are left to JSON.parse and record.ts scans
 * few events per stream; the gain is in the events that match a template (~0.1-0.15 µs each).
 */

export const SCAN_OK = 1;
export const SCAN_BAIL = 0;
/** Deeper documents are left to JSON.parse (which has its own limit). */
export const MAX_DEPTH = 32;

const BAIL = -1;
// Summaries of a value as take() sees it.
const ABSENT = 0; // missing, or read through a non-object (undefined)
const NULL = 1;
const STRING = 2;
const OTHER = 3; // a boolean, array or object: not nullish, not a string
const NUMBER = 4; // a number (numValue): not nullish, not a string

/** An event's characters around the one string token its text came from, and its usage. */
export interface Template {
  prefix: string;
  suffix: string;
  /** usage.prompt_tokens and completion_tokens of the event (prompt undefined: no valid usage). */
  prompt: number | undefined;
  completion: number | undefined;
}

/** What one document adds; read by the caller after SCAN_OK. */
export interface Found {
  content: string;
  /** Whether the document's usage is valid (then prompt/completion hold it). */
  usage: boolean;
  prompt: number;
  completion: number;
  /** After a full scan: the document as a template, when its text came from exactly one string. */
  template: Template | undefined;
}

// Scanner state (module-level: one scan at a time; JavaScript is single-threaded).
let S = "";
let END = 0;
let kind = ABSENT; // summary of the last value scanned with scanValue / scanHolder
let strValue = ""; // value of the last string scanned, when STRING
let tokStart = 0; // the token range of that string (quotes included)
let tokEnd = 0;
let numValue = 0;
// usage as usageOf() reads it (uPrompt undefined: no valid usage so far)
let uPrompt: number | undefined;
let uCompletion: number | undefined;
// the text this document adds, and where it came from
let docContent = "";
let contributions = 0;
let holeStart = 0;
let holeEnd = 0;

function ws(i: number): number {
  while (i < END) {
    const c = S.charCodeAt(i);
    if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) i++;
    else break;
  }
  return i;
}

let strEscaped = false;
/**
 * A string token at `i` (the opening quote): returns the index after its closing quote or BAIL.
 * Without escapes the value is S[i+1, end-1); with escapes JSON.parse of the literal checks and
 * decodes it (into strValue).
 */
function scanString(i: number): number {
  let j = i + 1;
  strEscaped = false;
  for (;;) {
    if (j >= END) return BAIL;
    const c = S.charCodeAt(j);
    if (c === 0x22) break;
    if (c < 0x20) return BAIL;
    if (c === 0x5c) {
      strEscaped = true;
      j += 2; // skip the escaped character; JSON.parse below validates the escape
      continue;
    }
    j++;
  }
  if (strEscaped) {
    try {
      strValue = JSON.parse(S.slice(i, j + 1)) as string;
    } catch {
      return BAIL;
    }
  }
  return j + 1;
}

/** The value of the string just scanned from `i` to `end`. */
function stringAt(i: number, end: number): string {
  return strEscaped ? strValue : S.slice(i + 1, end - 1);
}

/** Whether the string just scanned from `i` to `end` is the key `name`. */
function keyIs(i: number, end: number, name: string): boolean {
  if (strEscaped) return strValue === name;
  return end - i - 2 === name.length && S.startsWith(name, i + 1);
}

/** The character at `j`, or -1 past the document. */
function at(j: number): number {
  return j < END ? S.charCodeAt(j) : -1;
}

/** A number token at `i`: returns its end or BAIL (RFC 8259 grammar, exactly). */
function scanNumber(i: number): number {
  let j = i;
  let c = at(j);
  if (c === 0x2d) c = at(++j);
  if (c === 0x30) c = at(++j);
  else if (c >= 0x31 && c <= 0x39) {
    do c = at(++j);
    while (c >= 0x30 && c <= 0x39);
  } else return BAIL;
  if (c === 0x2e) {
    c = at(++j);
    if (!(c >= 0x30 && c <= 0x39)) return BAIL;
    do c = at(++j);
    while (c >= 0x30 && c <= 0x39);
  }
  if (c === 0x65 || c === 0x45) {
    c = at(++j);
    if (c === 0x2b || c === 0x2d) c = at(++j);
    if (!(c >= 0x30 && c <= 0x39)) return BAIL;
    do c = at(++j);
    while (c >= 0x30 && c <= 0x39);
  }
  return j;
}

/** The number token S[i, end) as JSON.parse reads it. */
function numberAt(i: number, end: number): number {
  if (end - i <= 15) {
    let n = 0;
    let k = i;
    for (; k < end; k++) {
      const c = S.charCodeAt(k);
      if (c < 0x30 || c > 0x39) break;
      n = n * 10 + (c - 0x30);
    }
    if (k === end) return n; // plain digits below 10^15: exact
  }
  return JSON.parse(S.slice(i, end)) as number;
}

function literal(i: number, word: string): number {
  return i + word.length <= END && S.startsWith(word, i) ? i + word.length : BAIL;
}

/** Any value at `i`, validated and skipped; sets `kind` (and strValue, tokStart/End or numValue). */
function scanValue(i: number, depth: number): number {
  if (i >= END) return BAIL;
  const c = S.charCodeAt(i);
  if (c === 0x22) {
    const end = scanString(i);
    if (end === BAIL) return BAIL;
    kind = STRING;
    strValue = stringAt(i, end);
    tokStart = i;
    tokEnd = end;
    return end;
  }
  if (c === 0x6e) {
    kind = NULL;
    return literal(i, "null");
  }
  kind = OTHER;
  if (c === 0x7b) return skipObject(i, depth + 1);
  if (c === 0x5b) return skipArray(i, depth + 1);
  if (c === 0x74) return literal(i, "true");
  if (c === 0x66) return literal(i, "false");
  const end = scanNumber(i);
  if (end === BAIL) return BAIL;
  kind = NUMBER;
  numValue = numberAt(i, end);
  return end;
}

/** Skips a value without keeping it. */
function skipValue(i: number, depth: number): number {
  if (i >= END) return BAIL;
  const c = S.charCodeAt(i);
  if (c === 0x22) return scanString(i);
  if (c === 0x7b) return skipObject(i, depth + 1);
  if (c === 0x5b) return skipArray(i, depth + 1);
  if (c === 0x6e) return literal(i, "null");
  if (c === 0x74) return literal(i, "true");
  if (c === 0x66) return literal(i, "false");
  return scanNumber(i);
}

/** After a member's value at `i`: the index after `}` (negated... see callers), or the next key's index. */
function afterMember(i: number): number {
  i = ws(i);
  if (i >= END) return BAIL;
  const c = S.charCodeAt(i);
  if (c === 0x7d) return CLOSED;
  if (c !== 0x2c) return BAIL;
  return ws(i + 1);
}
const CLOSED = -2;

/** After `"key"` at `i`: the index of its value (past the colon), or BAIL. */
function colon(i: number): number {
  i = ws(i);
  if (i >= END || S.charCodeAt(i) !== 0x3a) return BAIL;
  return ws(i + 1);
}

function skipObject(i: number, depth: number): number {
  if (depth > MAX_DEPTH) return BAIL;
  i = ws(i + 1);
  if (i < END && S.charCodeAt(i) === 0x7d) return i + 1;
  for (;;) {
    if (i >= END || S.charCodeAt(i) !== 0x22) return BAIL;
    i = scanString(i);
    if (i === BAIL) return BAIL;
    i = colon(i);
    if (i === BAIL) return BAIL;
    i = skipValue(i, depth);
    if (i === BAIL) return BAIL;
    const next = afterMember(i);
    if (next === CLOSED) return ws(i) + 1;
    if (next === BAIL) return BAIL;
    i = next;
  }
}

function skipArray(i: number, depth: number): number {
  if (depth > MAX_DEPTH) return BAIL;
  i = ws(i + 1);
  if (i < END && S.charCodeAt(i) === 0x5d) return i + 1;
  for (;;) {
    i = skipValue(i, depth);
    if (i === BAIL) return BAIL;
    i = ws(i);
    if (i >= END) return BAIL;
    const c = S.charCodeAt(i);
    if (c === 0x5d) return i + 1;
    if (c !== 0x2c) return BAIL;
    i = ws(i + 1);
  }
}

/**
 * A choice's `delta` or `message` at `i`: sets `kind`, `strValue` and tokStart/End to what
 * `holder?.content` gives (ABSENT when the holder is not an object or has no content).
 */
function scanHolder(i: number, depth: number): number {
  if (i >= END) return BAIL;
  if (S.charCodeAt(i) !== 0x7b) {
    const end = skipValue(i, depth);
    kind = ABSENT;
    return end;
  }
  depth++;
  if (depth > MAX_DEPTH) return BAIL;
  let content = ABSENT;
  let contentStr = "";
  let cs = 0;
  let ce = 0;
  i = ws(i + 1);
  if (i < END && S.charCodeAt(i) === 0x7d) {
    kind = ABSENT;
    return i + 1;
  }
  for (;;) {
    if (i >= END || S.charCodeAt(i) !== 0x22) return BAIL;
    const k = i;
    i = scanString(i);
    if (i === BAIL) return BAIL;
    const isContent = keyIs(k, i, "content");
    i = colon(i);
    if (i === BAIL) return BAIL;
    if (isContent) {
      i = scanValue(i, depth);
      if (i === BAIL) return BAIL;
      content = kind;
      contentStr = strValue;
      cs = tokStart;
      ce = tokEnd;
    } else {
      i = skipValue(i, depth);
      if (i === BAIL) return BAIL;
    }
    const next = afterMember(i);
    if (next === CLOSED) {
      kind = content;
      strValue = contentStr;
      tokStart = cs;
      tokEnd = ce;
      return ws(i) + 1;
    }
    if (next === BAIL) return BAIL;
    i = next;
  }
}

function contribute(text: string, start: number, end: number): void {
  docContent += text;
  if (++contributions === 1) {
    holeStart = start;
    holeEnd = end;
  }
}

/** One element of `choices`: adds its content (as contentOf() picks it) to docContent. */
function scanChoice(i: number, depth: number): number {
  if (S.charCodeAt(i) !== 0x7b) return skipValue(i, depth); // not an object: contentOf gives ""
  depth++;
  if (depth > MAX_DEPTH) return BAIL;
  let delta = ABSENT;
  let deltaStr = "";
  let ds = 0;
  let de = 0;
  let message = ABSENT;
  let messageStr = "";
  let ms = 0;
  let me = 0;
  let text = ABSENT;
  let textStr = "";
  let xs = 0;
  let xe = 0;
  i = ws(i + 1);
  if (i < END && S.charCodeAt(i) === 0x7d) return i + 1;
  for (;;) {
    if (i >= END || S.charCodeAt(i) !== 0x22) return BAIL;
    const k = i;
    i = scanString(i);
    if (i === BAIL) return BAIL;
    const which = keyIs(k, i, "delta") ? 1 : keyIs(k, i, "message") ? 2 : keyIs(k, i, "text") ? 3 : 0;
    i = colon(i);
    if (i === BAIL) return BAIL;
    if (which === 0) i = skipValue(i, depth);
    else i = which === 3 ? scanValue(i, depth) : scanHolder(i, depth);
    if (i === BAIL) return BAIL;
    if (which === 1) {
      delta = kind;
      deltaStr = strValue;
      ds = tokStart;
      de = tokEnd;
    } else if (which === 2) {
      message = kind;
      messageStr = strValue;
      ms = tokStart;
      me = tokEnd;
    } else if (which === 3) {
      text = kind;
      textStr = strValue;
      xs = tokStart;
      xe = tokEnd;
    }
    const next = afterMember(i);
    if (next === CLOSED) break;
    if (next === BAIL) return BAIL;
    i = next;
  }
  // contentOf: the first of delta.content, message.content, text that is not nullish; added if a string.
  if (delta !== ABSENT && delta !== NULL) {
    if (delta === STRING) contribute(deltaStr, ds, de);
  } else if (message !== ABSENT && message !== NULL) {
    if (message === STRING) contribute(messageStr, ms, me);
  } else if (text === STRING) contribute(textStr, xs, xe);
  return ws(i) + 1;
}

/** A `choices` array at `i` (its `[`). */
function scanChoices(i: number, depth: number): number {
  depth++;
  i = ws(i + 1);
  if (i < END && S.charCodeAt(i) === 0x5d) return i + 1;
  for (;;) {
    if (i >= END) return BAIL;
    i = scanChoice(i, depth);
    if (i === BAIL) return BAIL;
    i = ws(i);
    if (i >= END) return BAIL;
    const c = S.charCodeAt(i);
    if (c === 0x5d) return i + 1;
    if (c !== 0x2c) return BAIL;
    i = ws(i + 1);
  }
}

/** A top-level `usage` value: sets uPrompt/uCompletion as usageOf() reads them. */
function scanUsage(i: number, depth: number): number {
  uPrompt = undefined;
  uCompletion = undefined;
  if (i >= END) return BAIL;
  if (S.charCodeAt(i) !== 0x7b) return skipValue(i, depth); // not an object: no usage
  depth++;
  if (depth > MAX_DEPTH) return BAIL;
  let prompt: number | undefined;
  let completion: number | undefined;
  i = ws(i + 1);
  if (i < END && S.charCodeAt(i) === 0x7d) return i + 1;
  for (;;) {
    if (i >= END || S.charCodeAt(i) !== 0x22) return BAIL;
    const k = i;
    i = scanString(i);
    if (i === BAIL) return BAIL;
    const which = keyIs(k, i, "prompt_tokens") ? 1 : keyIs(k, i, "completion_tokens") ? 2 : 0;
    i = colon(i);
    if (i === BAIL) return BAIL;
    if (which !== 0) {
      i = scanValue(i, depth);
      if (i === BAIL) return BAIL;
      const n = kind === NUMBER ? numValue : undefined;
      if (which === 1) prompt = n;
      else completion = n;
    } else {
      i = skipValue(i, depth);
      if (i === BAIL) return BAIL;
    }
    const next = afterMember(i);
    if (next === CLOSED) {
      uPrompt = prompt;
      uCompletion = completion;
      return ws(i) + 1;
    }
    if (next === BAIL) return BAIL;
    i = next;
  }
}

/** The top-level object at `i` (its `{`). */
function scanTop(i: number): number {
  const depth = 1;
  i = ws(i + 1);
  if (i < END && S.charCodeAt(i) === 0x7d) return i + 1;
  for (;;) {
    if (i >= END || S.charCodeAt(i) !== 0x22) return BAIL;
    const k = i;
    i = scanString(i);
    if (i === BAIL) return BAIL;
    const which = keyIs(k, i, "choices") ? 1 : keyIs(k, i, "usage") ? 2 : keyIs(k, i, "type") ? 3 : 0;
    i = colon(i);
    if (i === BAIL) return BAIL;
    if (which === 1) {
      // the last `choices` wins
      docContent = "";
      contributions = 0;
      i = i < END && S.charCodeAt(i) === 0x5b ? scanChoices(i, depth) : skipValue(i, depth);
    } else if (which === 2) i = scanUsage(i, depth);
    else if (which === 3) {
      i = scanValue(i, depth);
      if (kind === STRING) return BAIL; // a string type: an Anthropic document, take() reads it
    } else i = skipValue(i, depth);
    if (i === BAIL) return BAIL;
    const next = afterMember(i);
    if (next === CLOSED) return ws(i) + 1;
    if (next === BAIL) return BAIL;
    i = next;
  }
}

function reset(): void {
  S = "";
  docContent = "";
  strValue = "";
}

/**
 * Scans the document text[start, end) (JSON whitespace allowed around it). On SCAN_OK, `found`
 * holds what take() would add, and a template when the document's text came from exactly one
 * string token.
 */
export function scanDocument(text: string, start: number, end: number, found: Found): number {
  S = text;
  END = end;
  docContent = "";
  contributions = 0;
  uPrompt = undefined;
  uCompletion = undefined;
  const i = ws(start);
  // Not an object: valid or not, take() adds nothing from it (skipValue validates it).
  const r = i < END && text.charCodeAt(i) === 0x7b ? scanTop(i) : skipValue(i, 0);
  if (r === BAIL || ws(r) !== end) {
    reset();
    return SCAN_BAIL;
  }
  found.content = docContent;
  found.usage = uPrompt !== undefined;
  found.prompt = uPrompt ?? 0;
  found.completion = uCompletion ?? 0;
  found.template = contributions === 1 ? { prefix: text.slice(start, holeStart), suffix: text.slice(holeEnd, end), prompt: uPrompt, completion: uCompletion } : undefined;
  reset();
  return SCAN_OK;
}

/**
 * Whether text[start, end) is `t.prefix` + one JSON string literal + `t.suffix`; then `found` holds
 * what take() would add: that string, and the template's usage.
 */
export function matchTemplate(text: string, start: number, end: number, t: Template, found: Found): boolean {
  const close = end - t.suffix.length - 1; // the closing quote
  if (close <= start + t.prefix.length) return false;
  return matchAt(text, start, t.prefix, t.suffix, t, found) === end;
}

/**
 * Whether text at `start` is `prefix` + one JSON string literal + `suffix`: the index after the
 * suffix, or -1. On a match `found` holds the literal's string and the template's usage.
 */
export function matchAt(text: string, start: number, prefix: string, suffix: string, t: Template, found: Found): number {
  const open = start + prefix.length;
  if (text.charCodeAt(open) !== 0x22 || !text.startsWith(prefix, start)) return -1;
  // The literal: up to the first unescaped quote, with no control character (nor line end) inside.
  const n = text.length;
  let escaped = false;
  let close = open + 1;
  for (; ; close++) {
    if (close >= n) return -1;
    const c = text.charCodeAt(close);
    if (c === 0x22) break;
    if (c < 0x20) return -1;
    if (c === 0x5c) {
      escaped = true;
      close++; // the escaped character (JSON.parse below checks the escape)
    }
  }
  if (!text.startsWith(suffix, close + 1)) return -1;
  let value: string;
  if (escaped) {
    try {
      value = JSON.parse(text.slice(open, close + 1)) as string;
    } catch {
      return -1;
    }
  } else value = text.slice(open + 1, close);
  found.content = value;
  found.usage = t.prompt !== undefined;
  found.prompt = t.prompt ?? 0;
  found.completion = t.completion ?? 0;
  return close + 1 + suffix.length;
}
