/**
 * The TypeScript side of the FFI boundary: loads Warden's Rust core (ffi/) through bun:ffi.
 *
 * The library is embedded in the compiled binary. Bun would extract it to $TMPDIR itself, but it
 * re-uses any same-size file found there without checking its content, and a `noexec` temp dir
 * fails with "failed to map segment". So we extract it ourselves into the state directory, name
 * it by content hash, and check its SHA-256 against the value build.ts baked in before dlopen.
 *
 * Calling conventions (see DESIGN.md, "Platform facts"): a bun:ffi call costs a few ns, a
 * TypedArray argument ~14 ns, `toArrayBuffer` ~85 ns. So every binding passes caller-allocated
 * TypedArrays (bun:ffi hands Rust their data pointer), reuses per-library scratch buffers (one
 * 64 KiB read buffer, one 65-hash proof buffer, growable packing buffers), and batches: a whole
 * group of WAL records or MMR leaves is packed into one buffer plus a u32 offsets table and goes
 * over in ONE call. Steady-state calls allocate nothing but their results. JavaScript is
 * single-threaded and every call here is synchronous, so sharing the scratch buffers between the
 * handles of one library is safe; results are always copied out before the next call.
 *
 * Handles are opaque Rust pointers kept as numbers. `close()` nulls the number before Rust frees
 * the handle, so a second close is a no-op, and any later use throws a NativeError in
 * TypeScript instead of passing a dangling pointer. Closing the library closes its handles first.
 */
import { dlopen, FFIType, type Library, type Pointer } from "bun:ffi";
import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import embeddedLibrary from "../../ffi/target/release/libwarden_core.so" with { type: "file" };

/** SHA-256 (hex) of the library, injected by build.ts; absent when running from source. */
declare const WARDEN_CORE_SHA256: string | undefined;

export const ERR_BUFFER_TOO_SMALL = -1;
export const ERR_PANIC = -99;

/** Status codes of the WAL exports (ffi/src/wal.rs). */
export const WAL_ERROR = {
  BUFFER_TOO_SMALL: -1,
  IO: -2,
  INVALID: -3,
  NOT_FOUND: -4,
  CORRUPT: -5,
  TOO_LARGE: -6,
  NOSPACE: -7,
  READONLY: -8,
  FAILED: -9,
  FORMAT: -10,
  LOCKED: -11,
  PANIC: -99,
} as const;

/** Status codes of the MMR exports (ffi/src/mmr.rs). */
export const MMR_ERROR = {
  BUFFER_TOO_SMALL: -1,
  IO: -2,
  RANGE: -3,
  ARG: -4,
  POISONED: -5,
  LOCKED: -6,
  PANIC: -99,
} as const;

/** Status codes of the entropy exports (ffi/src/entropy.rs). */
export const ENTROPY_ERROR = { BUFFER_TOO_SMALL: -1, ARG: -3, PANIC: -99 } as const;

/** Largest WAL payload (a C2SP tlog-tiles entry carries a 16-bit length). */
export const WAL_MAX_PAYLOAD = 65_535;
/** Hashes in the longest inclusion or consistency proof (tree sizes below 2^63). */
export const MMR_MAX_PROOF_HASHES = 65;

const { ptr, u64, u8, i32, i64_fast } = FFIType;
/** size_t: Warden ships for 64-bit targets only (bun-types does not declare FFIType.usize). */
const usize = FFIType.u64;
const symbols = {
  warden_core_version: { args: [ptr, usize], returns: i32 },
  warden_core_selftest_panic: { args: [], returns: i32 },

  warden_wal_open: { args: [ptr, usize, u64, u64, ptr, ptr, usize], returns: i64_fast },
  warden_wal_close: { args: [ptr], returns: i32 },
  warden_wal_append: { args: [ptr, u8, ptr, ptr, usize], returns: i64_fast },
  warden_wal_sync: { args: [ptr], returns: i32 },
  warden_wal_len: { args: [ptr], returns: i64_fast },
  warden_wal_durable_len: { args: [ptr], returns: i64_fast },
  warden_wal_read: { args: [ptr, u64, ptr, usize, ptr], returns: i64_fast },
  warden_wal_read_batch: { args: [ptr, u64, usize, ptr, usize, ptr, ptr], returns: i64_fast },
  warden_wal_last_error: { args: [ptr, ptr, usize], returns: i64_fast },

  warden_mmr_open: { args: [ptr, usize, ptr], returns: i32 },
  warden_mmr_close: { args: [ptr], returns: i32 },
  warden_mmr_append: { args: [ptr, ptr, usize], returns: i64_fast },
  warden_mmr_append_leaves: { args: [ptr, ptr, ptr, usize], returns: i64_fast },
  warden_mmr_size: { args: [ptr], returns: i64_fast },
  warden_mmr_sync: { args: [ptr], returns: i32 },
  warden_mmr_truncate: { args: [ptr, u64], returns: i32 },
  warden_mmr_root: { args: [ptr, u64, ptr], returns: i32 },
  warden_mmr_inclusion: { args: [ptr, u64, u64, ptr, usize], returns: i32 },
  warden_mmr_consistency: { args: [ptr, u64, u64, ptr, usize], returns: i32 },
  warden_mmr_leaf_hash: { args: [ptr, u64, ptr], returns: i32 },
  warden_mmr_check: { args: [ptr, u64], returns: i64_fast },

  warden_entropy_bytes: { args: [ptr, usize, ptr, usize, ptr, usize], returns: i32 },
  warden_entropy_tokens: { args: [ptr, usize, ptr, usize, ptr, usize], returns: i32 },
} as const;

