/**
 * The audit worker: a Bun Worker that owns the Rust core's ledger side, off the request path.
 * It opens the already-extracted, already-verified core library itself (a Worker has its own
 * dlopen handle) and answers the parent's health pings.
 */
import { openCore, type NativeCore } from "../native";
import type { ToWorker, FromWorker } from "./messages";

declare const self: Worker;
let core: NativeCore | undefined;

function reply(message: FromWorker): void {
  self.postMessage(message);
}

self.onmessage = (event: MessageEvent<ToWorker>) => {
  const msg = event.data;
  try {
    if (msg.type === "init") {
      core = openCore(msg.libraryPath, msg.sha256);
      reply({ type: "ready", coreVersion: core.version });
    } else if (msg.type === "ping") {
      reply({ type: "pong", id: msg.id, coreVersion: core?.version ?? null });
    }
  } catch (e) {
    reply({ type: "failed", message: (e as Error).message });
  }
};
