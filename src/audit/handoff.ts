/**
 * The hand-off wire format between the request path and the audit worker: records packed into
 * one ArrayBuffer that is *transferred* (not copied) with the batch's single postMessage.
 *
 * Why not post the objects: structured-cloning HandOff objects (strings, arrays of Uint8Array)
 * took ~9% of the gateway's main-thread CPU at c=32 (bun --cpu-prof). Packing is a few stores
 * and one memcpy per body, and the transfer is free.
 *
 * Layout per record (little-endian): f64 time, f64 totalUs, f64 upstreamFirstByteUs (NaN = null),
 * u16 status, u8 streamed, then 8 optional strings (u32 byte length, 0xFFFFFFFF = null, UTF-8):
 * requestId, keyId, tenant, route, model, upstream, refusal stage, refusal code; the WAF marks
 * (u32 count, then rule, action, param each); the rate-limit mark (outcome, reason, subject;
 * outcome null = no mark); then the request body and the response body, each as u32 length +
 * bytes: the chunks the request path holds, written back to back. The ledger needs only the
 * concatenation (the hashes and the reply's text are over the whole body), and one contiguous body
 * is hashed and decoded in one call, without a streaming decoder.
 *
 * The audit worker reads a batch in place ({@link indexHandOffs}: field positions, no strings, no
 * objects); {@link readHandOffs} unpacks it into HandOff objects.
 */
import type { HandOff } from "./record";

const NULL = 0xffffffff;
const MAX_START_BYTES = 1 << 20;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

export class HandOffWriter {
  private buf: Uint8Array;
  private view: DataView;
  private at = 0;
  count = 0;

  constructor(private readonly initial = 64 * 1024) {
    this.buf = new Uint8Array(initial);
    this.view = new DataView(this.buf.buffer);
  }

  private room(n: number): void {
    if (this.at + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.at + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.at));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  private u32(n: number): void {
    this.room(4);
    this.view.setUint32(this.at, n, true);
    this.at += 4;
  }

  private str(s: string | null): void {
    if (s === null) return this.u32(NULL);
    this.room(4 + s.length * 3); // worst case UTF-8 growth
    const { written } = encoder.encodeInto(s, this.buf.subarray(this.at + 4));
    this.view.setUint32(this.at, written, true);
    this.at += 4 + written;
  }

  /** A body: its chunks back to back, after their total length. */
  private body(list: Uint8Array[]): void {
    let total = 0;
    for (const c of list) total += c.length;
    this.u32(total);
    this.room(total);
    for (const c of list) {
      this.buf.set(c, this.at);
      this.at += c.length;
    }
  }

  write(h: HandOff): void {
    this.room(27);
    const v = this.view;
    v.setFloat64(this.at, h.time, true);
    v.setFloat64(this.at + 8, h.totalUs, true);
    v.setFloat64(this.at + 16, h.upstreamFirstByteUs ?? Number.NaN, true);
    v.setUint16(this.at + 24, h.status, true);
    this.buf[this.at + 26] = h.streamed ? 1 : 0;
    this.at += 27;
    this.str(h.requestId);
    this.str(h.keyId);
    this.str(h.tenant);
    this.str(h.route);
    this.str(h.model);
    this.str(h.upstream);
    this.str(h.refusal?.stage ?? null);
    this.str(h.refusal?.code ?? null);
    this.u32(h.waf.length);
    for (const w of h.waf) {
      this.str(w.rule);
      this.str(w.action);
      this.str(w.param);
    }
    this.str(h.rateLimit?.outcome ?? null);
    this.str(h.rateLimit?.reason ?? null);
    this.str(h.rateLimit?.subject ?? null);
    this.body(h.request);
    this.body(h.response);
    this.count++;
  }

  /** The packed batch (its buffer is handed over: transfer it) and a fresh writer state. */
  take(): { buffer: ArrayBuffer; length: number; count: number } {
    const out = { buffer: this.buf.buffer as ArrayBuffer, length: this.at, count: this.count };
    // The next batch is likely about this big: start there rather than grow it by copying on the
    // request path (up to a cap, so one huge reply does not make every buffer huge).
    let size = this.initial;
    while (size < this.at && size < MAX_START_BYTES) size *= 2;
    this.buf = new Uint8Array(size);
    this.view = new DataView(this.buf.buffer);
    this.at = 0;
    this.count = 0;
    return out;
  }
}