type Symbols = Library<typeof symbols>["symbols"];

/** Which part of the core an error code belongs to (the same number means different things). */
export type NativeDomain = "wal" | "mmr" | "entropy";

const CODE_NAMES: Record<NativeDomain, Record<number, string>> = {
  wal: invert(WAL_ERROR),
  mmr: invert(MMR_ERROR),
  entropy: invert(ENTROPY_ERROR),
};

function invert(table: Record<string, number>): Record<number, string> {
  return Object.fromEntries(Object.entries(table).map(([name, code]) => [code, name]));
}

/** A negative status from the Rust core, or a call the binding refused before reaching it. */
export class NativeError extends Error {
  /** The status code (see WAL_ERROR, MMR_ERROR, ENTROPY_ERROR for the domain). */
  readonly code: number;
  /** The code's name in its domain, e.g. "CORRUPT", "RANGE"; "UNKNOWN" for an unlisted code. */
  readonly codeName: string;
  readonly domain: NativeDomain;

  constructor(domain: NativeDomain, code: number, message: string) {
    const codeName = CODE_NAMES[domain][code] ?? "UNKNOWN";
    super(`${message} [${domain} ${codeName} ${code}]`);
    this.name = "NativeError";
    this.domain = domain;
    this.code = code;
    this.codeName = codeName;
  }
}

/** What WAL recovery found and did on open (ffi/src/wal.rs `Recovery::to_json`). */
export interface WalOpenReport {
  records: number;
  segments: number;
  watermark: number;
  truncated_records: number;
  truncated_bytes: number;
  removed_segments: string[];
  damage: null | Record<string, unknown>;
}

export interface WalRecord {
  type: number;
  payload: Uint8Array;
}

/** The write-ahead log of the audit ledger (ffi/src/wal.rs). One handle per directory. */
export interface Wal {
  readonly report: WalOpenReport;
  /** Appends records of one type in ONE FFI call (pack them into one buffer + offsets); returns the first seq. Not durable until sync(). */
  append(type: number, records: Uint8Array[]): number;
  /**
   * Like append() for records the caller already packed: record i is bytes[offsets[i]..offsets[i+1]],
   * `offsets` holds count + 1 entries. One FFI call, no copy.
   */
  appendPacked(type: number, bytes: Uint8Array, offsets: Uint32Array, count: number): number;
  /** One fsync covering everything appended so far. A failure is fatal for the handle (reopen). */
  sync(): void;
  /** Records in the log, durable or not. */
  length(): number;
  /** Records known durable (present at open or covered by a successful sync). */
  durableLength(): number;
  read(seq: number): WalRecord;
  /** Up to `maxCount` records from `fromSeq` on, across segments; [] at the end of the log. */
  readBatch(fromSeq: number, maxCount: number): WalRecord[];
  /** Releases the handle and its directory lock. Does NOT sync: call sync() first. Idempotent. */
  close(): void;
}

/** The ledger's Merkle mountain range (ffi/src/mmr.rs), RFC 9162 roots and proofs. */
export interface Mmr {
  /** Raw leaf bytes (hashed as SHA-256(0x00 ‖ leaf) in Rust), one FFI call; returns the new size. */
  appendLeaves(leaves: Uint8Array[]): number;
  /** Like appendLeaves() for leaves the caller already packed (leaf i = bytes[offsets[i]..offsets[i+1]]): no copy. */
  appendPacked(bytes: Uint8Array, offsets: Uint32Array, count: number): number;
  /** Pre-computed leaf hashes, 32·n bytes, one FFI call; returns the new size. */
  appendHashes(hashes: Uint8Array): number;
  size(): number;
  sync(): void;
  truncate(n: number): void;
  /** RFC 9162 root of the first `size` leaves (default: all). */
  root(size?: number): Uint8Array;
  inclusionProof(index: number, size: number): Uint8Array[];
  consistencyProof(size1: number, size2: number): Uint8Array[];
  leafHash(index: number): Uint8Array;
  /** First leaf whose stored interior nodes are damaged, from `fromLeaf` on; size() when none. */
  check(fromLeaf: number): number;
  /** Releases the handle and its file lock. Does NOT sync: call sync() first. Idempotent. */
  close(): void;
}

