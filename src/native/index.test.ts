import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync, readFileSync, rmSync, truncateSync, statSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ERR_PANIC, MMR_ERROR, NativeError, WAL_ERROR, extractLibrary, loadCore, type NativeCore } from "./index";
import { leafHash, nodeHash, verifyConsistency, verifyInclusion, type Sha256 } from "../audit/proof";

const cargoVersion = readFileSync(join(import.meta.dir, "../../ffi/Cargo.toml"), "utf8").match(/^version = "(.+)"/m)![1];

describe("native core", () => {
  test("extracts into the data dir and reports the crate version through FFI", async () => {
    const dir = mkdtempSync(join(tmpdir(), "warden-native-"));
    try {
      const core = await loadCore(dir);
      expect(core.path.startsWith(join(dir, "lib"))).toBe(true);
      expect(core.version).toBe(cargoVersion);
      expect(core.sha256).toMatch(/^[0-9a-f]{64}$/);
      core.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a same-size file with other content is replaced, never dlopened", async () => {
    const dir = mkdtempSync(join(tmpdir(), "warden-native-"));
    try {
      const { path } = await extractLibrary(dir);
      const good = readFileSync(path);
      rmSync(path);
      writeFileSync(path, Buffer.alloc(good.length, 0x90));
      const again = await extractLibrary(dir);
      expect(again.path).toBe(path);
      expect(readFileSync(path).equals(good)).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a panic inside Rust comes back as an error code instead of aborting", async () => {
    const dir = mkdtempSync(join(tmpdir(), "warden-native-"));
    try {
      const core = await loadCore(dir);
      expect(core.selftestPanic()).toBe(ERR_PANIC);
      expect(core.version).toBe(cargoVersion); // the process and library are still usable
      core.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

// ------------------------------------------------------------------------------------------------

const enc = new TextEncoder();
const sha: Sha256 = (data) => new Bun.CryptoHasher("sha256").update(data).digest() as unknown as Uint8Array;
const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");
const SEG0 = "00000000000000000000.seg";

/** Runs `fn`, expecting a NativeError; returns it. */
function nativeError(fn: () => unknown): NativeError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(NativeError);
    return e as NativeError;
  }
  throw new Error("expected a NativeError, got none");
}

/** Fixed-size records, so byte offsets in segment files are easy to compute. */
const record = (i: number, len = 20): Uint8Array => enc.encode(`record ${i}`.padEnd(len, "."));
const FRAME = 9 + 20; // frame header (len, crc, type) + payload
const HEADER = 24;

let core: NativeCore;
let root: string;
let n = 0;
const fresh = (name: string) => join(root, `${name}-${n++}`);

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), "warden-native-"));
  core = await loadCore(root);
});

afterAll(() => {
  core.close();
  rmSync(root, { recursive: true, force: true });
});

