/**
 * One shared timer that watches every upstream call in flight: our deadlines (first byte,
 * whole request, stream idle) and clients that went away.
 *
 * Why not a setTimeout and an abort listener per request: at tens of thousands of requests per
 * second those cost more than the forwarding itself (measured: removing the per-request
 * `request.signal` listener alone saved ~10 µs of CPU per request). The price is precision: a
 * deadline fires up to one sweep period late, and an abandoned request is noticed within one
 * period too.
 *
 * @example
 * const w: Watch = { abort: new AbortController(), client: request.signal, deadline: performance.now() + 5000, why: undefined };
 * watch(w);
 * try { await fetch(url, { signal: w.abort.signal }) } finally { unwatch(w) }
 * if (w.why === "deadline") ...
 */

export const SWEEP_MS = 100;

export interface Watch {
  /** Aborts the upstream request. */
  abort: AbortController;
  /** The client's request signal; once aborted, the upstream call is aborted too. */
  client: AbortSignal | undefined;
  /** `performance.now()` after which the call is aborted with why = "deadline". */
  deadline: number;
  /** Why the watchdog aborted the call, if it did ("connect": see `slowAt`). */
  why: "deadline" | "client" | "idle" | "connect" | undefined;
  /**
   * `performance.now()` at which `onSlow` runs once if the call is still watched: the forwarder
   * uses it to check, only for calls slow to answer, that the upstream still accepts connections.
   */
  slowAt?: number;
  onSlow?: () => void;
  /** Extra per-sweep work (SSE keep-alives and idle checks). */
  tick?: (now: number) => void;
}

const watched = new Set<Watch>();
let sweeper: Timer | undefined;

function sweep(): void {
  const now = performance.now();
  for (const w of watched) {
    if (now >= w.deadline) fire(w, "deadline");
    else if (w.client?.aborted) fire(w, "client");
    else {
      if (w.slowAt !== undefined && now >= w.slowAt) {
        w.slowAt = undefined;
        w.onSlow?.();
      }
      w.tick?.(now);
    }
  }
}

/** Aborts the watched call, remembering why; it stays watched until its owner unwatches it. */
export function fire(w: Watch, why: NonNullable<Watch["why"]>): void {
  if (w.why !== undefined) return;
  w.why = why;
  w.abort.abort();
}

export function watch(w: Watch): void {
  watched.add(w);
  sweeper ??= setInterval(sweep, SWEEP_MS);
}

export function unwatch(w: Watch): void {
  watched.delete(w);
  if (watched.size === 0 && sweeper !== undefined) {
    clearInterval(sweeper);
    sweeper = undefined;
  }
}
