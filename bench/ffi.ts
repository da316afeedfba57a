// What crossing bun:ffi costs the ledger: MMR appends per leaf vs batched, WAL group commit, and
// the bare per-call cost, through the bindings in src/native/index.ts, in one run on this machine.
//
//   ./node_modules/.bin/bun bench/ffi.ts [--out PATH] [--wal-seconds S] [--quick]
//
// Writes bench/results/<YYYY-MM-DD>-ffi.md (or --out) and prints the same tables. Everything it
// creates lives in one temporary directory that is removed at the end (also on error / Ctrl-C).
import { dlopen, FFIType, type Pointer } from "bun:ffi";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, release, tmpdir, totalmem } from "node:os";
import { dirname, join, resolve } from "node:path";
import { loadCore, type Mmr } from "../src/native";

const ROOT = resolve(import.meta.dir, "..");

// ---------------------------------------------------------------------------------------------
// Options

function usage(msg?: string): never {
  if (msg) console.error(`bench/ffi.ts: ${msg}`);
  console.error("usage: bun bench/ffi.ts [--out PATH] [--wal-seconds S] [--quick]");
  process.exit(2);
}

let out: string | undefined;
let walSeconds = 3;
let quick = false;
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  switch (argv[i]) {
    case "--out": out = argv[++i] ?? usage("--out needs a path"); break;
    case "--wal-seconds": {
      walSeconds = Number(argv[++i]);
      if (!(walSeconds > 0 && walSeconds <= 60)) usage("--wal-seconds needs a number in (0, 60]");
      break;
    }
    case "--quick": quick = true; break;
    case "-h": case "--help": usage();
    default: usage(`unknown argument: ${argv[i]}`);
  }
}
if (quick) walSeconds = Math.min(walSeconds, 0.5);
const date = new Date().toISOString().slice(0, 10);
out ??= join(ROOT, "bench", "results", `${date}-ffi${quick ? "-quick" : ""}.md`);

const MMR_SIZES = quick ? [100, 1_000, 10_000] : [100, 1_000, 10_000, 100_000, 1_000_000];
const BATCH = 1024;
const LEAF_BYTES = 300;
const WAL_BATCHES = [1, 16, 64, 256];
const RECORD_BYTES = 300;

// ---------------------------------------------------------------------------------------------
// Scratch directory, removed on every way out.

const work = mkdtempSync(join(tmpdir(), "warden-bench-ffi-"));
let cleaned = false;
function cleanup(): void {
  if (cleaned) return;
  cleaned = true;
  rmSync(work, { recursive: true, force: true });
}
process.on("exit", cleanup);
for (const sig of ["SIGINT", "SIGTERM"] as const) {
  process.on(sig, () => {
    cleanup();
    process.exit(130);
  });
}

const core = await loadCore(join(work, "data"));
let seq = 0;
const freshPath = (what: string) => join(work, `${what}-${seq++}`);

// ---------------------------------------------------------------------------------------------
// Inputs: a pool of distinct random leaves, cycled (content does not change the hashing cost,
// and a million distinct 300-byte leaves would be 300 MB of garbage for the GC).

const POOL = 4096;
const random = (n: number) => {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i += 65536) crypto.getRandomValues(b.subarray(i, Math.min(n, i + 65536)));
  return b;
};
const rawLeaves: Uint8Array[] = Array.from({ length: POOL }, () => random(LEAF_BYTES));
const hashBlock = random(32 * POOL); // stand-in leaf hashes; the MMR does not care what they are
const hashViews: Uint8Array[] = Array.from({ length: POOL }, (_, i) => hashBlock.subarray(32 * i, 32 * i + 32));
const rawBatches: Uint8Array[][] = Array.from({ length: POOL / BATCH }, (_, b) => rawLeaves.slice(b * BATCH, (b + 1) * BATCH));
const hashBatches: Uint8Array[] = Array.from({ length: POOL / BATCH }, (_, b) => hashBlock.subarray(b * BATCH * 32, (b + 1) * BATCH * 32));

// ---------------------------------------------------------------------------------------------
// 1. Bare per-call cost.

interface CallRow {
  call: string;
  ns: number;
}

