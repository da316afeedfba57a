/**
 * The gateway's side of the audit path: starts the audit worker, hands it records without
 * waiting, and asks it ledger questions for the /v1/audit endpoints.
 *
 * Hand-off packs the record into a batch buffer (no hashing, no JSON, no message per request);
 * the buffer is transferred to the worker in one message every {@link FLUSH_MS} ms or
 * {@link FLUSH_RECORDS} records, since a worker message costs ~46 µs round trip and would
 * dominate the request path.
 *
 * The worker is a separate entry point of the compiled binary (see build.ts). Inside the binary
 * `import.meta.url` names the output bundle, not this source file, so `new URL("./worker.ts",
 * import.meta.url)` would point at the bundle root; build.ts therefore bakes in the worker's
 * path relative to that root.
 */
import type { FromWorker, LedgerConfig, LedgerStatus, Query, ToWorker } from "./messages";
import type { HandOff } from "./record";
import { HandOffWriter } from "./handoff";
import { log } from "../log";

declare const WARDEN_AUDIT_WORKER: string | undefined;

const workerSpecifier = typeof WARDEN_AUDIT_WORKER === "string" ? WARDEN_AUDIT_WORKER : new URL("./worker.ts", import.meta.url).href;

export const FLUSH_MS = 10;
export const FLUSH_RECORDS = 256;
/** Strict mode gives up on a record that is not durable after this long (the reply becomes a 503). */
export const DURABLE_WAIT_MS = 5000;

export type Answer = { ok: true; value: unknown } | { ok: false; status: number; message: string };

export interface AuditWorker {
  coreVersion: string;
  verifierKey: string;
  recovery: unknown;
  /**
   * Queues a record for the ledger and returns at once. With `durable`, the record is posted
   * on the next turn of the event loop rather than after the batching delay, and the promise
   * resolves true once it is on disk, false if it could not be made durable or was not within
   * {@link DURABLE_WAIT_MS} (a stuck disk must not hold strict-mode replies forever).
   */
  handOff(record: HandOff, durable?: boolean): Promise<boolean> | undefined;
  status(): LedgerStatus & { queued: number; lastError: string | undefined };
  query(q: Query, timeoutMs?: number): Promise<Answer>;
  /** Resolves true when the worker answers within `timeoutMs`. */
  ping(timeoutMs?: number): Promise<boolean>;
  /** Flushes queued records, signs a final checkpoint and closes the ledger. */
  stop(timeoutMs?: number): Promise<void>;
}

/** The first message matching `match`, a worker error turned into `failed`, or undefined on timeout. */
function once(worker: Worker, match: (m: FromWorker) => boolean, timeoutMs: number): Promise<FromWorker | undefined> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => finish(undefined), timeoutMs);
    const onMessage = (event: MessageEvent<FromWorker>) => {
      if (match(event.data)) finish(event.data);
    };
    const onError = (event: ErrorEvent) => finish({ type: "failed", message: event.message });
    function finish(value: FromWorker | undefined) {
      clearTimeout(timer);
      worker.removeEventListener("message", onMessage);
      worker.removeEventListener("error", onError);
      resolve(value);
    }
    worker.addEventListener("message", onMessage);
    worker.addEventListener("error", onError);
  });
}

/** What the gateway hears of the worker besides its status (src/metrics). */
export interface AuditObserver {
  /** WAL fsync durations in seconds, a batch at a time, as the worker's status messages bring them. */
  walFsyncs?(seconds: number[]): void;
}

