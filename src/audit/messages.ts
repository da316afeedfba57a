/** Messages between the gateway and its audit worker (structured-clone friendly data only). */
export interface LedgerConfig {
  dataDir: string;
  origin: string;
  signerKey?: string;
  checkpointEveryRecords: number;
  checkpointEveryMs: number;
}

export type Query =
  | { kind: "checkpoint" }
  | { kind: "record"; seq: number }
  | { kind: "inclusion"; seq: number; size: number }
  | { kind: "consistency"; from: number; to: number };

export type ToWorker =
  | { type: "init"; libraryPath: string; sha256: string; ledger: LedgerConfig }
  | { type: "ping"; id: number }
  /**
   * `count` packed hand-offs (see handoff.ts); `buffer` is transferred. `durable`: one of them
   * waits until it is on disk (strict mode), so their status is reported at once.
   */
  | { type: "records"; buffer: ArrayBuffer; length: number; count: number; durable: boolean }
  | { type: "query"; id: number; query: Query }
  | { type: "close" };

export interface LedgerStatus {
  size: number; // records in the ledger, all durable
  checkpointSize: number;
  appendErrors: number; // hand-offs that could not be made durable
  /** Hand-offs this worker has dealt with since it started, in arrival order. */
  processed: number;
  /** ms since the epoch when the latest checkpoint was signed (null before the first); for the metrics. */
  checkpointTimeMs: number | null;
}

export type FromWorker =
  | { type: "ready"; coreVersion: string; verifierKey: string; recovery: unknown; status: LedgerStatus }
  | { type: "pong"; id: number; coreVersion: string | null }
  /**
   * After an append: `ok` tells whether the hand-offs processed since the last status are durable;
   * `walFsyncSeconds` the fsyncs timed since the last status (one per append batch). Sent at once
   * after a failure or when a hand-off waits for it (strict mode), else at most every
   * STATUS_EVERY_MS (worker.ts).
   */
  | { type: "status"; status: LedgerStatus; ok: boolean; error?: string; walFsyncSeconds?: number[] }
  | { type: "answer"; id: number; ok: true; value: unknown }
  | { type: "answer"; id: number; ok: false; status: number; message: string }
  | { type: "closed" }
  | { type: "failed"; message: string };
