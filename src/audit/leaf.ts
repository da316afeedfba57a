/**
 * The audit worker's way from hand-off batches to ledger leaves: the same bytes as
 * `encode(toRecord(h, seq, entropy))` (./record.ts, the definition), written straight into one
 * packed buffer that goes to the WAL and the MMR as is.
 *
 * Per record the definition decodes 11 strings, builds the record object (and a few more), hashes
 * the bodies with a new hasher each, asks Rust for entropy twice, and JSON-encodes and UTF-8-encodes
 * the record; the leaves are then copied again into the FFI packing buffer. Here, for a whole
 * drained group of batches at once:
 *
 *   index    the field positions of every record (handoff.ts indexHandOffs): nothing decoded;
 *   extract  the reply decoded once (its body is contiguous) and read by extractText();
 *   hash     SHA-256 of both bodies, one-shot, into a digest table;
 *   analyse  each reply's text UTF-8-encoded straight into one entropy buffer (its long runs too),
 *            its word tokens into one token buffer (ASCII text without a regular expression);
 *   entropy  ONE byte-entropy and ONE token-entropy call for all records;
 *   write    the canonical JSON bytes: key order fixed, printable-ASCII strings copied byte for
 *            byte from the batch, any other string through JSON.stringify exactly as the definition
 *            does, numbers as JSON.stringify writes them, digests hex-encoded in place.
 *
 * leaf.test.ts holds the leaves equal to the definition's, byte for byte, over generated records
 * of every shape (nulls, non-ASCII and escaped strings, odd numbers, WAF marks, long replies).
 */
import { AT_FIRST_BYTE_US, AT_STATUS, AT_STREAMED, AT_TIME, AT_TOTAL_US, F, FIELDS, indexHandOffs, NULL_STRING, type HandOffIndex } from "./handoff";
import { extractText, HIGH_ENTROPY_BITS, HIGH_SPAN_BYTES, LOW_ENTROPY_BITS, LOW_TOKEN_ENTROPY_BITS, MIN_SPAN_BYTES, MIN_TOKENS, RECORD_VERSION, wordTokens } from "./record";

/** The Rust core's entropy functions over caller-packed spans (src/native). */
export interface PackedEntropy {
  byteEntropyPacked(bytes: Uint8Array, offsets: Uint32Array, count: number, out: Float64Array): void;
  tokenEntropyPacked(tokens: Uint32Array, offsets: Uint32Array, count: number, out: Float64Array): void;
}

/** One hand-off batch as the gateway transferred it. */
export interface Batch {
  buffer: ArrayBuffer;
  length: number;
}

/** The build's phases, for {@link LeafBuilder.profile}. */
export const PHASES = ["index", "extract", "hash", "analyse", "entropy", "write"] as const;

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const ascii = (s: string) => encoder.encode(s);
const HEX = ascii("0123456789abcdef");
const RUNS = /\s+/;

// The record's JSON around its values, in the canonical (sorted) key order.
const K_ANALYSIS = ascii('{"analysis":');
const K_CONTENT_BYTES = ascii('{"content_bytes":');
const K_ENTROPY = ascii(',"entropy_mbits":');
const K_FLAGS = ascii(',"flags":[');
const FLAG_REPETITION = ascii('"degenerate_repetition"');
const FLAG_HIGH = ascii('"high_entropy_span"');
const K_TOKEN_COUNT = ascii('],"token_count":');
const K_TOKEN_ENTROPY = ascii(',"token_entropy_mbits":');
const K_KEY_ID = ascii(',"key_id":');
const K_LATENCY = ascii(',"latency_us":{"total":');
const K_FIRST_BYTE = ascii(',"upstream_first_byte":');
const K_MODEL = ascii('},"model":');
const K_RATE_LIMIT = ascii(',"rate_limit":');
const K_OUTCOME = ascii('{"outcome":');
const K_REASON = ascii(',"reason":');
const K_SUBJECT = ascii(',"subject":');
const K_REFUSAL = ascii(',"refusal":');
const K_CODE = ascii('{"code":');
const K_STAGE = ascii(',"stage":');
const K_REQUEST_ID = ascii(',"request_id":');
const K_REQUEST_SHA = ascii(',"request_sha256":"');
const K_RESPONSE_SHA = ascii('","response_sha256":"');
const K_ROUTE = ascii('","route":');
const K_SEQ = ascii(',"seq":');
const K_STATUS = ascii(',"status":');
const K_TENANT = ascii(',"tenant":');
const K_TIME = ascii(',"time_ms":');
const K_UPSTREAM = ascii(',"upstream":');
const K_USAGE = ascii(',"usage":');
const K_COMPLETION = ascii('{"completion_tokens":');
const K_PROMPT = ascii(',"prompt_tokens":');
const K_WAF = ascii(`,"v":${RECORD_VERSION},"waf":[`);
const K_ACTION = ascii('{"action":');
const K_PARAM = ascii(',"param":');
const K_RULE = ascii(',"rule":');
const NULL_JSON = ascii("null");