describe("WAL", () => {
  test("append, sync, reopen, read and readBatch", () => {
    const dir = fresh("wal");
    const wal = core.openWal(dir, { watermark: 0 });
    expect(wal.report).toEqual({
      records: 0,
      segments: 1,
      watermark: 0,
      truncated_records: 0,
      truncated_bytes: 0,
      removed_segments: [],
      damage: null,
    });
    expect(wal.append(1, [enc.encode("a"), enc.encode("bb"), new Uint8Array(0)])).toBe(0);
    expect(wal.append(7, [enc.encode("ccc")])).toBe(3);
    expect(wal.append(7, [])).toBe(4); // an empty batch reports where the next record goes
    expect(wal.length()).toBe(4);
    expect(wal.durableLength()).toBe(0); // written, not yet durable
    wal.sync();
    expect(wal.durableLength()).toBe(4);
    expect(wal.read(1)).toEqual({ type: 1, payload: enc.encode("bb") });
    wal.close();

    const again = core.openWal(dir, { watermark: 4 });
    expect(again.report.records).toBe(4);
    expect(again.report.damage).toBeNull();
    expect(again.durableLength()).toBe(4);
    expect(again.readBatch(0, 10)).toEqual([
      { type: 1, payload: enc.encode("a") },
      { type: 1, payload: enc.encode("bb") },
      { type: 1, payload: new Uint8Array(0) },
      { type: 7, payload: enc.encode("ccc") },
    ]);
    expect(again.readBatch(2, 1)).toEqual([{ type: 1, payload: new Uint8Array(0) }]);
    expect(again.readBatch(4, 10)).toEqual([]);
    expect(again.readBatch(0, 0)).toEqual([]);
    expect(nativeError(() => again.read(4)).codeName).toBe("NOT_FOUND");
    // Appending continues the sequence after a reopen.
    expect(again.append(2, [enc.encode("d")])).toBe(4);
    again.sync();
    again.close();
  });

  test("appendPacked writes the same records as append, without copying; bad packings are refused", () => {
    const a = core.openWal(fresh("wal-list"), { watermark: 0 });
    const b = core.openWal(fresh("wal-packed"), { watermark: 0 });
    const records = ["a", "", "bb", "ccc"].map((x) => enc.encode(x));
    expect(a.append(3, records)).toBe(0);
    // a buffer with room to spare, offsets not starting at 0
    const bytes = new Uint8Array(64);
    bytes.set(enc.encode("xxabbccc"), 0);
    expect(b.appendPacked(3, bytes, Uint32Array.of(2, 3, 3, 5, 8, 99), 4)).toBe(0);
    expect(b.appendPacked(3, bytes, new Uint32Array(1), 0)).toBe(4);
    expect(b.readBatch(0, 10)).toEqual(a.readBatch(0, 10));
    expect(nativeError(() => b.appendPacked(3, bytes, Uint32Array.of(0, 65), 1)).codeName).toBe("INVALID"); // past the end
    expect(nativeError(() => b.appendPacked(3, bytes, Uint32Array.of(4, 2), 1)).codeName).toBe("INVALID"); // decreasing
    expect(nativeError(() => b.appendPacked(3, bytes, Uint32Array.of(0, 1), 2)).codeName).toBe("INVALID"); // too few offsets
    expect(nativeError(() => b.appendPacked(0, bytes, Uint32Array.of(0, 1), 1)).codeName).toBe("INVALID");
    expect(nativeError(() => b.appendPacked(3, [1, 2] as unknown as Uint8Array, Uint32Array.of(0, 1), 1)).codeName).toBe("INVALID");
    expect(b.length()).toBe(4); // nothing of a refused batch was written
    a.close();
    b.close();
  });

  test("readBatch crosses segment boundaries and returns exactly what was asked", () => {
    const dir = fresh("wal-segments");
    // 256-byte segments hold 3 frames of 50-byte records (24 + 3 × 59 = 201; a 4th would pass 256).
    const wal = core.openWal(dir, { segmentBytes: 256, watermark: 0 });
    const records = Array.from({ length: 20 }, (_, i) => record(i, 50));
    for (let i = 0; i < records.length; i += 2) wal.append(3, records.slice(i, i + 2));
    wal.sync();
    wal.close();
    expect(readdirSync(dir).filter((f) => f.endsWith(".seg")).length).toBeGreaterThan(3);

    const again = core.openWal(dir, { segmentBytes: 256, watermark: 20 });
    expect(again.report.segments).toBeGreaterThan(3);
    expect(again.readBatch(0, 100).map((r) => r.payload)).toEqual(records);
    expect(again.readBatch(3, 7).map((r) => r.payload)).toEqual(records.slice(3, 10));
    expect(again.read(19).payload).toEqual(records[19]!);
    again.close();
  });

  test("a torn tail is cut on reopen and shows in the report", () => {
    const dir = fresh("wal-torn");
    const wal = core.openWal(dir, { watermark: 0 });
    wal.append(1, [0, 1, 2, 3, 4].map((i) => record(i)));
    wal.sync();
    wal.close();
    const seg = join(dir, SEG0);
    expect(statSync(seg).size).toBe(HEADER + 5 * FRAME);
    truncateSync(seg, HEADER + 5 * FRAME - 10); // a crash tore the last frame

    const again = core.openWal(dir, { watermark: 4 }); // records 0..3 were acknowledged
    expect(again.report).toMatchObject({ records: 4, truncated_records: 1, truncated_bytes: FRAME - 10, removed_segments: [] });
    expect(again.report.damage).toMatchObject({ segment: SEG0, seq: 4, offset: HEADER + 4 * FRAME });
    expect(statSync(seg).size).toBe(HEADER + 4 * FRAME);
    expect(again.length()).toBe(4);
    expect(again.append(1, [record(99)])).toBe(4); // the log goes on where the intact part ends
    again.sync();
    expect(again.read(4).payload).toEqual(record(99));
    again.close();
  });

  test("damage below the watermark refuses to open, names the segment and changes nothing", () => {
    const dir = fresh("wal-corrupt");
    const wal = core.openWal(dir, { watermark: 0 });
    wal.append(1, [0, 1, 2, 3, 4].map((i) => record(i)));
    wal.sync();
    wal.close();
    const seg = join(dir, SEG0);
    const bytes = readFileSync(seg);
    bytes[HEADER + FRAME + 9 + 3]! ^= 0x01; // one bit of record 1's payload
    writeFileSync(seg, bytes);

    const err = nativeError(() => core.openWal(dir, { watermark: 5 }));
    expect(err.code).toBe(WAL_ERROR.CORRUPT);
    expect(err.codeName).toBe("CORRUPT");
    expect(err.domain).toBe("wal");
    expect(err.message).toContain(SEG0);
    expect(err.message).toContain("seq 1");
    expect(readFileSync(seg).equals(bytes)).toBe(true); // nothing truncated
    // The directory lock was released by the failed open.
    expect(nativeError(() => core.openWal(dir, { watermark: 5 })).codeName).toBe("CORRUPT");
  });

  test("a payload over 65 535 bytes is TOO_LARGE and nothing of the batch is written", () => {
    const wal = core.openWal(fresh("wal-large"), { watermark: 0 });
    const err = nativeError(() => wal.append(1, [enc.encode("ok"), new Uint8Array(65_536)]));
    expect(err.code).toBe(WAL_ERROR.TOO_LARGE);
    expect(err.message).toContain("65535");
    expect(wal.length()).toBe(0);
    const max = new Uint8Array(65_535).fill(0xab);
    expect(wal.append(1, [max])).toBe(0);
    wal.sync();
    expect(wal.read(0).payload).toEqual(max);
    expect(wal.readBatch(0, 1)[0]!.payload).toEqual(max);
    wal.close();
  });

  test("record types outside 1..255 are refused instead of wrapping", () => {
    const wal = core.openWal(fresh("wal-type"), { watermark: 0 });
    for (const t of [0, 256, 257, -1, 1.5]) expect(nativeError(() => wal.append(t, [enc.encode("x")])).codeName).toBe("INVALID");
    expect(wal.length()).toBe(0);
    wal.close();
  });

  test("a second open of the same directory is LOCKED until the first closes", () => {
    const dir = fresh("wal-lock");
    const first = core.openWal(dir, { watermark: 0 });
    const err = nativeError(() => core.openWal(dir, { watermark: 0 }));
    expect(err.code).toBe(WAL_ERROR.LOCKED);
    expect(err.message).toContain(dir);
    first.close();
    core.openWal(dir, { watermark: 0 }).close();
  });

  test("a log shorter than the watermark is CORRUPT (acknowledged records missing)", () => {
    const dir = fresh("wal-short");
    const wal = core.openWal(dir, { watermark: 0 });
    wal.append(1, [record(0)]);
    wal.sync();
    wal.close();
    expect(nativeError(() => core.openWal(dir, { watermark: 2 })).codeName).toBe("CORRUPT");
  });
});