function perCall(): CallRow[] {
  // A second dlopen of the same file shares the mapping; it gives the bench the raw symbol
  // without a wrapper, for comparison with the binding.
  const raw = dlopen(core.path, {
    warden_mmr_open: { args: [FFIType.ptr, FFIType.u64, FFIType.ptr], returns: FFIType.i32 },
    warden_mmr_close: { args: [FFIType.ptr], returns: FFIType.i32 },
    warden_mmr_size: { args: [FFIType.ptr], returns: FFIType.i64_fast },
  });
  const file = new TextEncoder().encode(freshPath("percall.mmr"));
  const out = new BigUint64Array(1);
  if (raw.symbols.warden_mmr_open(file, file.length, out) !== 0) throw new Error("warden_mmr_open failed");
  const h = Number(out[0]) as Pointer;
  const viaBinding = core.openMmr(freshPath("percall-binding.mmr"));
  const ITER = quick ? 200_000 : 5_000_000;
  const time = (fn: () => unknown): number => {
    for (let i = 0; i < 100_000; i++) fn(); // warm up (JIT)
    let best = Infinity;
    for (let rep = 0; rep < 3; rep++) {
      const t0 = Bun.nanoseconds();
      for (let i = 0; i < ITER; i++) fn();
      best = Math.min(best, (Bun.nanoseconds() - t0) / ITER);
    }
    return best;
  };
  const sym = raw.symbols.warden_mmr_size;
  const rows: CallRow[] = [
    { call: "empty JS loop iteration (baseline)", ns: time(() => 0) },
    { call: "warden_mmr_size(NULL): raw symbol, null-handle check only", ns: time(() => sym(null)) },
    { call: "warden_mmr_size(h): raw symbol, mutex lock + read", ns: time(() => sym(h)) },
    { call: "Mmr.size(): the binding (closed check, status check)", ns: time(() => viaBinding.size()) },
  ];
  viaBinding.close();
  raw.symbols.warden_mmr_close(h);
  raw.close();
  return rows;
}

// ---------------------------------------------------------------------------------------------
// 2. MMR appends.

interface MmrRow {
  n: number;
  input: "pre-hashed (appendHashes)" | "raw 300 B (appendLeaves)";
  perLeaf: number; // leaves/s, one leaf per FFI call
  batched: number; // leaves/s, BATCH leaves per FFI call
  perLeafWrites: number; // write-type system calls per FFI call in (a), from /proc/self/io
  syncMs: number; // one fsync after the batched run
}

/** Write-type system calls this process has made so far (Linux /proc/self/io `syscw`). */
function writeSyscalls(): number {
  return Number(readFileSync("/proc/self/io", "utf8").match(/^syscw:\s*(\d+)/m)?.[1] ?? NaN);
}

function appendRun(n: number, raw: boolean, batched: boolean): { rate: number; syncMs: number; writesPerCall: number } {
  // Small N is over in microseconds: repeat on fresh files and keep the median rate.
  const reps = Math.max(1, Math.min(15, Math.ceil(200_000 / n)));
  const rates: number[] = [];
  let syncMs = 0;
  let writesPerCall = 0;
  for (let r = 0; r < reps; r++) {
    const mmr: Mmr = core.openMmr(freshPath("bench.mmr"));
    const w0 = writeSyscalls();
    const t0 = Bun.nanoseconds();
    if (batched) {
      let done = 0;
      let b = 0;
      while (done < n) {
        const k = Math.min(BATCH, n - done);
        if (raw) {
          const batch = rawBatches[b++ % rawBatches.length]!;
          mmr.appendLeaves(k === BATCH ? batch : batch.slice(0, k));
        } else {
          const batch = hashBatches[b++ % hashBatches.length]!;
          mmr.appendHashes(k === BATCH ? batch : batch.subarray(0, 32 * k));
        }
        done += k;
      }
    } else if (raw) {
      const one: Uint8Array[] = [rawLeaves[0]!];
      for (let i = 0; i < n; i++) {
        one[0] = rawLeaves[i % POOL]!;
        mmr.appendLeaves(one);
      }
    } else {
      for (let i = 0; i < n; i++) mmr.appendHashes(hashViews[i % POOL]!);
    }
    const t1 = Bun.nanoseconds();
    writesPerCall = (writeSyscalls() - w0) / (batched ? Math.ceil(n / BATCH) : n);
    if (mmr.size() !== n) throw new Error(`MMR size ${mmr.size()} after ${n} appends`);
    mmr.sync();
    syncMs = (Bun.nanoseconds() - t1) / 1e6;
    mmr.close();
    rates.push(n / ((t1 - t0) / 1e9));
  }
  rates.sort((a, b) => a - b);
  return { rate: rates[Math.floor(rates.length / 2)]!, syncMs, writesPerCall };
}