/** Whole records' worth of room a leaf needs besides its strings (keys, numbers, digests, flags). */
const LEAF_FIXED_BYTES = 1024;

function grown<T extends Uint8Array | Uint32Array | Int32Array | Float64Array>(a: T, need: number): T {
  if (a.length >= need) return a;
  let n = a.length * 2;
  while (n < need) n *= 2;
  const b = new (a.constructor as new (n: number) => T)(n);
  return b;
}

/**
 * Word ids for one reply, in order of first occurrence, as wordTokens() gives them: an
 * open-addressing table of (start, length) in the text instead of a Map of substrings (which
 * hashed a fresh string per token: a quarter of the build in a profile).
 */
export class WordIds {
  private slots = new Int32Array(1024); // id + 1; 0: empty
  private used = new Int32Array(512); // the slots set for this text, to clear them after
  private starts = new Int32Array(512); // per id
  private lengths = new Int32Array(512);

  /**
   * Word tokens of ASCII `s` into out[at..]; their count, or -1 when `s` is not all ASCII (the
   * caller then uses wordTokens()). For ASCII, /[\p{L}\p{N}]+|[^\s\p{L}\p{N}]/gu is: runs of
   * [A-Za-z0-9], or any one character that is neither that nor \s ([\t\n\v\f\r ]).
   */
  ascii(s: string, out: Uint32Array, at: number): number {
    const len = s.length;
    if (this.slots.length < 2 * (len + 1)) {
      let size = this.slots.length;
      while (size < 2 * (len + 1)) size *= 2;
      this.slots = new Int32Array(size);
      this.used = new Int32Array(size >> 1);
      this.starts = new Int32Array(size >> 1);
      this.lengths = new Int32Array(size >> 1);
    }
    const slots = this.slots;
    const mask = slots.length - 1;
    const starts = this.starts;
    const lengths = this.lengths;
    let ids = 0;
    let n = 0;
    let i = 0;
    let result = -1;
    scan: {
      while (i < len) {
        const c = s.charCodeAt(i);
        if (c >= 0x80) break scan;
        const start = i;
        let h = c;
        if ((c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a)) {
          for (i++; i < len; i++) {
            const d = s.charCodeAt(i);
            if (!((d >= 0x30 && d <= 0x39) || (d >= 0x41 && d <= 0x5a) || (d >= 0x61 && d <= 0x7a))) break;
            h = (Math.imul(h, 31) + d) | 0;
          }
        } else if (c === 0x20 || (c >= 0x09 && c <= 0x0d)) {
          i++;
          continue;
        } else i++;
        const length = i - start;
        h ^= h >>> 15;
        h = Math.imul(h, 0x2c1b3c6d);
        h ^= h >>> 12;
        let slot = h & mask;
        let id: number;
        for (;;) {
          const v = slots[slot]!;
          if (v === 0) {
            id = ids++;
            slots[slot] = id + 1;
            this.used[id] = slot;
            starts[id] = start;
            lengths[id] = length;
            break;
          }
          id = v - 1;
          if (lengths[id] === length && same(s, starts[id]!, start, length)) break;
          slot = (slot + 1) & mask;
        }
        out[at + n++] = id;
      }
      result = n;
    }
    for (let k = 0; k < ids; k++) slots[this.used[k]!] = 0;
    return result;
  }
}

function same(s: string, a: number, b: number, length: number): boolean {
  for (let k = 0; k < length; k++) if (s.charCodeAt(a + k) !== s.charCodeAt(b + k)) return false;
  return true;
}

/**
 * Builds the leaves of hand-off batches. One per worker; its buffers are reused from call to call
 * (grown for a large batch, never shrunk below what the steady load needs).
 */
export class LeafBuilder {
  /** The packed leaves of the last build: leaf i is leaves[offsets[i]..offsets[i+1]]. */
  leaves = new Uint8Array(256 * 1024);
  offsets = new Uint32Array(257);
  count = 0;
  /** When set (a thread CPU clock, in any unit), build() adds each phase's time to `profile`. */
  clock: (() => number) | undefined;
  readonly profile = new Float64Array(PHASES.length);

