/**
 * The audit record and its canonical bytes (the ledger leaf).
 *
 * Encoding, version 1: the record as JSON with every object's keys in lexicographic order, no
 * whitespace, integers only (durations in microseconds, entropy in millibits per symbol),
 * strings escaped as JSON.stringify does. For this subset that is exactly RFC 8785 (JCS), so a
 * third party re-encodes a record with any JCS library and gets the same leaf hash:
 * SHA-256(0x00 ‖ canonical bytes). The `v` field names the encoding version.
 *
 * The hot path hands over a {@link HandOff} (cheap: references, no hashing, no encoding).
 * `encode(toRecord(h, seq))` is the definition of its leaf; the audit worker writes the same bytes
 * straight from the packed hand-off batch with ./leaf.ts (leaf.test.ts holds the two equal).
 */

import { takeAnthropic } from "../providers/anthropic/usage";
import { matchAt, matchTemplate, SCAN_OK, scanDocument, type Found, type Template } from "./scan";

/** v2: `waf` holds findings (rule, action, param) and `rate_limit` the limiter's outcome. */
export const RECORD_VERSION = 2;

/** A WAF rule that matched: never the matched text, which may be the very secret it found. */
export interface WafMark {
  action: string; // block | redact | flag
  param: string; // where in the request, e.g. messages[1].content
  rule: string; // e.g. secret.aws_access_key
}

/** What rate limiting decided; null when no limit applied to the caller. */
export interface RateLimitMark {
  outcome: "allowed" | "limited" | "unenforced"; // unenforced: the shared store was down, fail-open
  reason: string | null; // requests | tokens | concurrency, when limited
  subject: string | null; // key:<id> or tenant:<id> that was limited
}

/** What the request path knows when it finishes. Bodies travel as the chunks it already holds. */
export interface HandOff {
  time: number; // ms since the epoch at arrival
  requestId: string;
  keyId: string | null;
  tenant: string | null;
  route: string;
  model: string | null;
  upstream: string | null;
  status: number;
  /** Why Warden refused or failed the request itself (stage and stable error code), if it did. */
  refusal: { stage: string; code: string } | null;
  /** Microseconds: whole request as Warden saw it, and until the upstream's first byte. */
  totalUs: number;
  upstreamFirstByteUs: number | null;
  request: Uint8Array[];
  response: Uint8Array[];
  /** The response was an SSE stream (content is in `data:` events), not one JSON document. */
  streamed: boolean;
  waf: WafMark[];
  rateLimit: RateLimitMark | null;
}

export interface Analysis {
  content_bytes: number;
  entropy_mbits: number; // byte entropy of the reply's text, millibits per byte
  flags: string[]; // "degenerate_repetition" | "high_entropy_span"
  token_count: number;
  token_entropy_mbits: number; // entropy of the reply's word tokens, millibits per token
}

/** The Rust core's entropy functions (src/native), batched over spans. */
export interface Entropy {
  byteEntropy(spans: Uint8Array[]): Float64Array;
  tokenEntropy(spans: Uint32Array[]): Float64Array;
}