/** Unpacks a batch; bodies are views into `buffer` (one chunk each, none when empty), not copies. */
export function readHandOffs(buffer: ArrayBuffer, length: number): HandOff[] {
  const bytes = new Uint8Array(buffer, 0, length);
  const v = new DataView(buffer, 0, length);
  let at = 0;
  const u32 = () => {
    const n = v.getUint32(at, true);
    at += 4;
    return n;
  };
  const str = () => {
    const n = u32();
    if (n === NULL) return null;
    const s = decoder.decode(bytes.subarray(at, at + n));
    at += n;
    return s;
  };
  const body = () => {
    const n = u32();
    const out = n === 0 ? [] : [bytes.subarray(at, at + n)];
    at += n;
    return out;
  };
  const list: HandOff[] = [];
  while (at < length) {
    const time = v.getFloat64(at, true);
    const totalUs = v.getFloat64(at + 8, true);
    const firstByte = v.getFloat64(at + 16, true);
    const status = v.getUint16(at + 24, true);
    const streamed = bytes[at + 26] === 1;
    at += 27;
    const requestId = str()!;
    const keyId = str();
    const tenant = str();
    const route = str()!;
    const model = str();
    const upstream = str();
    const stage = str();
    const code = str();
    const waf: HandOff["waf"] = [];
    for (let i = u32(); i > 0; i--) waf.push({ rule: str()!, action: str()!, param: str()! });
    const outcome = str() as NonNullable<HandOff["rateLimit"]>["outcome"] | null;
    const reason = str();
    const subject = str();
    list.push({
      time,
      totalUs,
      upstreamFirstByteUs: Number.isNaN(firstByte) ? null : firstByte,
      status,
      streamed,
      requestId,
      keyId,
      tenant,
      route,
      model,
      upstream,
      refusal: stage === null || code === null ? null : { stage, code },
      waf,
      rateLimit: outcome === null ? null : { outcome, reason, subject },
      request: body(),
      response: body(),
    });
  }
  return list;
}

/**
 * Positions of one record's fields in a batch (see the layout above), {@link FIELDS} per record
 * in {@link HandOffIndex.at}: the record's start (the f64s, status and streamed flag), then the
 * u32 length word of each string and body.
 */
export const F = {
  start: 0,
  requestId: 1,
  keyId: 2,
  tenant: 3,
  route: 4,
  model: 5,
  upstream: 6,
  refusalStage: 7,
  refusalCode: 8,
  /** The WAF marks' u32 count; the marks' strings (rule, action, param each) follow it. */
  waf: 9,
  rateOutcome: 10,
  rateReason: 11,
  rateSubject: 12,
  request: 13,
  response: 14,
} as const;
export const FIELDS = 15;
/** Offsets from a record's start. */
export const AT_TIME = 0;
export const AT_TOTAL_US = 8;
export const AT_FIRST_BYTE_US = 16; // NaN: null
export const AT_STATUS = 24;
export const AT_STREAMED = 26;
/**
 * The length word of a null string, read with getInt32 (0xFFFFFFFF). The worker reads length
 * words as int32: lengths stay below 2^31, and int32 reads keep JavaScriptCore's optimised
 * DataView path (uint32 reads that are sometimes above 2^31 fell back to native calls: a third
 * of the build's time in a profile).
 */
export const NULL_STRING = -1;

export interface HandOffIndex {
  /** FIELDS positions per record; grown as needed, reused across calls. */
  at: Int32Array;
  count: number;
}

/** The position after the string or body whose length word is at `at`; -1 past `length`. */
function after(view: DataView, at: number, length: number): number {
  if (at < 0 || at + 4 > length) return -1;
  const n = view.getInt32(at, true);
  const end = n === NULL_STRING ? at + 4 : n < 0 ? -1 : at + 4 + n;
  return end > length ? -1 : end;
}

/**
 * Indexes the records of a batch into `index` (appending after index.count): positions only,
 * nothing decoded. Throws on a batch that does not hold whole records.
 */
export function indexHandOffs(view: DataView, length: number, index: HandOffIndex): void {
  let at = 0;
  while (at < length) {
    if (index.at.length < (index.count + 1) * FIELDS) {
      const grown = new Int32Array(Math.max(index.at.length * 2, (index.count + 1) * FIELDS));
      grown.set(index.at);
      index.at = grown;
    }
    const pos = index.at;
    const base = index.count * FIELDS;
    pos[base] = at;
    at += 27;
    for (let f = F.requestId; f <= F.refusalCode && at >= 0; f++) {
      pos[base + f] = at;
      at = after(view, at, length);
    }
    if (at < 0 || at + 4 > length) break;
    pos[base + F.waf] = at;
    let marks = view.getInt32(at, true);
    at += 4;
    for (; marks > 0 && at >= 0; marks--) at = after(view, after(view, after(view, at, length), length), length);
    for (let f = F.rateOutcome; f <= F.response && at >= 0; f++) {
      pos[base + f] = at;
      at = after(view, at, length);
    }
    if (at < 0) break;
    index.count++;
  }
  if (at !== length) throw new Error(`hand-off batch is damaged: record ${index.count} does not end within its ${length} bytes`);
}