  private index: HandOffIndex = { at: new Int32Array(FIELDS * 256), count: 0 };
  private views: DataView[] = [];
  private arrays: Uint8Array[] = [];
  private batchOf = new Int32Array(256);
  // per record
  private contents: string[] = [];
  private usageP = new Float64Array(256);
  private usageC = new Float64Array(256);
  private hasUsage = new Uint8Array(256);
  private digests = new Uint8Array(64 * 256);
  private readonly digest = new Uint8Array(64);
  private contentBytes = new Int32Array(256); // 0: no analysis
  private firstSpan = new Int32Array(256); // its byte spans: the whole text, then its long runs
  private spanCount = new Int32Array(256);
  private tokenSpan = new Int32Array(256);
  private tokenCount = new Int32Array(256);
  // entropy inputs and outputs
  private eBytes = new Uint8Array(128 * 1024);
  private eOffsets = new Uint32Array(513);
  private eOut = new Float64Array(512);
  private tokens = new Uint32Array(32 * 1024);
  private tOffsets = new Uint32Array(257);
  private tOut = new Float64Array(256);
  private readonly words = new WordIds();
  // leaf writing
  private o = this.leaves;
  private p = 0;

  private records(n: number): void {
    if (this.batchOf.length >= n) return;
    this.batchOf = grownKeep(this.batchOf, n); // filled batch by batch while indexing
    this.usageP = grown(this.usageP, n);
    this.usageC = grown(this.usageC, n);
    this.hasUsage = grown(this.hasUsage, n);
    this.digests = grown(this.digests, 64 * n);
    this.contentBytes = grown(this.contentBytes, n);
    this.firstSpan = grown(this.firstSpan, n);
    this.spanCount = grown(this.spanCount, n);
    this.tokenSpan = grown(this.tokenSpan, n);
    this.tokenCount = grown(this.tokenCount, n);
  }

  private mark(phase: number, since: number): number {
    const now = this.clock!();
    this.profile[phase] += now - since;
    return now;
  }

