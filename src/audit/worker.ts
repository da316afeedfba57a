/**
 * The audit worker: a Bun Worker that owns the ledger (WAL + MMR through the Rust core), off the
 * request path. Hand-offs arrive in batches; every batch that accumulated while the previous one
 * was being fsync'd is appended together, so one fsync covers as many records as the disk's
 * latency lets pile up (group commit without a fixed linger). Batches stay packed until the ledger
 * writes their leaves (leaf.ts): no HandOff objects, no decoded strings on the way.
 */
import { openCore, type NativeCore } from "../native";
import { openLedger, type Ledger } from "./ledger";
import type { FromWorker, LedgerStatus, Query, ToWorker } from "./messages";
import type { Batch } from "./leaf";

declare const self: Worker;
let core: NativeCore | undefined;
let ledger: Ledger | undefined;
let queue: Batch[] = [];
let queuedRecords = 0;
let queuedDurable = false;
/**
 * Status messages cost both threads a structured clone and a wake-up (25-50 µs of the worker's
 * CPU each, bench/audit-worker.ts): one per appended group was ~1 µs per record at 5000 records/s,
 * and the gateway's main thread pays to receive each. A group
 * that a strict-mode hand-off waits on, and any failure, is reported at once; other successes at
 * most every STATUS_EVERY_MS (the gateway's queue and ledger metrics lag that much at most).
 */
const STATUS_EVERY_MS = 50;
let lastStatusAt = -Infinity;
let statusTimer: Timer | undefined;
let draining = false;
let appendErrors = 0;
let processed = 0;
let ticker: Timer | undefined;
/** WAL fsync durations since the last status message; they travel with it, never alone. */
let walFsyncs: number[] = [];

function reply(message: FromWorker): void {
  self.postMessage(message);
}

function sendStatus(ok: boolean, error?: string): void {
  clearTimeout(statusTimer);
  statusTimer = undefined;
  lastStatusAt = performance.now();
  reply(statusMessage(ok, error));
}

/** A success status now, or within STATUS_EVERY_MS of the last one. */
function statusSoon(): void {
  const wait = lastStatusAt + STATUS_EVERY_MS - performance.now();
  if (wait <= 0) sendStatus(true);
  else statusTimer ??= setTimeout(() => sendStatus(true), wait);
}

/** A status message, with the fsync timings gathered since the previous one. */
function statusMessage(ok: boolean, error?: string): FromWorker {
  const m: Extract<FromWorker, { type: "status" }> = { type: "status", status: status(), ok, error };
  if (walFsyncs.length > 0) {
    m.walFsyncSeconds = walFsyncs;
    walFsyncs = [];
  }
  return m;
}

function status(): LedgerStatus {
  const size = ledger?.size() ?? 0;
  return { size, checkpointSize: ledger?.latestCheckpoint()?.size ?? 0, appendErrors, processed, checkpointTimeMs: ledger?.latestCheckpointTime() ?? null };
}

async function drain(): Promise<void> {
  if (draining || ledger === undefined) return;
  draining = true;
  try {
    while (queue.length > 0) {
      const batches = queue;
      const count = queuedRecords;
      const durable = queuedDurable;
      queue = [];
      queuedRecords = 0;
      queuedDurable = false;
      try {
        ledger.appendBatches(batches);
        processed += count;
        if (durable) sendStatus(true);
        else statusSoon();
      } catch (e) {
        appendErrors += count;
        processed += count;
        sendStatus(false, (e as Error).message);
      }
      // A new checkpoint is reported soon: the metrics' checkpoint age must not go stale.
      if (await ledger.maybeCheckpoint(performance.now()).catch(() => undefined)) statusSoon();
      await Promise.resolve(); // let queued messages land before the next append
      await new Promise((r) => setImmediate(r));
    }
  } finally {
    draining = false;
  }
}

function hex(b: Uint8Array): string {
  return Buffer.from(b).toString("hex");
}

function answer(q: Query): unknown {
  const l = ledger!;
  const size = l.size();
  const range = (ok: boolean, what: string) => {
    if (!ok) throw Object.assign(new Error(what), { status: 404 });
  };
  switch (q.kind) {
    case "checkpoint": {
      const cp = l.latestCheckpoint();
      range(cp !== undefined, "No checkpoint has been signed yet.");
      return cp;
    }
    case "record":
      range(Number.isSafeInteger(q.seq) && q.seq >= 0 && q.seq < size, `No record ${q.seq}: the ledger holds ${size} records.`);
      return { seq: q.seq, leaf: new TextDecoder().decode(l.record(q.seq)) };
    case "inclusion":
      range(Number.isSafeInteger(q.size) && q.size > 0 && q.size <= size && Number.isSafeInteger(q.seq) && q.seq >= 0 && q.seq < q.size, `No inclusion proof for record ${q.seq} in a tree of size ${q.size} (the ledger holds ${size}).`);
      return { seq: q.seq, size: q.size, leaf_hash: hex(new Bun.CryptoHasher("sha256").update(new Uint8Array([0])).update(l.record(q.seq)).digest() as Uint8Array), proof: l.inclusionProof(q.seq, q.size).map(hex) };
    case "consistency":
      range(Number.isSafeInteger(q.from) && Number.isSafeInteger(q.to) && q.from > 0 && q.from <= q.to && q.to <= size, `No consistency proof from ${q.from} to ${q.to} (the ledger holds ${size}).`);
      return { from: q.from, to: q.to, proof: l.consistencyProof(q.from, q.to).map(hex) };
  }
}

self.onmessage = async (event: MessageEvent<ToWorker>) => {
  const msg = event.data;
  try {
    switch (msg.type) {
      case "init": {
        core = openCore(msg.libraryPath, msg.sha256);
        ledger = await openLedger(core, msg.ledger.dataDir, { ...msg.ledger, onWalSync: (s) => walFsyncs.push(s) });
        ticker = setInterval(() => {
          if (!draining) void ledger?.maybeCheckpoint(performance.now()).then((cp) => cp && statusSoon());
        }, Math.min(1000, msg.ledger.checkpointEveryMs));
        reply({ type: "ready", coreVersion: core.version, verifierKey: ledger.verifierKey, recovery: ledger.recovery, status: status() });
        break;
      }
      case "ping":
        reply({ type: "pong", id: msg.id, coreVersion: core?.version ?? null });
        break;
      case "records":
        queue.push({ buffer: msg.buffer, length: msg.length });
        queuedRecords += msg.count;
        if (msg.durable) queuedDurable = true;
        void drain();
        break;
      case "query":
        try {
          reply({ type: "answer", id: msg.id, ok: true, value: answer(msg.query) });
        } catch (e) {
          reply({ type: "answer", id: msg.id, ok: false, status: (e as { status?: number }).status ?? 500, message: (e as Error).message });
        }
        break;
      case "close":
        clearInterval(ticker);
        while (draining) await new Promise((r) => setTimeout(r, 5));
        await drain();
        if (ledger && ledger.size() > (ledger.latestCheckpoint()?.size ?? 0)) await ledger.checkpoint().catch(() => undefined);
        if (ledger) sendStatus(true); // the last word: nothing waits on a timer after this
        ledger?.close();
        ledger = undefined;
        reply({ type: "closed" });
        break;
    }
  } catch (e) {
    reply({ type: "failed", message: (e as Error).message });
  }
};