export interface NativeCore {
  path: string;
  sha256: string;
  version: string;
  /** Calls the deliberately panicking export; returns its status code (ERR_PANIC). */
  selftestPanic(): number;
  /** Opens (creating when needed) and recovers the WAL in `dir`. Throws NativeError. */
  openWal(dir: string, opts: { segmentBytes?: number; watermark: number }): Wal;
  /** Opens (creating when needed) the MMR node file at `path`. Throws NativeError. */
  openMmr(path: string): Mmr;
  /** Shannon entropy in bits per byte of each span, in one FFI call. */
  byteEntropy(spans: Uint8Array[]): Float64Array;
  /** Shannon entropy in bits per token of each span of token ids, in one FFI call. */
  tokenEntropy(spans: Uint32Array[]): Float64Array;
  /** byteEntropy() of spans the caller packed (span i = bytes[offsets[i]..offsets[i+1]]) into out[0..count): no copy, no allocation. */
  byteEntropyPacked(bytes: Uint8Array, offsets: Uint32Array, count: number, out: Float64Array): void;
  /** tokenEntropy() of packed spans of token ids, like byteEntropyPacked(). */
  tokenEntropyPacked(tokens: Uint32Array, offsets: Uint32Array, count: number, out: Float64Array): void;
  /** Closes every open WAL and MMR handle, then the library. Idempotent. */
  close(): void;
}

function sha256Hex(bytes: Uint8Array): string {
  return new Bun.CryptoHasher("sha256").update(bytes).digest("hex");
}
/** Bytes of the library this binary carries. */
export async function embeddedBytes(): Promise<Uint8Array> {
  return new Uint8Array(await Bun.file(embeddedLibrary).arrayBuffer());
}

/**
 * Writes the embedded library to `<dataDir>/lib/libwarden_core-<sha>.so` (unless a file with the
 * right content is already there), verifies it, and returns its path.
 */
export async function extractLibrary(dataDir: string): Promise<{ path: string; sha256: string }> {
  const bytes = await embeddedBytes();
  const actual = sha256Hex(bytes);
  const expected = typeof WARDEN_CORE_SHA256 === "string" ? WARDEN_CORE_SHA256 : actual;
  if (actual !== expected) throw new Error(`embedded core library is corrupt: sha256 ${actual}, expected ${expected}`);
  const dir = join(dataDir, "lib");
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const path = join(dir, `libwarden_core-${expected.slice(0, 16)}.so`);
  if (!existsSync(path) || sha256Hex(readFileSync(path)) !== expected) {
    const tmp = `${path}.${process.pid}.tmp`;
    writeFileSync(tmp, bytes, { mode: 0o500 });
    renameSync(tmp, path); // atomic: a concurrent start never dlopens a half-written file
  }
  // Check the file we are about to map, not the bytes we meant to write.
  const onDisk = sha256Hex(readFileSync(path));
  if (onDisk !== expected) throw new Error(`core library at ${path} has sha256 ${onDisk}, expected ${expected}`);
  chmodSync(path, 0o500);
  return { path, sha256: expected };
}

/** Opens an already-extracted library (the audit worker does this with the path serve passes it). */
export function openCore(path: string, sha256: string): NativeCore {
  const lib = dlopen(path, symbols);
  const buf = new Uint8Array(64);
  const n = lib.symbols.warden_core_version(buf, buf.length);
  if (n < 0) throw new Error(`core library version call failed with status ${n}`);
  const core = new Core(lib.symbols, () => lib.close());
  return {
    path,
    sha256,
    version: new TextDecoder().decode(buf.subarray(0, n)),
    selftestPanic: () => core.live("entropy", "selftest").warden_core_selftest_panic(),
    openWal: (dir, opts) => core.openWal(dir, opts),
    openMmr: (file) => core.openMmr(file),
    byteEntropy: (spans) => core.byteEntropy(spans),
    tokenEntropy: (spans) => core.tokenEntropy(spans),
    byteEntropyPacked: (bytes, offsets, count, out) => core.entropyPacked("bytes", bytes, offsets, count, out),
    tokenEntropyPacked: (tokens, offsets, count, out) => core.entropyPacked("tokens", tokens, offsets, count, out),
    close: () => core.close(),
  };
}