  /**
   * The leaves of every record in `batches`, in order, numbered from `firstSeq`, into
   * leaves/offsets; returns their count. Throws (having written nothing anywhere) on a damaged batch.
   */
  build(batches: readonly Batch[], firstSeq: number, entropy: PackedEntropy): number {
    const clock = this.clock;
    let t = clock === undefined ? 0 : clock();
    // index
    const index = this.index;
    index.count = 0;
    for (let b = 0; b < batches.length; b++) {
      const view = new DataView(batches[b]!.buffer, 0, batches[b]!.length);
      this.views.push(view);
      this.arrays.push(new Uint8Array(batches[b]!.buffer, 0, batches[b]!.length));
      const before = index.count;
      indexHandOffs(view, batches[b]!.length, index);
      this.records(index.count);
      this.batchOf.fill(b, before, index.count);
    }
    const n = index.count;
    const pos = index.at;
    if (clock !== undefined) t = this.mark(0, t);

    // extract: the reply's text and usage
    const contents = this.contents;
    for (let r = 0; r < n; r++) {
      const bytes = this.arrays[this.batchOf[r]!]!;
      const at = pos[r * FIELDS + F.response]!;
      const len = this.views[this.batchOf[r]!]!.getInt32(at, true);
      this.hasUsage[r] = 0;
      contents[r] = "";
      if (len === 0) continue; // extract() of nothing finds nothing
      const got = extractText(decoder.decode(bytes.subarray(at + 4, at + 4 + len)), bytes[pos[r * FIELDS + F.start]! + AT_STREAMED] === 1);
      contents[r] = got.content;
      if (got.usage !== null) {
        this.hasUsage[r] = 1;
        this.usageP[r] = got.usage.prompt_tokens;
        this.usageC[r] = got.usage.completion_tokens;
      }
    }
    if (clock !== undefined) t = this.mark(1, t);

    // hash both bodies
    const digest = this.digest;
    const digests = this.digests;
    for (let r = 0; r < n; r++) {
      const bytes = this.arrays[this.batchOf[r]!]!;
      const view = this.views[this.batchOf[r]!]!;
      for (let k = 0; k < 2; k++) {
        const at = pos[r * FIELDS + (k === 0 ? F.request : F.response)]!;
        const len = view.getInt32(at, true);
        Bun.SHA256.hash(bytes.subarray(at + 4, at + 4 + len), digest);
        const to = r * 64 + k * 32;
        for (let i = 0; i < 32; i++) digests[to + i] = digest[i]!;
      }
    }
    if (clock !== undefined) t = this.mark(2, t);

    // analyse: pack every text (and its long runs) and its word tokens
    let spans = 0;
    let eAt = 0;
    let tSpans = 0;
    let tAt = 0;
    for (let r = 0; r < n; r++) {
      const content = contents[r]!;
      if (content === "") {
        this.contentBytes[r] = 0;
        continue;
      }
      this.eBytes = grownKeep(this.eBytes, eAt + content.length * 3);
      const written = encoder.encodeInto(content, this.eBytes.subarray(eAt)).written;
      this.contentBytes[r] = written;
      this.firstSpan[r] = spans;
      this.eOffsets = grownKeep(this.eOffsets, spans + 2);
      this.eOffsets[spans] = eAt;
      eAt += written;
      this.eOffsets[++spans] = eAt;
      let runs = 0;
      if (content.length >= HIGH_SPAN_BYTES) {
        for (const w of content.split(RUNS)) {
          if (w.length < HIGH_SPAN_BYTES) continue;
          this.eBytes = grownKeep(this.eBytes, eAt + w.length * 3);
          eAt += encoder.encodeInto(w, this.eBytes.subarray(eAt)).written;
          this.eOffsets = grownKeep(this.eOffsets, spans + 2);
          this.eOffsets[++spans] = eAt;
          runs++;
        }
      }
      this.spanCount[r] = 1 + runs;
      // at most one token per UTF-16 unit
      this.tokens = grownKeep(this.tokens, tAt + content.length);
      let count = this.words.ascii(content, this.tokens, tAt);
      if (count < 0) {
        const ids = wordTokens(content);
        this.tokens.set(ids, tAt);
        count = ids.length;
      }
      this.tokenSpan[r] = tSpans;
      this.tokenCount[r] = count;
      this.tOffsets = grownKeep(this.tOffsets, tSpans + 2);
      this.tOffsets[tSpans] = tAt;
      tAt += count;
      this.tOffsets[++tSpans] = tAt;
    }
    if (clock !== undefined) t = this.mark(3, t);

    // entropy: two FFI calls for the whole group
    if (this.eOut.length < spans) this.eOut = grown(this.eOut, spans);
    if (this.tOut.length < tSpans) this.tOut = grown(this.tOut, tSpans);
    entropy.byteEntropyPacked(this.eBytes, this.eOffsets, spans, this.eOut);
    entropy.tokenEntropyPacked(this.tokens, this.tOffsets, tSpans, this.tOut);
    if (clock !== undefined) t = this.mark(4, t);

    // write the leaves
    this.offsets = grownKeep(this.offsets, n + 1);
    this.o = this.leaves;
    this.p = 0;
    this.offsets[0] = 0;
    for (let r = 0; r < n; r++) {
      this.leaf(r, firstSeq + r);
      this.offsets[r + 1] = this.p;
    }
    this.leaves = this.o;
    this.count = n;
    if (clock !== undefined) this.mark(5, t);

    // let go of the batches and the texts
    this.views.length = 0;
    this.arrays.length = 0;
    contents.length = 0;
    return n;
  }

  // ---- writing --------------------------------------------------------------------------------

  private room(n: number): void {
    if (this.p + n <= this.o.length) return;
    let size = this.o.length * 2;
    while (size < this.p + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.o.subarray(0, this.p));
    this.o = next;
  }

  /** Constant bytes (room already made by the caller's estimate). */
  private lit(k: Uint8Array): void {
    const o = this.o;
    let p = this.p;
    for (let i = 0; i < k.length; i++) o[p++] = k[i]!;
    this.p = p;
  }

