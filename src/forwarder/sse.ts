/**
 * Passes an upstream Server-Sent-Events body to the client chunk by chunk, never buffering the
 * reply, and watches every open stream from one shared timer:
 * - keep-alive: after `keepAliveMs` without output, an SSE comment line is sent so proxies and
 *   clients do not give up on a model that is thinking (only between events, never inside one);
 * - idle and total deadlines: the upstream request is aborted and the client gets an error event.
 * One sweep timer for all streams instead of a timer per stream: re-arming a timer on every chunk
 * of thousands of concurrent streams costs more than the forwarding itself.
 */
import { errorBody } from "../errors";

export interface StreamLimits {
  keepAliveMs: number;
  idleTimeoutMs: number;
}

interface Watched {
  limits: StreamLimits;
  controller: ReadableStreamDefaultController<Uint8Array>;
  abort: AbortController;
  lastUpstream: number;
  lastWrite: number;
  deadline: number;
  atBoundary: boolean;
  why: "idle" | "deadline" | undefined;
}

const KEEPALIVE = new TextEncoder().encode(": keep-alive\n\n");
const encoder = new TextEncoder();
const watched = new Set<Watched>();
let sweeper: Timer | undefined;
let sweepPeriod = Infinity;

function sweep(): void {
  const now = performance.now();
  for (const w of watched) {
    const limits = w.limits;
    if (now >= w.deadline || now - w.lastUpstream >= limits.idleTimeoutMs) {
      w.why = now >= w.deadline ? "deadline" : "idle";
      w.abort.abort(); // the pending read rejects and pump() reports it
    } else if (w.atBoundary && now - w.lastWrite >= limits.keepAliveMs) {
      w.controller.enqueue(KEEPALIVE);
      w.lastWrite = now;
    }
  }
}

function watch(w: Watched): void {
  watched.add(w);
  const period = Math.max(10, Math.min(1000, w.limits.keepAliveMs / 2, w.limits.idleTimeoutMs / 2));
  if (sweeper === undefined || period < sweepPeriod) {
    clearInterval(sweeper);
    sweepPeriod = period;
    sweeper = setInterval(sweep, period);
  }
}

function unwatch(w: Watched): void {
  watched.delete(w);
  if (watched.size === 0 && sweeper !== undefined) {
    clearInterval(sweeper);
    sweeper = undefined;
    sweepPeriod = Infinity;
  }
}

/** True when the chunk ends an SSE event (a blank line), so a comment can follow safely. */
function endsEvent(c: Uint8Array): boolean {
  const n = c.length;
  return n >= 2 && c[n - 1] === 10 && (c[n - 2] === 10 || (n >= 4 && c[n - 2] === 13 && c[n - 3] === 10));
}

/** The final event of a stream that failed: the OpenAI SDKs throw an APIError on `data: {"error":...}`. */
function errorEvent(message: string, code: string, atBoundary: boolean): Uint8Array {
  const event = `data: ${JSON.stringify(errorBody(message, "upstream_error", code))}\n\n`;
  return encoder.encode(atBoundary ? event : `\n\n${event}`);
}

/**
 * @param body the upstream's (already decompressed) SSE body
 * @param abort aborts the upstream request; called when the client goes away
 * @param deadline `performance.now()` value after which the stream is cut
 */
export function pipeSse(
  body: ReadableStream<Uint8Array>,
  abort: AbortController,
  deadline: number,
  limits: StreamLimits,
  upstreamName: string,
): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  let w: Watched;
  return new ReadableStream<Uint8Array>({
    start(controller) {
      const now = performance.now();
      w = { limits, controller, abort, lastUpstream: now, lastWrite: now, deadline, atBoundary: true, why: undefined };
      watch(w);
    },
    async pull(controller) {
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await reader.read();
      } catch {
        unwatch(w);
        const [message, code] =
          w.why === "idle"
            ? [`Upstream '${upstreamName}' sent nothing for ${limits.idleTimeoutMs} ms; the stream was closed.`, "upstream_idle_timeout"]
            : w.why === "deadline"
              ? [`The request exceeded its time limit while streaming from upstream '${upstreamName}'.`, "upstream_timeout"]
              : [`The connection to upstream '${upstreamName}' failed mid-stream.`, "upstream_stream_interrupted"];
        controller.enqueue(errorEvent(message, code, w.atBoundary));
        controller.close();
        return;
      }
      if (chunk.done) {
        unwatch(w);
        controller.close();
        return;
      }
      const now = performance.now();
      w.lastUpstream = now;
      w.lastWrite = now;
      w.atBoundary = endsEvent(chunk.value);
      controller.enqueue(chunk.value);
    },
    cancel() {
      // The client went away: stop paying the upstream for tokens nobody will read.
      unwatch(w);
      abort.abort();
    },
  });
}