/** Extracts, verifies and opens the core library. */
export async function loadCore(dataDir: string): Promise<NativeCore> {
  const { path, sha256 } = await extractLibrary(dataDir);
  return openCore(path, sha256);
}

// ------------------------------------------------------------------------------------------------
// Implementation
// ------------------------------------------------------------------------------------------------

const KIB = 1024;
const MIB = 1024 * KIB;
/** Packing buffers that grew past this for one huge batch are dropped afterwards. */
const KEEP_PACKING_BYTES = 16 * MIB;
const REPORT_BYTES = 4096; // "4096 bytes always suffice" for the WAL open report
const BATCH_READ_BYTES = 1 * MIB;
const BATCH_READ_RECORDS = 4096;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Scratch buffers shared by every handle of one loaded library (see the file comment). */
class Scratch {
  /** Packed record / leaf / span bytes. */
  bytes = new Uint8Array(64 * KIB);
  /** u32 offsets table: record i is bytes[offsets[i]..offsets[i+1]]. */
  offsets = new Uint32Array(1025);
  /** Packed token ids for tokenEntropy. */
  tokens = new Uint32Array(16 * KIB);
  /** One WAL record: 65 535 bytes always suffice. */
  readonly read = new Uint8Array(64 * KIB);
  readonly type = new Uint8Array(1);
  readonly message = new Uint8Array(REPORT_BYTES);
  readonly proof = new Uint8Array(MMR_MAX_PROOF_HASHES * 32);
  readonly hash = new Uint8Array(32);
  readonly handle = new BigUint64Array(1);
  batch: Uint8Array | undefined; // allocated on the first readBatch
  batchOffsets: Uint32Array | undefined;
  batchTypes: Uint8Array | undefined;

  /** Packs `spans` into bytes/offsets; returns the total byte count. */
  packBytes(spans: readonly Uint8Array[], domain: NativeDomain, what: string): number {
    const count = spans.length;
    let total = 0;
    for (let i = 0; i < count; i++) {
      const span = spans[i];
      if (!(span instanceof Uint8Array)) throw argError(domain, `${what}: item ${i} is not a Uint8Array`);
      total += span.length;
    }
    if (total > 0xffff_ffff) throw argError(domain, `${what}: ${total} bytes do not fit u32 offsets; split the batch`);
    if (this.bytes.length < total) this.bytes = new Uint8Array(grow(this.bytes.length, total));
    if (this.offsets.length < count + 1) this.offsets = new Uint32Array(grow(this.offsets.length, count + 1));
    const bytes = this.bytes;
    const offsets = this.offsets;
    let off = 0;
    offsets[0] = 0;
    for (let i = 0; i < count; i++) {
      const span = spans[i]!;
      bytes.set(span, off);
      off += span.length;
      offsets[i + 1] = off;
    }
    return total;
  }

  packTokens(spans: readonly Uint32Array[]): number {
    const count = spans.length;
    let total = 0;
    for (let i = 0; i < count; i++) {
      const span = spans[i];
      if (!(span instanceof Uint32Array)) throw argError("entropy", `tokenEntropy: item ${i} is not a Uint32Array`);
      total += span.length;
    }
    if (total > 0xffff_ffff) throw argError("entropy", `tokenEntropy: ${total} tokens do not fit u32 offsets`);
    if (this.tokens.length < total) this.tokens = new Uint32Array(grow(this.tokens.length, total));
    if (this.offsets.length < count + 1) this.offsets = new Uint32Array(grow(this.offsets.length, count + 1));
    let off = 0;
    this.offsets[0] = 0;
    for (let i = 0; i < count; i++) {
      const span = spans[i]!;
      this.tokens.set(span, off);
      off += span.length;
      this.offsets[i + 1] = off;
    }
    return total;
  }

  /** Drops packing buffers a single huge batch inflated, so they do not pin memory. */
  trim(): void {
    if (this.bytes.length > KEEP_PACKING_BYTES) this.bytes = new Uint8Array(64 * KIB);
    if (this.offsets.byteLength > KEEP_PACKING_BYTES) this.offsets = new Uint32Array(1025);
    if (this.tokens.byteLength > KEEP_PACKING_BYTES) this.tokens = new Uint32Array(16 * KIB);
  }

  /** The NUL-terminated message Rust wrote into `message`. */
  messageText(): string {
    const end = this.message.indexOf(0);
    return decoder.decode(this.message.subarray(0, end < 0 ? this.message.length : end));
  }
}

function grow(have: number, need: number): number {
  let n = Math.max(have, 64);
  while (n < need) n *= 2;
  return n;
}

/** The "invalid argument" code of each domain (what Rust answers for a null handle, too). */
const ARG_CODE: Record<NativeDomain, number> = { wal: WAL_ERROR.INVALID, mmr: MMR_ERROR.ARG, entropy: ENTROPY_ERROR.ARG };