/** Keys in lexicographic order at every level: the object literal order is the canonical order. */
export interface AuditRecord {
  analysis: Analysis | null;
  key_id: string | null;
  latency_us: { total: number; upstream_first_byte: number | null };
  model: string | null;
  rate_limit: RateLimitMark | null;
  refusal: { code: string; stage: string } | null;
  request_id: string;
  request_sha256: string;
  response_sha256: string;
  route: string;
  seq: number;
  status: number;
  tenant: string | null;
  time_ms: number;
  upstream: string | null;
  usage: { completion_tokens: number; prompt_tokens: number } | null;
  v: number;
  waf: WafMark[];
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function sha256Hex(chunks: Uint8Array[]): string {
  const h = new Bun.CryptoHasher("sha256");
  for (const c of chunks) h.update(c);
  return h.digest("hex");
}

function text(chunks: Uint8Array[]): string {
  if (chunks.length === 1) return decoder.decode(chunks[0]);
  return chunks.map((c) => decoder.decode(c, { stream: true })).join("") + decoder.decode();
}

export interface Extracted {
  content: string;
  usage: AuditRecord["usage"];
}

function usageOf(u: unknown): AuditRecord["usage"] {
  const x = u as { prompt_tokens?: unknown; completion_tokens?: unknown } | null | undefined;
  if (typeof x?.prompt_tokens !== "number") return null;
  return { completion_tokens: typeof x.completion_tokens === "number" ? x.completion_tokens : 0, prompt_tokens: x.prompt_tokens };
}

function contentOf(choice: any): string {
  return choice?.delta?.content ?? choice?.message?.content ?? choice?.text ?? "";
}

/**
 * Adds one parsed document of a reply (a JSON reply, or one SSE event's data) to `out`: what
 * extract() reads. ./scan.ts reads the same off the text for OpenAI documents; a change here must
 * be mirrored there (or make the scanner bail), and extract.test.ts holds the two equal.
 */
function take(doc: any, out: Extracted): void {
  if (takeAnthropic(doc, out)) return;
  for (const choice of Array.isArray(doc?.choices) ? doc.choices : []) {
    const c = contentOf(choice);
    if (typeof c === "string") out.content += c;
  }
  out.usage = usageOf(doc?.usage) ?? out.usage;
}

/**
 * Reply text and usage from an OpenAI JSON reply or SSE stream, or an Anthropic one (POST
 * /v1/messages, see src/providers/anthropic/usage.ts); empty when it is neither.
 */
export function extract(chunks: Uint8Array[], streamed: boolean): Extracted {
  return extractText(text(chunks), streamed);
}

/**
 * extract() by its definition: JSON.parse of the reply, or of every SSE event's data up to the
 * first that does not parse, each given to take(). {@link extractText} must equal it.
 */
export function extractByParse(body: string, streamed: boolean): Extracted {
  const out: Extracted = { content: "", usage: null };
  try {
    if (!streamed) {
      take(JSON.parse(body), out);
      return out;
    }
    for (const line of body.split("\n")) {
      if (!line.startsWith("data:")) continue;
      const data = line.slice(5).trim();
      if (data === "[DONE]" || data === "") continue;
      take(JSON.parse(data), out);
    }
  } catch {
    // A reply we cannot read (an error page, a cut stream) is still hashed and recorded.
  }
  return out;
}

const found: Found = { content: "", usage: false, prompt: 0, completion: 0, template: undefined };

/** One document by its definition: JSON.parse + take(). False: it does not parse (stop there). */
function parseDocument(data: string, out: Extracted): boolean {
  try {
    take(JSON.parse(data), out);
    return true;
  } catch {
    return false;
  }
}

/** Full scans per stream looking for a template (a scan costs several JSON.parse): a stream that never repeats one stops trying. */
const TEMPLATE_SCANS = 3;

/** String.prototype.trim's white space (WhiteSpace and LineTerminator). */
function isTrimmed(c: number): boolean {
  if (c <= 0x20) return c === 0x20 || (c >= 0x09 && c <= 0x0d);
  if (c < 0xa0) return false;
  return c === 0xa0 || c === 0x1680 || (c >= 0x2000 && c <= 0x200a) || c === 0x2028 || c === 0x2029 || c === 0x202f || c === 0x205f || c === 0x3000 || c === 0xfeff;
}

/**
 * {@link extract} of a decoded reply: the same result as {@link extractByParse}. A JSON reply is
 * parsed; in a stream, one event is scanned for a template (./scan.ts) and the events that fit it
 * are read without JSON.parse; the others are parsed.
 */
export function extractText(body: string, streamed: boolean): Extracted {
  const out: Extracted = { content: "", usage: null };
  if (!streamed) {
    parseDocument(body, out); // one document: JSON.parse is as fast as a scan
    return out;
  }
  let template: Template | undefined;
  // The template as whole lines: `data:` and the blanks trimmed off plus the prefix; the suffix plus
  // the blanks trimmed off the end. A line that is head + literal + tail + "\n" is, once trimmed,
  // prefix + literal + suffix: read it without looking for the line's end first.
  let head = "";
  let tail = "";
  let scans = 0; // full scans, each offering a template; none after one bails
  let hits = 0; // events read with the current template
  let events = 0;
  const n = body.length;
  // The lines of body.split("\n"); an event is `data:` + its data, trimmed.
  for (let p = 0; p <= n; ) {
    if (body.charCodeAt(p) === 0x0a) {
      p++; // an empty line (between events)
      continue;
    }
    if (template !== undefined) {
      const end = matchAt(body, p, head, tail, template, found);
      if (end >= 0 && (end === n || body.charCodeAt(end) === 0x0a)) {
        hits++;
        if (found.content !== "") out.content += found.content;
        if (found.usage) out.usage = { completion_tokens: found.completion, prompt_tokens: found.prompt };
        p = end + 1;
        continue;
      }
    }
    let e = body.indexOf("\n", p);
    if (e < 0) e = n;
    if (e - p >= 5 && body.startsWith("data:", p)) {
      let a = p + 5;
      let b = e;
      while (a < b && isTrimmed(body.charCodeAt(a))) a++;
      while (b > a && isTrimmed(body.charCodeAt(b - 1))) b--;
      if (b > a && !(b - a === 6 && body.startsWith("[DONE]", a))) {
        let read = template !== undefined && matchTemplate(body, a, b, template, found);
        if (read) hits++;
        // Scan for a template while none has been of use yet; not the first event (OpenAI's
        // carries the role and an empty text, unlike the rest); a miss after hits is most likely
        // the stream's tail (finish reason, usage): parse it.
        else if (hits === 0 && events > 0 && scans < TEMPLATE_SCANS) {
          scans++;
          read = scanDocument(body, a, b, found) === SCAN_OK;
          if (!read) scans = TEMPLATE_SCANS; // an unusual stream (or not OpenAI's): parse it all
          else if (found.template !== undefined) {
            template = found.template;
            found.template = undefined;
            head = body.slice(p, a) + template.prefix;
            tail = template.suffix + body.slice(b, e);
            hits = 0;
          }
        }
        events++;
        if (read) {
          if (found.content !== "") out.content += found.content;
          if (found.usage) out.usage = { completion_tokens: found.completion, prompt_tokens: found.prompt };
        } else if (!parseDocument(body.slice(a, b), out)) break;
      }
    }
    p = e + 1;
  }
  return out;
}

/** Thresholds of the response analysis. */
export const LOW_ENTROPY_BITS = 1.0; // per byte
export const LOW_TOKEN_ENTROPY_BITS = 1.5; // per word token
export const HIGH_ENTROPY_BITS = 5.2; // per byte
export const MIN_SPAN_BYTES = 64;
export const MIN_TOKENS = 32;
export const HIGH_SPAN_BYTES = 256;
const WORD_TOKENS = /[\p{L}\p{N}]+|[^\s\p{L}\p{N}]/gu;

/**
 * Word tokens of the reply as ids (the same word, the same id). A stand-in for the model's own
 * tokenizer: for entropy only the distribution matters, and a BPE tokenizer costs ~140 MiB to load.
 */
export function wordTokens(content: string): Uint32Array {
  const ids = new Map<string, number>();
  const words = content.match(WORD_TOKENS) ?? [];
  const out = new Uint32Array(words.length);
  for (let i = 0; i < words.length; i++) {
    let id = ids.get(words[i]);
    if (id === undefined) ids.set(words[i], (id = ids.size));
    out[i] = id;
  }
  return out;
}

/**
 * Flags degenerate repetition (very low entropy of bytes or of word tokens over a long reply:
 * "the the the ..." has 2 bits per byte but 0 per token) and encoded or random payloads (a long
 * run without spaces whose entropy is that of base64 or random bytes, which prose never
 * reaches: English text sits near 4-4.5 bits per byte).
 */
export function analyse(content: string, entropy: Entropy): Analysis | null {
  const bytes = encoder.encode(content);
  if (bytes.length === 0) return null;
  const runs = content.split(/\s+/).filter((w) => w.length >= HIGH_SPAN_BYTES).map((w) => encoder.encode(w));
  const [whole, ...spans] = entropy.byteEntropy([bytes, ...runs]);
  const tokens = wordTokens(content);
  const [perToken] = entropy.tokenEntropy([tokens]);
  const flags: string[] = [];
  const repetitive = (bytes.length >= MIN_SPAN_BYTES && whole < LOW_ENTROPY_BITS) || (tokens.length >= MIN_TOKENS && perToken < LOW_TOKEN_ENTROPY_BITS);
  if (repetitive) flags.push("degenerate_repetition");
  if (spans.some((h) => h > HIGH_ENTROPY_BITS)) flags.push("high_entropy_span");
  return {
    content_bytes: bytes.length,
    entropy_mbits: Math.round(whole * 1000),
    flags,
    token_count: tokens.length,
    token_entropy_mbits: Math.round(perToken * 1000),
  };
}

export function toRecord(h: HandOff, seq: number, entropy: Entropy): AuditRecord {
  const { content, usage } = extract(h.response, h.streamed);
  return {
    analysis: analyse(content, entropy),
    key_id: h.keyId,
    latency_us: { total: Math.round(h.totalUs), upstream_first_byte: h.upstreamFirstByteUs === null ? null : Math.round(h.upstreamFirstByteUs) },
    model: h.model,
    rate_limit: h.rateLimit === null ? null : { outcome: h.rateLimit.outcome, reason: h.rateLimit.reason, subject: h.rateLimit.subject },
    refusal: h.refusal === null ? null : { code: h.refusal.code, stage: h.refusal.stage },
    request_id: h.requestId,
    request_sha256: sha256Hex(h.request),
    response_sha256: sha256Hex(h.response),
    route: h.route,
    seq,
    status: h.status,
    tenant: h.tenant,
    time_ms: h.time,
    upstream: h.upstream,
    usage,
    v: RECORD_VERSION,
    waf: h.waf.map((w) => ({ action: w.action, param: w.param, rule: w.rule })),
  };
}

/**
 * JSON with sorted keys and integer numbers only: RFC 8785 for the values records hold.
 * Sorting here (not trusting construction order) keeps the encoding canonical for records read
 * back from storage or built elsewhere.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value === "boolean" || typeof value === "string") return JSON.stringify(value);
  if (typeof value === "number") {
    if (!Number.isSafeInteger(value)) throw new Error(`canonical records hold integers only, got ${value}`);
    return String(value);
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (typeof value === "object") {
    const keys = Object.keys(value as object).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`).join(",")}}`;
  }
  throw new Error(`cannot encode ${typeof value} in a record`);
}

/**
 * Canonical bytes of a record built by {@link toRecord}: the ledger leaf. toRecord builds keys
 * in sorted order, so JSON.stringify already is canonical and several times faster than
 * {@link canonicalJson}; the tests and `warden verify` hold the two equal.
 */
export function encode(record: AuditRecord): Uint8Array {
  return encoder.encode(JSON.stringify(record));
}

export function decode(bytes: Uint8Array): AuditRecord {
  return JSON.parse(decoder.decode(bytes)) as AuditRecord;
}
