/** Messages between the gateway and its audit worker (structured-clone friendly data only). */
export type ToWorker =
  | { type: "init"; libraryPath: string; sha256: string }
  | { type: "ping"; id: number };

export type FromWorker =
  | { type: "ready"; coreVersion: string }
  | { type: "pong"; id: number; coreVersion: string | null }
  | { type: "failed"; message: string };