function argError(domain: NativeDomain, message: string): NativeError {
  return new NativeError(domain, ARG_CODE[domain], message);
}

/**
 * Checks a caller-packed batch before Rust reads it: `items` of the right type, `offsets` a
 * Uint32Array of at least count + 1 non-decreasing entries ending within `items`.
 */
function checkPacked(domain: NativeDomain, what: string, items: unknown, type: typeof Uint8Array | typeof Uint32Array, offsets: unknown, count: number): void {
  if (!(items instanceof type)) throw argError(domain, `${what}: the packed items are not a ${type.name}`);
  if (!(offsets instanceof Uint32Array)) throw argError(domain, `${what}: offsets are not a Uint32Array`);
  if (!Number.isSafeInteger(count) || count < 0 || count > 0x7fff_ffff) throw argError(domain, `${what}: count must be a non-negative integer, got ${count}`);
  if (offsets.length < count + 1) throw argError(domain, `${what}: ${count} items need ${count + 1} offsets, got ${offsets.length}`);
  let prev = offsets[0]!;
  for (let i = 1; i <= count; i++) {
    const o = offsets[i]!;
    if (o < prev) throw argError(domain, `${what}: offsets decrease at ${i}`);
    prev = o;
  }
  if (prev > (items as Uint8Array | Uint32Array).length) throw argError(domain, `${what}: offsets end at ${prev}, past the ${(items as Uint8Array).length} packed items`);
}

/** `v` as a u64 argument: a non-negative safe integer (u64 arguments would wrap negatives). */
function u64Arg(domain: NativeDomain, what: string, v: number): number {
  if (!Number.isSafeInteger(v) || v < 0) throw argError(domain, `${what} must be a non-negative integer, got ${v}`);
  return v;
}

interface Closable {
  close(): void;
}

/** One loaded library: its symbols, scratch buffers and open handles. */
class Core {
  readonly scratch = new Scratch();
  readonly handles = new Set<Closable>();
  #syms: Symbols | undefined;

  constructor(
    syms: Symbols,
    private readonly closeLibrary: () => void,
  ) {
    this.#syms = syms;
  }

  /** The symbols, or a NativeError once the library is closed (its code is unmapped then). */
  live(domain: NativeDomain, op: string): Symbols {
    const syms = this.#syms;
    if (syms === undefined) throw argError(domain, `${op}: the core library is closed`);
    return syms;
  }