  /** A number as JSON.stringify writes it: String(n) when finite, else null. */
  private num(n: number): void {
    const o = this.o;
    if ((n | 0) === n && n >= 0) {
      // a small non-negative integer (-0 included: "0"), digit by digit
      let digits = 1;
      for (let x = n; x >= 10; x = (x / 10) | 0) digits++;
      let p = this.p + digits;
      this.p = p;
      let x = n;
      do {
        const q = (x / 10) | 0;
        o[--p] = 0x30 + (x - q * 10);
        x = q;
      } while (x > 0);
      return;
    }
    if (n > 0 && n <= Number.MAX_SAFE_INTEGER && Math.floor(n) === n) {
      // a larger integer (a time in ms): two int32 halves of 9 digits, not the double-to-string path
      let hi = Math.floor(n / 1e9);
      let lo = n - hi * 1e9; // exact below 2^53; the division may have rounded up or down by one
      if (lo < 0) {
        hi--;
        lo += 1e9;
      } else if (lo >= 1e9) {
        hi++;
        lo -= 1e9;
      }
      this.num(hi);
      let p = this.p + 9;
      this.p = p;
      for (let k = 0; k < 9; k++) {
        const q = (lo / 10) | 0;
        o[--p] = 0x30 + (lo - q * 10);
        lo = q;
      }
      return;
    }
    const s = Number.isFinite(n) ? String(n) : "null";
    let p = this.p;
    for (let i = 0; i < s.length; i++) o[p++] = s.charCodeAt(i);
    this.p = p;
  }

  /** The string (or null) whose length word is at `at` in `src`, as JSON.stringify writes it. */
  private str(src: Uint8Array, view: DataView, at: number): void {
    const len = view.getInt32(at, true);
    if (len === NULL_STRING) return this.lit(NULL_JSON);
    this.room(len + 2);
    const o = this.o;
    const start = this.p;
    let p = start;
    o[p++] = 0x22;
    const from = at + 4;
    const end = from + len;
    for (let i = from; i < end; i++) {
      const b = src[i]!;
      // printable ASCII but " and \: JSON.stringify writes it as it is
      if (b < 0x20 || b > 0x7e || b === 0x22 || b === 0x5c) return this.strSlow(src, from, end, start);
      o[p++] = b;
    }
    o[p++] = 0x22;
    this.p = p;
  }

  /** What the definition does: decode, JSON.stringify, UTF-8 encode. */
  private strSlow(src: Uint8Array, from: number, end: number, start: number): void {
    const json = JSON.stringify(decoder.decode(src.subarray(from, end)));
    this.p = start;
    this.room(json.length * 3);
    this.p += encoder.encodeInto(json, this.o.subarray(this.p)).written;
  }

  private hex(digests: Uint8Array, from: number): void {
    const o = this.o;
    let p = this.p;
    for (let i = from; i < from + 32; i++) {
      const b = digests[i]!;
      o[p++] = HEX[b >> 4]!;
      o[p++] = HEX[b & 15]!;
    }
    this.p = p;
  }