function mmrBench(): MmrRow[] {
  const rows: MmrRow[] = [];
  appendRun(10_000, true, true); // warm up the JIT on every path once
  appendRun(10_000, true, false);
  appendRun(10_000, false, true);
  appendRun(10_000, false, false);
  for (const raw of [false, true]) {
    for (const n of MMR_SIZES) {
      const a = appendRun(n, raw, false);
      const b = appendRun(n, raw, true);
      rows.push({
        n,
        input: raw ? "raw 300 B (appendLeaves)" : "pre-hashed (appendHashes)",
        perLeaf: a.rate,
        batched: b.rate,
        perLeafWrites: a.writesPerCall,
        syncMs: b.syncMs,
      });
      const perLeaf = a.rate;
      console.error(`mmr ${rows.at(-1)!.input} n=${n}: ${fmt(perLeaf)} vs ${fmt(b.rate)} leaves/s`);
    }
  }
  return rows;
}

// ---------------------------------------------------------------------------------------------
// 3. WAL group commit: append a batch, sync it (one fsync), repeat for walSeconds.

interface WalRow {
  batch: number;
  commits: number;
  seconds: number;
  recordsPerS: number;
  commitsPerS: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

function walBench(): WalRow[] {
  const rows: WalRow[] = [];
  const records = Array.from({ length: 256 }, () => random(RECORD_BYTES));
  for (const size of WAL_BATCHES) {
    const wal = core.openWal(freshPath("wal"), { watermark: 0 });
    const batch = records.slice(0, size);
    for (let i = 0; i < 20; i++) {
      wal.append(1, batch); // warm-up commits
      wal.sync();
    }
    const lat: number[] = [];
    const t0 = Bun.nanoseconds();
    const end = t0 + walSeconds * 1e9;
    let now = t0;
    while (now < end) {
      wal.append(1, batch);
      wal.sync();
      const t = Bun.nanoseconds();
      lat.push(t - now);
      now = t;
    }
    const seconds = (now - t0) / 1e9;
    const durable = wal.durableLength();
    if (durable !== (lat.length + 20) * size) throw new Error(`WAL durable length ${durable}, expected ${(lat.length + 20) * size}`);
    wal.close();
    lat.sort((a, b) => a - b);
    const q = (p: number) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))]! / 1e6;
    rows.push({
      batch: size,
      commits: lat.length,
      seconds,
      recordsPerS: (lat.length * size) / seconds,
      commitsPerS: lat.length / seconds,
      p50Ms: q(0.5),
      p99Ms: q(0.99),
      maxMs: lat[lat.length - 1]! / 1e6,
    });
    console.error(`wal batch ${size}: ${fmt(rows.at(-1)!.recordsPerS)} records/s, ${fmt(rows.at(-1)!.commitsPerS)} commits/s`);
  }
  return rows;
}

// ---------------------------------------------------------------------------------------------
// Report