// ------------------------------------------------------------------------------------------------

/** RFC 9162 §2.1.1 Merkle Tree Hash, literally (recursive), over leaf hashes. */
function mth(d: Uint8Array[]): Uint8Array {
  if (d.length === 0) return sha(new Uint8Array(0));
  if (d.length === 1) return d[0]!;
  let k = 1;
  while (k * 2 < d.length) k *= 2;
  return nodeHash(sha, mth(d.slice(0, k)), mth(d.slice(k)));
}

describe("MMR", () => {
  const N = 50;
  const leaves = Array.from({ length: N }, (_, i) => enc.encode(`{"seq":${i},"tenant":"t${i % 3}"}`));
  const hashes = leaves.map((l) => leafHash(sha, l));
  const roots = Array.from({ length: N + 1 }, (_, n) => mth(hashes.slice(0, n)));

  test("roots match the RFC 9162 reference for sizes 1..50, leaf by leaf and in batches", () => {
    const mmr = core.openMmr(join(root, `one-${n++}.mmr`));
    expect(hex(mmr.root())).toBe(hex(roots[0]!)); // the empty tree: SHA-256("")
    for (let i = 0; i < N; i++) {
      expect(mmr.appendLeaves([leaves[i]!])).toBe(i + 1);
      expect(hex(mmr.root())).toBe(hex(roots[i + 1]!));
    }
    for (let size = 0; size <= N; size++) expect(hex(mmr.root(size))).toBe(hex(roots[size]!));
    mmr.close();

    // The same tree from pre-hashed leaves: 7, then 43 in one call, from a view at an offset.
    const flat = new Uint8Array(8 + 32 * N);
    hashes.forEach((h, i) => flat.set(h, 8 + 32 * i));
    const byHash = core.openMmr(join(root, `hashes-${n++}.mmr`));
    expect(byHash.appendHashes(flat.subarray(8, 8 + 32 * 7))).toBe(7);
    expect(byHash.appendHashes(flat.subarray(8 + 32 * 7))).toBe(N);
    expect(byHash.appendHashes(new Uint8Array(0))).toBe(N);
    expect(hex(byHash.root())).toBe(hex(roots[N]!));
    for (let i = 0; i < N; i++) expect(hex(byHash.leafHash(i))).toBe(hex(hashes[i]!));
    expect(nativeError(() => byHash.appendHashes(new Uint8Array(33))).codeName).toBe("ARG");
    byHash.close();
  });

  test("appendPacked gives the same tree as appendLeaves", () => {
    const packed = core.openMmr(join(root, `packed-${n++}.mmr`));
    const total = leaves.reduce((k, l) => k + l.length, 0);
    const bytes = new Uint8Array(total + 10);
    const offsets = new Uint32Array(N + 1);
    let at = 0;
    leaves.forEach((l, i) => {
      bytes.set(l, at);
      at += l.length;
      offsets[i + 1] = at;
    });
    expect(packed.appendPacked(bytes, offsets.subarray(0, 8), 7)).toBe(7);
    expect(packed.appendPacked(bytes, offsets.subarray(7), N - 7)).toBe(N);
    expect(packed.appendPacked(bytes, offsets, 0)).toBe(N);
    expect(hex(packed.root())).toBe(hex(roots[N]!));
    expect(nativeError(() => packed.appendPacked(bytes, Uint32Array.of(0, total + 11), 1)).codeName).toBe("ARG");
    expect(nativeError(() => packed.appendPacked(bytes, Uint32Array.of(5, 4), 1)).codeName).toBe("ARG");
    expect(packed.size()).toBe(N);
    packed.close();
  });

  test("every inclusion and consistency proof up to 50 leaves passes the TypeScript verifier", () => {
    const mmr = core.openMmr(join(root, `proofs-${n++}.mmr`));
    mmr.appendLeaves(leaves);
    let checked = 0;
    for (let size = 1; size <= N; size++) {
      for (let index = 0; index < size; index++) {
        const proof = mmr.inclusionProof(index, size);
        if (!verifyInclusion(sha, index, size, hashes[index]!, proof, roots[size]!)) throw new Error(`inclusion(${index}, ${size})`);
        checked++;
      }
      for (let size1 = 1; size1 <= size; size1++) {
        const proof = mmr.consistencyProof(size1, size);
        if (!verifyConsistency(sha, size1, size, roots[size1]!, roots[size]!, proof)) throw new Error(`consistency(${size1}, ${size})`);
        checked++;
      }
    }
    expect(checked).toBe(2 * (N * (N + 1)) / 2);
    // And a proof for the wrong leaf does not.
    expect(verifyInclusion(sha, 3, N, hashes[4]!, mmr.inclusionProof(3, N), roots[N]!)).toBe(false);
    mmr.close();
  });

  test("persists across reopen; truncate and check", () => {
    const file = join(root, `persist-${n++}.mmr`);
    const mmr = core.openMmr(file);
    mmr.appendLeaves(leaves.slice(0, 30));
    mmr.appendLeaves(leaves.slice(30));
    mmr.sync();
    mmr.close();
    expect(statSync(file).size).toBeGreaterThan(0);

    const again = core.openMmr(file);
    expect(again.size()).toBe(N);
    expect(hex(again.root())).toBe(hex(roots[N]!));
    expect(hex(again.leafHash(17))).toBe(hex(hashes[17]!));
    expect(again.check(0)).toBe(N); // no damaged node
    again.truncate(20);
    expect(again.size()).toBe(20);
    expect(hex(again.root())).toBe(hex(roots[20]!));
    again.sync();
    again.close();

    const third = core.openMmr(file);
    expect(third.size()).toBe(20);
    expect(third.appendLeaves(leaves.slice(20, 25))).toBe(25);
    expect(hex(third.root())).toBe(hex(roots[25]!));
    third.close();
  });

  test("out-of-range sizes and indices are RANGE errors that say how big the tree is", () => {
    const mmr = core.openMmr(join(root, `range-${n++}.mmr`));
    mmr.appendLeaves(leaves.slice(0, 5));
    const calls: [string, () => unknown][] = [
      ["root(6)", () => mmr.root(6)],
      ["inclusionProof(5, 5)", () => mmr.inclusionProof(5, 5)],
      ["inclusionProof(0, 6)", () => mmr.inclusionProof(0, 6)],
      ["consistencyProof(0, 5)", () => mmr.consistencyProof(0, 5)],
      ["consistencyProof(3, 6)", () => mmr.consistencyProof(3, 6)],
      ["consistencyProof(4, 3)", () => mmr.consistencyProof(4, 3)],
      ["leafHash(5)", () => mmr.leafHash(5)],
      ["truncate(6)", () => mmr.truncate(6)],
    ];
    for (const [what, call] of calls) {
      const err = nativeError(call);
      expect({ what, code: err.code, name: err.codeName }).toEqual({ what, code: MMR_ERROR.RANGE, name: "RANGE" });
      expect(err.message).toContain("holds 5 leaves");
    }
    expect(nativeError(() => mmr.leafHash(-1)).codeName).toBe("ARG");
    expect(mmr.size()).toBe(5); // nothing changed
    mmr.close();
  });

  test("a second open of the same node file is LOCKED", () => {
    const file = join(root, `lock-${n++}.mmr`);
    const first = core.openMmr(file);
    const err = nativeError(() => core.openMmr(file));
    expect(err.code).toBe(MMR_ERROR.LOCKED);
    expect(err.message).toContain(file);
    first.close();
    core.openMmr(file).close();
  });
});