  close(): void {
    if (this.#syms === undefined) return;
    for (const h of [...this.handles]) h.close();
    this.#syms = undefined;
    this.closeLibrary();
  }

  openWal(dir: string, opts: { segmentBytes?: number; watermark: number }): Wal {
    const syms = this.live("wal", "openWal");
    const segmentBytes = u64Arg("wal", "segmentBytes", opts.segmentBytes ?? 0);
    const watermark = u64Arg("wal", "watermark", opts.watermark);
    const path = encoder.encode(dir);
    const s = this.scratch;
    s.handle[0] = 0n;
    s.message[0] = 0;
    const rc = syms.warden_wal_open(path, path.length, segmentBytes, watermark, s.handle, s.message, s.message.length) as number;
    const text = s.messageText();
    const h = Number(s.handle[0]);
    if (rc < 0 || h === 0) {
      if (h !== 0) syms.warden_wal_close(h as Pointer); // never leak a handle (cannot happen per the ABI)
      throw new NativeError("wal", rc < 0 ? rc : WAL_ERROR.INVALID, `opening the WAL in ${dir} failed: ${text || "no message"}`);
    }
    let report: WalOpenReport;
    try {
      report = JSON.parse(text) as WalOpenReport;
    } catch {
      syms.warden_wal_close(h as Pointer);
      throw new NativeError("wal", WAL_ERROR.INVALID, `opening the WAL in ${dir}: unreadable recovery report ${JSON.stringify(text)}`);
    }
    const wal = new WalHandle(this, syms, h as Pointer, dir, report);
    this.handles.add(wal);
    return wal;
  }

  openMmr(file: string): Mmr {
    const syms = this.live("mmr", "openMmr");
    const path = encoder.encode(file);
    const s = this.scratch;
    s.handle[0] = 0n;
    const rc = syms.warden_mmr_open(path, path.length, s.handle);
    const h = Number(s.handle[0]);
    if (rc < 0 || h === 0) {
      if (h !== 0) syms.warden_mmr_close(h as Pointer);
      throw mmrError(rc < 0 ? rc : MMR_ERROR.ARG, `opening the MMR node file ${file}`, file);
    }
    const mmr = new MmrHandle(this, syms, h as Pointer, file);
    this.handles.add(mmr);
    return mmr;
  }

  byteEntropy(spans: Uint8Array[]): Float64Array {
    const syms = this.live("entropy", "byteEntropy");
    const count = spans.length;
    const out = new Float64Array(count);
    if (count === 0) return out; // Rust insists on a non-null `out` even for no spans
    const s = this.scratch;
    const total = s.packBytes(spans, "entropy", "byteEntropy");
    const rc = syms.warden_entropy_bytes(s.bytes, total, s.offsets, count, out, count);
    s.trim();
    if (rc !== count) throw new NativeError("entropy", rc < 0 ? rc : ENTROPY_ERROR.ARG, `byteEntropy over ${count} spans failed`);
    return out;
  }

  /** byteEntropyPacked / tokenEntropyPacked (see NativeCore). */
  entropyPacked(kind: "bytes" | "tokens", items: Uint8Array | Uint32Array, offsets: Uint32Array, count: number, out: Float64Array): void {
    const what = kind === "bytes" ? "byteEntropyPacked" : "tokenEntropyPacked";
    const syms = this.live("entropy", what);
    checkPacked("entropy", what, items, kind === "bytes" ? Uint8Array : Uint32Array, offsets, count);
    if (!(out instanceof Float64Array) || out.length < count) throw argError("entropy", `${what}: out must be a Float64Array of at least ${count} entries`);
    if (count === 0) return; // Rust insists on a non-null `out` even for no spans
    const rc = kind === "bytes" ? syms.warden_entropy_bytes(items as Uint8Array, items.length, offsets, count, out, out.length) : syms.warden_entropy_tokens(items as Uint32Array, items.length, offsets, count, out, out.length);
    if (rc !== count) throw new NativeError("entropy", rc < 0 ? rc : ENTROPY_ERROR.ARG, `${what} over ${count} spans failed`);
  }

  tokenEntropy(spans: Uint32Array[]): Float64Array {
    const syms = this.live("entropy", "tokenEntropy");
    const count = spans.length;
    const out = new Float64Array(count);
    if (count === 0) return out;
    const s = this.scratch;
    const total = s.packTokens(spans);
    const rc = syms.warden_entropy_tokens(s.tokens, total, s.offsets, count, out, count);
    s.trim();
    if (rc !== count) throw new NativeError("entropy", rc < 0 ? rc : ENTROPY_ERROR.ARG, `tokenEntropy over ${count} spans failed`);
    return out;
  }
}

class WalHandle implements Wal {
  #h: Pointer | 0;

  constructor(
    private readonly core: Core,
    private readonly syms: Symbols,
    h: Pointer,
    readonly dir: string,
    readonly report: WalOpenReport,
  ) {
    this.#h = h;
  }

  /** The live handle, or a NativeError once closed (never a dangling pointer into Rust). */
  #live(op: string): Pointer {
    const h = this.#h;
    if (h === 0) throw new NativeError("wal", WAL_ERROR.INVALID, `WAL ${op} on ${this.dir}: the handle is closed`);
    return h;
  }