export async function startAuditWorker(libraryPath: string, sha256: string, ledger: LedgerConfig, observer: AuditObserver = {}): Promise<AuditWorker> {
  const worker = new Worker(workerSpecifier);
  const send = (m: ToWorker) => worker.postMessage(m);
  const first = once(worker, (m) => m.type === "ready" || m.type === "failed", 60_000);
  send({ type: "init", libraryPath, sha256, ledger });
  const answer = await first;
  if (answer?.type !== "ready") {
    worker.terminate();
    throw new Error(`the audit ledger did not open: ${answer?.type === "failed" ? answer.message : "no answer within 60 s"}`);
  }

  let status: LedgerStatus = answer.status;
  let lastError: string | undefined;
  let lastLogged = -Infinity;
  // In async mode a failing ledger must not stop the gateway, nor flood its log: say it at
  // once, then at most every 10 s with the running count.
  const reportAppendError = (error: string, failed: number) => {
    lastError = error;
    const now = performance.now();
    if (now - lastLogged < 10_000) return;
    lastLogged = now;
    log("error", "audit records could not be written", { error, records_lost: failed });
  };
  const pending = new HandOffWriter();
  let timer: Timer | undefined;
  let handed = 0; // hand-offs so far; the worker counts the same sequence as `processed`
  const durableWaiters: { index: number; deadline: number; resolve: (ok: boolean) => void }[] = [];
  // One sweep for all strict-mode deadlines rather than a timer per request. Waiters are queued
  // in hand-off order with the same wait, so the expired ones are always at the head.
  let sweep: Timer | undefined;
  const expireWaiters = () => {
    const now = performance.now();
    while (durableWaiters.length > 0 && durableWaiters[0].deadline <= now) durableWaiters.shift()!.resolve(false);
    if (durableWaiters.length === 0) {
      clearInterval(sweep);
      sweep = undefined;
    }
  };
  let nextId = 0;
  const waiting = new Map<number, (a: Answer) => void>();

  worker.addEventListener("message", (event: MessageEvent<FromWorker>) => {
    const m = event.data;
    if (m.type === "status") {
      if (m.error) reportAppendError(m.error, m.status.appendErrors);
      if (m.walFsyncSeconds) observer.walFsyncs?.(m.walFsyncSeconds);
      status = m.status;
      // The worker answers in arrival order, so every waiter below `processed` is settled by this batch.
      while (durableWaiters.length > 0 && durableWaiters[0].index < m.status.processed) durableWaiters.shift()!.resolve(m.ok);
    } else if (m.type === "answer") {
      waiting.get(m.id)?.(m.ok ? { ok: true, value: m.value } : { ok: false, status: m.status, message: m.message });
      waiting.delete(m.id);
    }
  });
  (worker as Worker & { unref(): void }).unref(); // Bun's Worker has unref(); the DOM type does not

  let immediate = false;
  let pendingDurable = false; // a hand-off of the pending batch waits for its status
  const flush = () => {
    clearTimeout(timer);
    timer = undefined;
    immediate = false;
    if (pending.count === 0) return;
    const { buffer, length, count } = pending.take();
    worker.postMessage({ type: "records", buffer, length, count, durable: pendingDurable } satisfies ToWorker, [buffer]);
    pendingDurable = false;
  };

  return {
    coreVersion: answer.coreVersion,
    verifierKey: answer.verifierKey,
    recovery: answer.recovery,
    handOff(record, durable = false) {
      const index = handed++;
      pending.write(record);
      if (durable) pendingDurable = true;
      if (pending.count >= FLUSH_RECORDS) flush();
      else if (durable) {
        if (!immediate) {
          immediate = true;
          setImmediate(flush);
        }
      } else timer ??= setTimeout(flush, FLUSH_MS);
      if (!durable) return undefined;
      sweep ??= setInterval(expireWaiters, 100);
      return new Promise<boolean>((resolve) => durableWaiters.push({ index, deadline: performance.now() + DURABLE_WAIT_MS, resolve }));
    },
    status: () => ({ ...status, queued: handed - status.processed, lastError }),
    query(q, timeoutMs = 5000) {
      const id = ++nextId;
      return new Promise<Answer>((resolve) => {
        const t = setTimeout(() => {
          waiting.delete(id);
          resolve({ ok: false, status: 503, message: "The audit ledger did not answer in time." });
        }, timeoutMs);
        waiting.set(id, (a) => {
          clearTimeout(t);
          resolve(a);
        });
        send({ type: "query", id, query: q });
      });
    },
    async ping(timeoutMs = 1000) {
      const id = ++nextId;
      const pendingPong = once(worker, (m) => m.type === "pong" && m.id === id, timeoutMs);
      send({ type: "ping", id });
      return (await pendingPong) !== undefined;
    },
    async stop(timeoutMs = 10_000) {
      flush();
      const closed = once(worker, (m) => m.type === "closed" || m.type === "failed", timeoutMs);
      send({ type: "close" });
      await closed;
      worker.terminate();
    },
  };
}
