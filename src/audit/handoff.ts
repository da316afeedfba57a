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
 * outcome null = no mark); then the request chunks and the response chunks (u32 count, then u32
 * length + bytes each).
 */
import type { HandOff } from "./record";

const NULL = 0xffffffff;
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

  private chunks(list: Uint8Array[]): void {
    this.u32(list.length);
    for (const c of list) {
      this.u32(c.length);
      this.room(c.length);
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
    this.chunks(h.request);
    this.chunks(h.response);
    this.count++;
  }

  /** The packed batch (its buffer is handed over: transfer it) and a fresh writer state. */
  take(): { buffer: ArrayBuffer; length: number; count: number } {
    const out = { buffer: this.buf.buffer as ArrayBuffer, length: this.at, count: this.count };
    this.buf = new Uint8Array(this.initial);
    this.view = new DataView(this.buf.buffer);
    this.at = 0;
    this.count = 0;
    return out;
  }
}

/** Unpacks a batch; bodies are views into `buffer`, not copies. */
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
  const chunks = () => {
    const out: Uint8Array[] = [];
    for (let i = u32(); i > 0; i--) {
      const n = u32();
      out.push(bytes.subarray(at, at + n));
      at += n;
    }
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
      request: chunks(),
      response: chunks(),
    });
  }
  return list;
}