function fmt(v: number, digits = 0): string {
  return v.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

function machine(): [string, string][] {
  const cpuinfo = readFileSync("/proc/cpuinfo", "utf8");
  const model = cpuinfo.match(/^model name\s*:\s*(.+)$/m)?.[1] ?? "unknown";
  const sha = /^flags\s*:.*\bsha_ni\b/m.test(cpuinfo) ? "yes" : "no";
  const fs = Bun.spawnSync(["stat", "-f", "-c", "%T", work]).stdout.toString().trim() || "unknown";
  const mounts = readFileSync("/proc/mounts", "utf8").split("\n").map((l) => l.split(" "));
  const mount = mounts.filter((m) => m[1] && work.startsWith(m[1])).sort((a, b) => b[1]!.length - a[1]!.length)[0];
  return [
    ["nproc", String(availableParallelism())],
    ["CPU", model],
    ["SHA extensions (sha_ni)", sha],
    ["memory", `${(totalmem() / 2 ** 30).toFixed(1)} GiB`],
    ["kernel", release()],
    ["Bun", Bun.version],
    ["core library", `${core.version} (${core.sha256.slice(0, 16)}…)`],
    ["temp dir file system", `${tmpdir()}: ${mount ? `${mount[2]} on ${mount[0]}` : fs}`],
  ];
}

const started = new Date();
const calls = perCall();
for (const c of calls) console.error(`${c.call}: ${c.ns.toFixed(1)} ns`);
const mmrRows = mmrBench();
const walRows = walBench();
const facts = machine();
core.close();

const batched1M = mmrRows.filter((r) => r.n === Math.max(...MMR_SIZES));
const walBest = walRows.reduce((a, b) => (b.recordsPerS > a.recordsPerS ? b : a));
const wal1 = walRows.find((r) => r.batch === 1)!;

const md = `# Warden benchmark — bun:ffi boundary (MMR, WAL, per-call cost)

Command: \`./node_modules/.bin/bun bench/ffi.ts${process.argv.slice(2).length ? " " + process.argv.slice(2).join(" ") : ""}\`

Date: ${started.toISOString()}

## Machine

| fact | value |
| :--- | :--- |
${facts.map(([k, v]) => `| ${k} | ${v} |`).join("\n")}

Everything runs in one Bun process through the bindings in \`src/native/index.ts\` (one FFI call per
binding call), on files in a fresh temporary directory (removed afterwards). One run; small sizes are
the median of up to 15 repetitions on fresh files.

## Per-call cost

Best of 3 × ${fmt(quick ? 200_000 : 5_000_000)} calls after a warm-up.

| call | ns / call |
| :--- | ---: |
${calls.map((c) => `| ${c.call} | ${c.ns.toFixed(1)} |`).join("\n")}

## MMR append throughput (leaves/s)

(a) one leaf per FFI call vs (b) ${fmt(BATCH)} leaves per FFI call. *pre-hashed*: 32-byte leaf hashes
(\`Mmr.appendHashes\`, Rust computes only interior nodes); *raw*: ${LEAF_BYTES}-byte leaves packed into one
buffer + u32 offsets (\`Mmr.appendLeaves\`, Rust also computes the leaf hash SHA-256(0x00 ‖ leaf)).
Every append call writes its new nodes to the node file (one write(2) per call of ≤ 4096 leaves) but
does not fsync; "write(2)/call (a)" is the count of write-type system calls per per-leaf call, from
\`/proc/self/io\`; "fsync ms" is the one \`Mmr.sync()\` after the batched run.

| N | leaves | (a) per-leaf call | (b) batched ×${BATCH} | (b) / (a) | write(2)/call (a) | fsync ms |
| ---: | :--- | ---: | ---: | ---: | ---: | ---: |
${mmrRows.map((r) => `| ${fmt(r.n)} | ${r.input} | ${fmt(r.perLeaf)} | ${fmt(r.batched)} | ${(r.batched / r.perLeaf).toFixed(1)}× | ${r.perLeafWrites.toFixed(2)} | ${r.syncMs.toFixed(1)} |`).join("\n")}

## WAL durable records/s with group commit

${RECORD_BYTES}-byte records; each commit is \`Wal.append(type, batch)\` (one FFI call, one write) +
\`Wal.sync()\` (one fdatasync), repeated for ${walSeconds} s per batch size on a fresh log. A record counts once
its sync has returned. Latency is per commit (append + sync).

| batch | commits | commits/s | durable records/s | p50 ms | p99 ms | max ms |
| ---: | ---: | ---: | ---: | ---: | ---: | ---: |
${walRows.map((r) => `| ${r.batch} | ${fmt(r.commits)} | ${fmt(r.commitsPerS)} | ${fmt(r.recordsPerS)} | ${r.p50Ms.toFixed(3)} | ${r.p99Ms.toFixed(3)} | ${r.maxMs.toFixed(3)} |`).join("\n")}

## Compared with Aegis

Aegis's figures are the ones quoted to us (its Rust MMR at 0.78–0.98 M leaves/s; 1,727 commits/s);
they were not measured on this machine, so read the comparison as orders of magnitude only.

- **MMR:** at N = ${fmt(Math.max(...MMR_SIZES))}, batched appends through bun:ffi reach
  ${batched1M.map((r) => `${(r.batched / 1e6).toFixed(2)} M leaves/s ${r.input.startsWith("raw") ? "with raw leaves" : "pre-hashed"}`).join(" and ")},
  against Aegis's 0.78–0.98 M leaves/s from native Rust. One leaf per call is
  ${batched1M.map((r) => `${(r.batched / r.perLeaf).toFixed(1)}×`).join(" / ")} (pre-hashed / raw) slower: the
  bun:ffi crossing itself costs ~${Math.round(calls[2]!.ns)} ns (table above), far less than the ~${fmt(1e9 / batched1M[0]!.perLeaf)} ns a
  per-leaf append takes; the rest is mostly the write(2) the MMR issues on every append call
  (${batched1M.map((r) => r.perLeafWrites.toFixed(2)).join(" / ")} per call). Batching amortises both, so the ledger
  must hand the MMR whole batches (as the audit worker's group commit does).
- **WAL:** one fsync per record (batch 1) gives ${fmt(wal1.commitsPerS)} commits/s here
  (Aegis: 1,727 commits/s). Group commit multiplies durable records per fsync: batch ${walBest.batch} reaches
  ${fmt(walBest.recordsPerS)} durable records/s at ${fmt(walBest.commitsPerS)} commits/s. Commits/s is bounded
  by the disk's fsync latency (p50 above), not by bun:ffi.
`;

mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, md);
console.log(md);
console.error(`wrote ${out}`);
cleanup();