  /** Throws the error for status `rc` with the Rust side's message (warden_wal_last_error). */
  #fail(h: Pointer, op: string, rc: number): never {
    const s = this.core.scratch;
    s.message[0] = 0;
    const n = this.syms.warden_wal_last_error(h, s.message, s.message.length) as number;
    const text = n > 0 ? s.messageText() : rc === WAL_ERROR.PANIC ? "panic inside the WAL" : "no message";
    throw new NativeError("wal", rc, `WAL ${op} failed: ${text}`);
  }

  append(type: number, records: Uint8Array[]): number {
    const h = this.#live("append");
    if (!Number.isInteger(type) || type < 1 || type > 255) {
      // A u8 argument would wrap 256 to 0 and 257 to 1: refuse here instead.
      throw new NativeError("wal", WAL_ERROR.INVALID, `WAL append: record type must be 1..255, got ${type}`);
    }
    const s = this.core.scratch;
    s.packBytes(records, "wal", "WAL append");
    const rc = this.syms.warden_wal_append(h, type, s.bytes, s.offsets, records.length) as number;
    s.trim();
    if (rc < 0) this.#fail(h, "append", rc);
    return rc;
  }

  appendPacked(type: number, bytes: Uint8Array, offsets: Uint32Array, count: number): number {
    const h = this.#live("appendPacked");
    if (!Number.isInteger(type) || type < 1 || type > 255) {
      throw new NativeError("wal", WAL_ERROR.INVALID, `WAL appendPacked: record type must be 1..255, got ${type}`);
    }
    checkPacked("wal", "WAL appendPacked", bytes, Uint8Array, offsets, count);
    const rc = this.syms.warden_wal_append(h, type, bytes, offsets, count) as number;
    if (rc < 0) this.#fail(h, "append", rc);
    return rc;
  }

  sync(): void {
    const h = this.#live("sync");
    const rc = this.syms.warden_wal_sync(h);
    if (rc !== 0) this.#fail(h, "sync", rc);
  }

  length(): number {
    const h = this.#live("length");
    const rc = this.syms.warden_wal_len(h) as number;
    if (rc < 0) this.#fail(h, "length", rc);
    return rc;
  }

  durableLength(): number {
    const h = this.#live("durableLength");
    const rc = this.syms.warden_wal_durable_len(h) as number;
    if (rc < 0) this.#fail(h, "durableLength", rc);
    return rc;
  }

  read(seq: number): WalRecord {
    const h = this.#live("read");
    u64Arg("wal", "seq", seq);
    const s = this.core.scratch;
    const rc = this.syms.warden_wal_read(h, seq, s.read, s.read.length, s.type) as number;
    if (rc < 0) this.#fail(h, `read of record ${seq}`, rc);
    return { type: s.type[0]!, payload: s.read.slice(0, rc) };
  }

  readBatch(fromSeq: number, maxCount: number): WalRecord[] {
    const h = this.#live("readBatch");
    u64Arg("wal", "fromSeq", fromSeq);
    u64Arg("wal", "maxCount", maxCount);
    const s = this.core.scratch;
    const out = (s.batch ??= new Uint8Array(BATCH_READ_BYTES));
    const offsets = (s.batchOffsets ??= new Uint32Array(BATCH_READ_RECORDS + 1));
    const types = (s.batchTypes ??= new Uint8Array(BATCH_READ_RECORDS));
    const records: WalRecord[] = [];
    let seq = fromSeq;
    // Rust stops a batch at the end of a segment or of the buffer: keep going until maxCount
    // records or the end of the log (a call that returns 0).
    while (records.length < maxCount) {
      const want = Math.min(maxCount - records.length, BATCH_READ_RECORDS);
      const n = this.syms.warden_wal_read_batch(h, seq, want, out, out.length, offsets, types) as number;
      if (n < 0) this.#fail(h, `readBatch from record ${seq}`, n);
      if (n === 0) break;
      const chunk = out.slice(0, offsets[n]!); // one copy per call; records are views into it
      for (let i = 0; i < n; i++) records.push({ type: types[i]!, payload: chunk.subarray(offsets[i]!, offsets[i + 1]!) });
      seq += n;
    }
    return records;
  }

  close(): void {
    const h = this.#h;
    if (h === 0) return;
    this.#h = 0; // first, so that nothing can pass the freed pointer again
    this.core.handles.delete(this);
    this.syms.warden_wal_close(h);
  }
}

const MMR_DETAIL: Record<number, string> = {
  [MMR_ERROR.BUFFER_TOO_SMALL]: "the output buffer is too small",
  [MMR_ERROR.IO]: "I/O error on the node file (a failed write, truncate or fsync poisons the handle: close, reopen and reconcile with the WAL)",
  [MMR_ERROR.RANGE]: "index or size outside the tree",
  [MMR_ERROR.ARG]: "invalid argument",
  [MMR_ERROR.POISONED]: "an earlier write, truncate or fsync failed on this handle; close it, reopen and reconcile with the WAL",
  [MMR_ERROR.LOCKED]: "the node file is locked by another open handle or process",
  [MMR_ERROR.PANIC]: "panic inside the MMR",
};

function mmrError(rc: number, op: string, file: string): NativeError {
  return new NativeError("mmr", rc, `${op} failed: ${MMR_DETAIL[rc] ?? "unknown status"} (${file})`);
}

class MmrHandle implements Mmr {
  #h: Pointer | 0;

  constructor(
    private readonly core: Core,
    private readonly syms: Symbols,
    h: Pointer,
    readonly file: string,
  ) {
    this.#h = h;
  }

