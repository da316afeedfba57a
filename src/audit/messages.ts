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
  /** Packed hand-offs (see handoff.ts); `buffer` is transferred. */
  | { type: "records"; buffer: ArrayBuffer; length: number }
  | { type: "query"; id: number; query: Query }
  | { type: "close" };

export interface LedgerStatus {
  size: number; // records in the ledger, all durable
  checkpointSize: number;
  appendErrors: number; // hand-offs that could not be made durable
  /** Hand-offs this worker has dealt with since it started, in arrival order. */
  processed: number;
}

export type FromWorker =
  | { type: "ready"; coreVersion: string; verifierKey: string; recovery: unknown; status: LedgerStatus }
  | { type: "pong"; id: number; coreVersion: string | null }
  /** After each append: `ok` tells whether the hand-offs just processed are durable. */
  | { type: "status"; status: LedgerStatus; ok: boolean; error?: string }
  | { type: "answer"; id: number; ok: true; value: unknown }
  | { type: "answer"; id: number; ok: false; status: number; message: string }
  | { type: "closed" }
  | { type: "failed"; message: string };