  private leaf(r: number, seq: number): void {
    const pos = this.index.at;
    const base = r * FIELDS;
    const src = this.arrays[this.batchOf[r]!]!;
    const view = this.views[this.batchOf[r]!]!;
    const start = pos[base + F.start]!;
    this.room(LEAF_FIXED_BYTES);

    this.lit(K_ANALYSIS);
    const bytes = this.contentBytes[r]!;
    if (bytes === 0) this.lit(NULL_JSON);
    else {
      const span = this.firstSpan[r]!;
      const whole = this.eOut[span]!;
      let high = false;
      for (let s = span + 1; s < span + this.spanCount[r]!; s++) if (this.eOut[s]! > HIGH_ENTROPY_BITS) high = true;
      const tokens = this.tokenCount[r]!;
      const perToken = this.tOut[this.tokenSpan[r]!]!;
      const repetitive = (bytes >= MIN_SPAN_BYTES && whole < LOW_ENTROPY_BITS) || (tokens >= MIN_TOKENS && perToken < LOW_TOKEN_ENTROPY_BITS);
      this.lit(K_CONTENT_BYTES);
      this.num(bytes);
      this.lit(K_ENTROPY);
      this.num(Math.round(whole * 1000));
      this.lit(K_FLAGS);
      if (repetitive) this.lit(FLAG_REPETITION);
      if (repetitive && high) this.o[this.p++] = 0x2c;
      if (high) this.lit(FLAG_HIGH);
      this.lit(K_TOKEN_COUNT);
      this.num(tokens);
      this.lit(K_TOKEN_ENTROPY);
      this.num(Math.round(perToken * 1000));
      this.o[this.p++] = 0x7d;
    }
    this.lit(K_KEY_ID);
    this.str(src, view, pos[base + F.keyId]!);
    this.room(LEAF_FIXED_BYTES);
    this.lit(K_LATENCY);
    this.num(Math.round(view.getFloat64(start + AT_TOTAL_US, true)));
    this.lit(K_FIRST_BYTE);
    const firstByte = view.getFloat64(start + AT_FIRST_BYTE_US, true);
    if (Number.isNaN(firstByte)) this.lit(NULL_JSON);
    else this.num(Math.round(firstByte));
    this.lit(K_MODEL);
    this.str(src, view, pos[base + F.model]!);
    this.room(LEAF_FIXED_BYTES);
    this.lit(K_RATE_LIMIT);
    if (view.getInt32(pos[base + F.rateOutcome]!, true) === NULL_STRING) this.lit(NULL_JSON);
    else {
      this.lit(K_OUTCOME);
      this.str(src, view, pos[base + F.rateOutcome]!);
      this.room(LEAF_FIXED_BYTES);
      this.lit(K_REASON);
      this.str(src, view, pos[base + F.rateReason]!);
      this.room(LEAF_FIXED_BYTES);
      this.lit(K_SUBJECT);
      this.str(src, view, pos[base + F.rateSubject]!);
      this.room(LEAF_FIXED_BYTES);
      this.o[this.p++] = 0x7d;
    }
    this.lit(K_REFUSAL);
    if (view.getInt32(pos[base + F.refusalStage]!, true) === NULL_STRING || view.getInt32(pos[base + F.refusalCode]!, true) === NULL_STRING) this.lit(NULL_JSON);
    else {
      this.lit(K_CODE);
      this.str(src, view, pos[base + F.refusalCode]!);
      this.room(LEAF_FIXED_BYTES);
      this.lit(K_STAGE);
      this.str(src, view, pos[base + F.refusalStage]!);
      this.room(LEAF_FIXED_BYTES);
      this.o[this.p++] = 0x7d;
    }
    this.lit(K_REQUEST_ID);
    this.str(src, view, pos[base + F.requestId]!);
    this.room(LEAF_FIXED_BYTES);
    this.lit(K_REQUEST_SHA);
    this.hex(this.digests, r * 64);
    this.lit(K_RESPONSE_SHA);
    this.hex(this.digests, r * 64 + 32);
    this.lit(K_ROUTE);
    this.str(src, view, pos[base + F.route]!);
    this.room(LEAF_FIXED_BYTES);
    this.lit(K_SEQ);
    this.num(seq);
    this.lit(K_STATUS);
    this.num(view.getUint16(start + AT_STATUS, true));
    this.lit(K_TENANT);
    this.str(src, view, pos[base + F.tenant]!);
    this.room(LEAF_FIXED_BYTES);
    this.lit(K_TIME);
    this.num(view.getFloat64(start + AT_TIME, true));
    this.lit(K_UPSTREAM);
    this.str(src, view, pos[base + F.upstream]!);
    this.room(LEAF_FIXED_BYTES);
    this.lit(K_USAGE);
    if (this.hasUsage[r] === 0) this.lit(NULL_JSON);
    else {
      this.lit(K_COMPLETION);
      this.num(this.usageC[r]!);
      this.lit(K_PROMPT);
      this.num(this.usageP[r]!);
      this.o[this.p++] = 0x7d;
    }
    this.lit(K_WAF);
    let at = pos[base + F.waf]!;
    const marks = view.getInt32(at, true);
    at += 4;
    for (let m = 0; m < marks; m++) {
      // the batch holds rule, action, param; the record action, param, rule
      const rule = at;
      const action = skipString(view, rule);
      const param = skipString(view, action);
      at = skipString(view, param);
      this.room(LEAF_FIXED_BYTES);
      if (m > 0) this.o[this.p++] = 0x2c;
      this.lit(K_ACTION);
      this.str(src, view, action);
      this.room(LEAF_FIXED_BYTES);
      this.lit(K_PARAM);
      this.str(src, view, param);
      this.room(LEAF_FIXED_BYTES);
      this.lit(K_RULE);
      this.str(src, view, rule);
      this.room(LEAF_FIXED_BYTES);
      this.o[this.p++] = 0x7d;
    }
    this.room(8);
    this.o[this.p++] = 0x5d;
    this.o[this.p++] = 0x7d;
  }
}

function skipString(view: DataView, at: number): number {
  const n = view.getInt32(at, true);
  return n === NULL_STRING ? at + 4 : at + 4 + n;
}

/** `a` with room for `need` entries, its contents kept. */
function grownKeep<T extends Uint8Array | Uint32Array | Int32Array>(a: T, need: number): T {
  if (a.length >= need) return a;
  const b = grown(a, need);
  b.set(a as never);
  return b;
}