// ------------------------------------------------------------------------------------------------

describe("entropy", () => {
  test("known values in one call", () => {
    const all = Uint8Array.from({ length: 256 }, (_, i) => i);
    expect(Array.from(core.byteEntropy([enc.encode("aaaa"), enc.encode("abcd"), all, new Uint8Array(0), enc.encode("aabb")]))).toEqual([0, 2, 8, 0, 1]);
    expect(Array.from(core.tokenEntropy([Uint32Array.of(7, 7, 7, 7), Uint32Array.of(1, 2, 3, 4), new Uint32Array(0), Uint32Array.of(100_000, 5)]))).toEqual([0, 2, 0, 1]);
    expect(core.byteEntropy([]).length).toBe(0);
    expect(core.tokenEntropy([]).length).toBe(0);
  });

  test("packed spans give what the list forms give, into the caller's buffer", () => {
    const all = Uint8Array.from({ length: 256 }, (_, i) => i);
    const spans = [enc.encode("aaaa"), enc.encode("abcd"), all, new Uint8Array(0), enc.encode("aabb")];
    const bytes = new Uint8Array(300);
    const offsets = new Uint32Array(6);
    let at = 0;
    spans.forEach((x, i) => {
      bytes.set(x, at);
      at += x.length;
      offsets[i + 1] = at;
    });
    const out = new Float64Array(8).fill(-1);
    core.byteEntropyPacked(bytes, offsets, 5, out);
    expect(Array.from(out.subarray(0, 5))).toEqual(Array.from(core.byteEntropy(spans)));
    expect(out[5]).toBe(-1);
    const tokens = Uint32Array.of(7, 7, 7, 7, 1, 2, 3, 4, 100_000, 5);
    core.tokenEntropyPacked(tokens, Uint32Array.of(0, 4, 8, 8, 10), 4, out);
    expect(Array.from(out.subarray(0, 4))).toEqual([0, 2, 0, 1]);
    core.byteEntropyPacked(bytes, offsets, 0, new Float64Array(0));
    expect(nativeError(() => core.byteEntropyPacked(bytes, offsets, 5, new Float64Array(4))).codeName).toBe("ARG");
    expect(nativeError(() => core.byteEntropyPacked(bytes, Uint32Array.of(0, 301), 1, out)).codeName).toBe("ARG");
    expect(nativeError(() => core.tokenEntropyPacked(tokens, Uint32Array.of(3, 2), 1, out)).codeName).toBe("ARG");
    expect(nativeError(() => core.tokenEntropyPacked(bytes as unknown as Uint32Array, Uint32Array.of(0, 1), 1, out)).codeName).toBe("ARG");
  });

  test("large inputs grow the packing buffers", () => {
    const big = Uint8Array.from({ length: 1 << 20 }, (_, i) => i & 0xff);
    expect(Array.from(core.byteEntropy([big, enc.encode("aaaa")]))).toEqual([8, 0]);
  });
});

