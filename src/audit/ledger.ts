/**
 * The ledger: audit records appended to the WAL (durability) and the MMR (proofs), with signed
 * checkpoints. Runs inside the audit worker; nothing here is on the request path.
 *
 * Files under `<dataDir>/ledger/`:
 *   wal/               WAL segments: record i of the WAL is leaf i of the tree
 *   nodes.mmr          MMR nodes; derived data, rebuilt from the WAL when missing or behind
 *   checkpoints.jsonl  one {"size","note"} line per signed checkpoint, fsync'd; the last one's size
 *                      is the durability watermark the WAL is opened with
 *   signing.key        the Ed25519 signer key (sumdb/note format, mode 0600), unless configured
 *
 * Recovery needs no manual step: a torn WAL tail above the watermark is cut by the WAL itself,
 * the MMR is truncated or replayed to match the WAL, and the tree must reproduce the last signed
 * root — if it does not, the ledger refuses to open rather than sign a different history.
 */
import { appendFileSync, existsSync, mkdirSync, openSync, closeSync, fsyncSync, readFileSync, writeFileSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import type { Mmr, NativeCore, Wal } from "../native";
import { checkpointBody, generateKey, openNote, parseCheckpoint, parseSignerKey, parseVerifierKey, signNote, verifierKeyOf, type Signer } from "./note";
import type { HandOff } from "./record";
import { HandOffWriter } from "./handoff";
import { LeafBuilder, PHASES, type Batch } from "./leaf";

export const RECORD_TYPE = 1;
const REPLAY_BATCH = 4096;

export interface LedgerOptions {
  origin: string;
  /** A sumdb/note signer key; when absent, one is created in signing.key on first start. */
  signerKey?: string;
  checkpointEveryRecords: number;
  checkpointEveryMs: number;
  /** Receives the duration of every WAL fsync, in seconds (for the metrics). */
  onWalSync?: (seconds: number) => void;
  /** For benchmarks: a (thread CPU) clock; append() then adds each stage's time to `profile`. */
  clock?: () => number;
}

/** The stages of append() in Ledger.profile: building the leaves (see leaf.ts), then the WAL, MMR and fsync. */
export const APPEND_STAGES = [...PHASES, "wal append", "mmr append", "fsync"] as const;

export interface Checkpoint {
  size: number;
  note: string;
}

export interface RecoveryReport {
  records: number;
  watermark: number;
  walTruncatedRecords: number;
  mmrReplayed: number;
  mmrTruncated: number;
  mmrRebuilt: boolean;
}

function fsyncDir(dir: string): void {
  const fd = openSync(dir, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

async function loadSigner(dir: string, opts: LedgerOptions): Promise<Signer> {
  if (opts.signerKey) return parseSignerKey(opts.signerKey);
  const file = join(dir, "signing.key");
  if (!existsSync(file)) {
    const { signerKey } = await generateKey(opts.origin);
    writeFileSync(file, `${signerKey}\n`, { mode: 0o600, flag: "wx" });
    fsyncDir(dir);
  }
  return parseSignerKey(readFileSync(file, "utf8").trim());
}

/** Signed checkpoints from the log; a torn last line (a crash mid-append) was never acknowledged. */
function readCheckpoints(file: string): Checkpoint[] {
  if (!existsSync(file)) return [];
  const lines = readFileSync(file, "utf8").split("\n");
  const out: Checkpoint[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (lines[i] === "") continue;
    try {
      out.push(JSON.parse(lines[i]) as Checkpoint);
    } catch (e) {
      if (i >= lines.length - 2) break; // torn tail
      throw new Error(`${file}: line ${i + 1} is not a checkpoint: ${(e as Error).message}`);
    }
  }
  return out;
}

export interface Ledger {
  readonly verifierKey: string;
  readonly recovery: RecoveryReport;
  size(): number;
  /** Appends and makes durable (one fsync for the whole batch); returns the first seq. */
  append(batch: HandOff[]): number;
  /**
   * The same for packed hand-off batches as the gateway transferred them (handoff.ts), all in one
   * WAL append and one fsync; returns the first seq (the records are numbered in batch order).
   */
  appendBatches(batches: readonly Batch[]): number;
  /** Time per stage of append() (APPEND_STAGES order), when LedgerOptions.clock is set. */
  readonly profile: Float64Array;
  /** Signs a checkpoint if enough records or time have passed since the last one. */
  maybeCheckpoint(now: number): Promise<Checkpoint | undefined>;
  checkpoint(): Promise<Checkpoint>;
  latestCheckpoint(): Checkpoint | undefined;
  /** ms since the epoch when the latest checkpoint was signed; undefined before the first. */
  latestCheckpointTime(): number | undefined;
  record(seq: number): Uint8Array;
  inclusionProof(seq: number, size: number): Uint8Array[];
  consistencyProof(size1: number, size2: number): Uint8Array[];
  close(): void;
}

export async function openLedger(core: NativeCore, dataDir: string, opts: LedgerOptions): Promise<Ledger> {
  const dir = join(dataDir, "ledger");
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const signer = await loadSigner(dir, opts);
  const verifier = await parseVerifierKey(verifierKeyOf(signer));
  const checkpointFile = join(dir, "checkpoints.jsonl");
  // Only the latest checkpoint is kept in memory: the file holds them all, and a list growing by
  // one entry per checkpoint (7 a second at 7 000 records/s) would grow the gateway forever.
  let latest = readCheckpoints(checkpointFile).at(-1);
  let latestRoot: Uint8Array | undefined;
  if (latest) {
    const body = await openNote(latest.note, verifier).catch((e: Error) => {
      throw new Error(`${checkpointFile}: the last checkpoint does not verify with this ledger's key: ${e.message}`);
    });
    const cp = parseCheckpoint(body);
    if (cp.origin !== opts.origin) throw new Error(`${checkpointFile}: checkpoint origin ${cp.origin} differs from the configured ${opts.origin}`);
    latestRoot = cp.root;
  }
  const watermark = latest?.size ?? 0;

  const wal: Wal = core.openWal(join(dir, "wal"), { watermark });
  const records = wal.length();
  const mmrPath = join(dir, "nodes.mmr");
  let mmr: Mmr = core.openMmr(mmrPath);
  const report: RecoveryReport = { records, watermark, walTruncatedRecords: wal.report.truncated_records, mmrReplayed: 0, mmrTruncated: 0, mmrRebuilt: false };

  const catchUp = () => {
    if (mmr.size() > records) {
      report.mmrTruncated = mmr.size() - records;
      mmr.truncate(records);
    }
    for (let from = mmr.size(); from < records; from += REPLAY_BATCH) {
      const batch = wal.readBatch(from, Math.min(REPLAY_BATCH, records - from));
      mmr.appendLeaves(batch.map((r) => r.payload));
      report.mmrReplayed += batch.length;
    }
    mmr.sync();
  };
  catchUp();
  // A damaged stored node would serve proofs that fail; check() recomputes every parent.
  if (mmr.check(0) < mmr.size() || (latestRoot && !equal(mmr.root(watermark), latestRoot))) {
    // The node file is inconsistent or disagrees with what we signed: rebuild it from the WAL.
    mmr.close();
    rmSync(mmrPath, { force: true });
    mmr = core.openMmr(mmrPath);
    report.mmrRebuilt = true;
    report.mmrReplayed = 0;
    catchUp();
    // Before the first checkpoint nothing was signed: the rebuilt tree is the WAL's.
    if (latestRoot && !equal(mmr.root(watermark), latestRoot)) {
      mmr.close();
      wal.close();
      throw new Error(`the ledger's records no longer reproduce the root signed at size ${watermark}: refusing to serve`);
    }
  }

  let lastCheckpointAt = performance.now();
  // Checkpoints carry no time (C2SP), so a restart takes the checkpoint log's last write.
  let latestSignedAt = latest ? statSync(checkpointFile).mtimeMs : undefined;
  /** Set when an fsync failed: what the kernel dropped cannot be known, so we stop appending. */
  let failure: Error | undefined;

  async function checkpoint(): Promise<Checkpoint> {
    if (failure) throw failure;
    const size = wal.durableLength(); // never sign a record that is not on disk
    const note = await signNote(checkpointBody(opts.origin, size, mmr.root(size)), signer);
    const cp = { size, note };
    appendFileSync(checkpointFile, `${JSON.stringify(cp)}\n`);
    const fd = openSync(checkpointFile, "r+");
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    latest = cp;
    lastCheckpointAt = performance.now();
    latestSignedAt = Date.now();
    mmr.sync(); // not needed for safety (nodes are rebuilt from the WAL), but keeps restarts fast
    return cp;
  }

  // Records that were durable but not yet signed when the last process stopped (a crash, say)
  // get their checkpoint now, not after the next interval.
  if (wal.durableLength() > watermark) await checkpoint();

  const builder = new LeafBuilder();
  const clock = opts.clock;
  builder.clock = clock;
  const profile = new Float64Array(APPEND_STAGES.length);
  const WAL_STAGE = PHASES.length;

  function appendBatches(batches: readonly Batch[]): number {
    if (failure) throw failure;
    const seq = wal.length();
    builder.profile.fill(0);
    const count = builder.build(batches, seq, core);
    let t = clock === undefined ? 0 : clock();
    if (clock !== undefined) for (let i = 0; i < WAL_STAGE; i++) profile[i] += builder.profile[i]!;
    wal.appendPacked(RECORD_TYPE, builder.leaves, builder.offsets, count); // a failed append is rolled back by the WAL: nothing to undo
    if (clock !== undefined) profile[WAL_STAGE] += -t + (t = clock());
    mmr.appendPacked(builder.leaves, builder.offsets, count);
    if (clock !== undefined) profile[WAL_STAGE + 1] += -t + (t = clock());
    const syncStart = performance.now();
    try {
      wal.sync();
    } catch (e) {
      failure = new Error(`the ledger stopped after an fsync failure: ${(e as Error).message}`);
      throw failure;
    } finally {
      opts.onWalSync?.((performance.now() - syncStart) / 1000);
      if (clock !== undefined) profile[WAL_STAGE + 2] += clock() - t;
    }
    return seq;
  }

  return {
    verifierKey: verifierKeyOf(signer),
    recovery: report,
    size: () => mmr.size(),
    append(batch) {
      // The worker's path, so that one encoder writes every leaf: pack, then append the batch.
      const writer = new HandOffWriter();
      for (const h of batch) writer.write(h);
      const { buffer, length } = writer.take();
      return appendBatches([{ buffer, length }]);
    },
    appendBatches,
    profile,
    async maybeCheckpoint(now) {
      if (failure) return undefined;
      const size = wal.durableLength();
      const since = size - (latest?.size ?? 0);
      if (since === 0) return undefined;
      if (since >= opts.checkpointEveryRecords || now - lastCheckpointAt >= opts.checkpointEveryMs) return checkpoint();
      return undefined;
    },
    checkpoint,
    latestCheckpoint: () => latest,
    latestCheckpointTime: () => latestSignedAt,
    record: (seq) => wal.read(seq).payload,
    inclusionProof: (seq, size) => mmr.inclusionProof(seq, size),
    consistencyProof: (a, b) => mmr.consistencyProof(a, b),
    close() {
      mmr.close();
      wal.close();
    },
  };
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