  #live(op: string): Pointer {
    const h = this.#h;
    if (h === 0) throw new NativeError("mmr", MMR_ERROR.ARG, `MMR ${op} on ${this.file}: the handle is closed`);
    return h;
  }

  /** The Rust MMR keeps no error text, so the message carries the arguments and current size. */
  #fail(h: Pointer, op: string, rc: number): never {
    let where = this.file;
    if (rc === MMR_ERROR.RANGE) {
      const size = this.syms.warden_mmr_size(h) as number;
      if (size >= 0) where = `${this.file} holds ${size} leaves`;
    }
    throw mmrError(rc, `MMR ${op}`, where);
  }

  appendLeaves(leaves: Uint8Array[]): number {
    const h = this.#live("appendLeaves");
    const s = this.core.scratch;
    s.packBytes(leaves, "mmr", "MMR appendLeaves");
    const rc = this.syms.warden_mmr_append_leaves(h, s.bytes, s.offsets, leaves.length) as number;
    s.trim();
    if (rc < 0) this.#fail(h, `appendLeaves of ${leaves.length} leaves`, rc);
    return rc;
  }

  appendPacked(bytes: Uint8Array, offsets: Uint32Array, count: number): number {
    const h = this.#live("appendPacked");
    checkPacked("mmr", "MMR appendPacked", bytes, Uint8Array, offsets, count);
    const rc = this.syms.warden_mmr_append_leaves(h, bytes, offsets, count) as number;
    if (rc < 0) this.#fail(h, `appendPacked of ${count} leaves`, rc);
    return rc;
  }

  appendHashes(hashes: Uint8Array): number {
    const h = this.#live("appendHashes");
    if (!(hashes instanceof Uint8Array) || hashes.length % 32 !== 0) {
      throw new NativeError("mmr", MMR_ERROR.ARG, `MMR appendHashes: want 32·n bytes, got ${hashes?.length}`);
    }
    const rc = this.syms.warden_mmr_append(h, hashes, hashes.length / 32) as number;
    if (rc < 0) this.#fail(h, `appendHashes of ${hashes.length / 32} hashes`, rc);
    return rc;
  }

  size(): number {
    const h = this.#live("size");
    const rc = this.syms.warden_mmr_size(h) as number;
    if (rc < 0) this.#fail(h, "size", rc);
    return rc;
  }

  sync(): void {
    const h = this.#live("sync");
    const rc = this.syms.warden_mmr_sync(h);
    if (rc !== 0) this.#fail(h, "sync", rc);
  }

  truncate(n: number): void {
    const h = this.#live("truncate");
    u64Arg("mmr", "n", n);
    const rc = this.syms.warden_mmr_truncate(h, n);
    if (rc !== 0) this.#fail(h, `truncate to ${n}`, rc);
  }

  root(size?: number): Uint8Array {
    const h = this.#live("root");
    const n = size === undefined ? this.size() : u64Arg("mmr", "size", size);
    const s = this.core.scratch;
    const rc = this.syms.warden_mmr_root(h, n, s.hash);
    if (rc !== 0) this.#fail(h, `root of size ${n}`, rc);
    return s.hash.slice();
  }

  inclusionProof(index: number, size: number): Uint8Array[] {
    const h = this.#live("inclusionProof");
    u64Arg("mmr", "index", index);
    u64Arg("mmr", "size", size);
    const s = this.core.scratch;
    const rc = this.syms.warden_mmr_inclusion(h, index, size, s.proof, MMR_MAX_PROOF_HASHES);
    if (rc < 0) this.#fail(h, `inclusionProof(${index}, ${size})`, rc);
    return splitHashes(s.proof, rc);
  }

  consistencyProof(size1: number, size2: number): Uint8Array[] {
    const h = this.#live("consistencyProof");
    u64Arg("mmr", "size1", size1);
    u64Arg("mmr", "size2", size2);
    const s = this.core.scratch;
    const rc = this.syms.warden_mmr_consistency(h, size1, size2, s.proof, MMR_MAX_PROOF_HASHES);
    if (rc < 0) this.#fail(h, `consistencyProof(${size1}, ${size2})`, rc);
    return splitHashes(s.proof, rc);
  }

  leafHash(index: number): Uint8Array {
    const h = this.#live("leafHash");
    u64Arg("mmr", "index", index);
    const s = this.core.scratch;
    const rc = this.syms.warden_mmr_leaf_hash(h, index, s.hash);
    if (rc !== 0) this.#fail(h, `leafHash(${index})`, rc);
    return s.hash.slice();
  }

  check(fromLeaf: number): number {
    const h = this.#live("check");
    u64Arg("mmr", "fromLeaf", fromLeaf);
    const rc = this.syms.warden_mmr_check(h, fromLeaf) as number;
    if (rc < 0) this.#fail(h, `check from leaf ${fromLeaf}`, rc);
    return rc;
  }

  close(): void {
    const h = this.#h;
    if (h === 0) return;
    this.#h = 0;
    this.core.handles.delete(this);
    this.syms.warden_mmr_close(h);
  }
}

/** `n` hashes from the proof buffer: one copy, then 32-byte views into it. */
function splitHashes(buf: Uint8Array, n: number): Uint8Array[] {
  const copy = buf.slice(0, n * 32);
  const out: Uint8Array[] = new Array(n);
  for (let i = 0; i < n; i++) out[i] = copy.subarray(i * 32, i * 32 + 32);
  return out;
}
