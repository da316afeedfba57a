/**
 * Starts the audit worker and checks it is alive.
 *
 * The worker is a separate entry point of the compiled binary (see build.ts). Inside the binary
 * `import.meta.url` names the output bundle, not this source file, so `new URL("./worker.ts",
 * import.meta.url)` would point at the bundle root; build.ts therefore bakes in the worker's
 * path relative to that root.
 */
import type { FromWorker, ToWorker } from "./messages";

declare const WARDEN_AUDIT_WORKER: string | undefined;

const workerSpecifier = typeof WARDEN_AUDIT_WORKER === "string" ? WARDEN_AUDIT_WORKER : new URL("./worker.ts", import.meta.url).href;

export interface AuditWorker {
  coreVersion: string;
  /** Resolves true when the worker answers within `timeoutMs`. */
  ping(timeoutMs?: number): Promise<boolean>;
  stop(): void;
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

export async function startAuditWorker(libraryPath: string, sha256: string): Promise<AuditWorker> {
  const worker = new Worker(workerSpecifier);
  const send = (m: ToWorker) => worker.postMessage(m);
  const first = once(worker, (m) => m.type === "ready" || m.type === "failed", 10_000);
  send({ type: "init", libraryPath, sha256 });
  const answer = await first;
  if (answer?.type !== "ready") {
    worker.terminate();
    throw new Error(`audit worker did not start: ${answer?.type === "failed" ? answer.message : "no answer within 10 s"}`);
  }
  worker.unref();
  let nextId = 0;
  return {
    coreVersion: answer.coreVersion,
    async ping(timeoutMs = 1000) {
      const id = ++nextId;
      const pending = once(worker, (m) => m.type === "pong" && m.id === id, timeoutMs);
      send({ type: "ping", id });
      return (await pending) !== undefined;
    },
    stop: () => worker.terminate(),
  };
}