describe("closed handles", () => {
  test("closing twice is safe and every later call throws a NativeError", () => {
    const wal = core.openWal(fresh("wal-closed"), { watermark: 0 });
    wal.close();
    wal.close();
    for (const call of [() => wal.append(1, [enc.encode("x")]), () => wal.sync(), () => wal.length(), () => wal.durableLength(), () => wal.read(0), () => wal.readBatch(0, 1)]) {
      expect(nativeError(call).message).toContain("closed");
    }

    const mmr = core.openMmr(join(root, `closed-${n++}.mmr`));
    mmr.close();
    mmr.close();
    for (const call of [
      () => mmr.appendLeaves([enc.encode("x")]),
      () => mmr.appendHashes(new Uint8Array(32)),
      () => mmr.size(),
      () => mmr.sync(),
      () => mmr.truncate(0),
      () => mmr.root(),
      () => mmr.inclusionProof(0, 1),
      () => mmr.consistencyProof(1, 1),
      () => mmr.leafHash(0),
      () => mmr.check(0),
    ]) {
      expect(nativeError(call).message).toContain("closed");
    }
  });

  test("closing the library closes its handles (and their locks) first", async () => {
    const dir = mkdtempSync(join(tmpdir(), "warden-native-"));
    try {
      const other = await loadCore(dir);
      const walDir = join(dir, "wal");
      const wal = other.openWal(walDir, { watermark: 0 });
      const mmr = other.openMmr(join(dir, "ledger.mmr"));
      wal.append(1, [enc.encode("x")]);
      wal.sync();
      other.close();
      other.close();
      expect(nativeError(() => wal.append(1, [enc.encode("y")])).codeName).toBe("INVALID");
      expect(nativeError(() => mmr.size()).codeName).toBe("ARG");
      expect(nativeError(() => other.openWal(walDir, { watermark: 0 })).message).toContain("library is closed");
      expect(nativeError(() => other.byteEntropy([enc.encode("a")])).message).toContain("library is closed");
      wal.close(); // still a no-op
      // The lock went with the handle: another library instance can open the same log.
      const reopened = core.openWal(walDir, { watermark: 1 });
      expect(reopened.read(0).payload).toEqual(enc.encode("x"));
      reopened.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
