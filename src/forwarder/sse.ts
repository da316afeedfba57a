/**
 * Passes an upstream Server-Sent-Events body to the client chunk by chunk, never buffering the
 * reply. The shared watchdog (./watchdog.ts) looks after every open stream:
 * - keep-alive: after `keepAliveMs` without output, an SSE comment line is sent so proxies and
 *   clients do not give up on a model that is thinking (only between events, never inside one);
 * - idle and total deadlines: the upstream request is aborted and the client gets an error event.
 */
import { errorBody } from "../errors";
import { fire, unwatch, type Watch } from "./watchdog";

export interface StreamLimits {
  keepAliveMs: number;
  idleTimeoutMs: number;
}

/** A histogram cell of src/metrics (anything with observe). */
interface Observer {
  observe(seconds: number): void;
}

/**
 * Timings of one upstream exchange for the metrics, in performance.now() milliseconds: the
 * caller allocates it, the forwarder fills it in, the caller reads it once the exchange ended.
 */
export interface ExchangeClock {
  /** When the request arrived at Warden: a stream's time to first token counts from here. */
  arrivedAt: number;
  /** When the request was sent upstream; NaN before. */
  sentAt: number;
  /** When the upstream's reply ended, failed or was abandoned; NaN before. */
  endedAt: number;
  /** The error code of the event that ended a failed stream, else null. */
  streamError: string | null;
  /** Streams: observed at the first upstream chunk, then between successive chunks. */
  firstToken: Observer | null;
  tokenGap: Observer | null;
}

const KEEPALIVE = new TextEncoder().encode(": keep-alive\n\n");
const encoder = new TextEncoder();

/** True when the chunk ends an SSE event (a blank line), so a comment can follow safely. */
function endsEvent(c: Uint8Array): boolean {
  const n = c.length;
  return n >= 2 && c[n - 1] === 10 && (c[n - 2] === 10 || (n >= 4 && c[n - 2] === 13 && c[n - 3] === 10));
}

const tailDecoder = new TextDecoder();

/** An SSE comment (an upstream's own keep-alive) carries no token: not timed. */
const COLON = 0x3a;

/** True for the chunk carrying the OpenAI stream's last event, `data: [DONE]`. */
function endsWithDone(c: Uint8Array): boolean {
  return tailDecoder.decode(c.subarray(Math.max(0, c.length - 16))).trimEnd().endsWith("data: [DONE]");
}

/** The final event of a stream that failed: the OpenAI SDKs throw an APIError on `data: {"error":...}`. */
function errorEvent(message: string, code: string, atBoundary: boolean): Uint8Array {
  const event = `data: ${JSON.stringify(errorBody(message, "upstream_error", code))}\n\n`;
  return encoder.encode(atBoundary ? event : `\n\n${event}`);
}

/**
 * @param body the upstream's (already decompressed) SSE body
 * @param w the watch of this upstream call; its deadline is the whole request's
 * @param sent collects every chunk given to the client (references, not copies) for the audit record
 * @param onEnd called once, when the stream ended, failed or the client left; in strict audit
 *   mode it returns whether the exchange's record is durable, and the stream's final `[DONE]`
 *   event is held back until it is (an error event replaces it if it cannot be made durable)
 * @param clock where the metrics' stream timings go: one performance.now() per chunk, which
 *   the idle watchdog needs anyway, and no allocation
 */
export function pipeSse(
  body: ReadableStream<Uint8Array>,
  w: Watch,
  limits: StreamLimits,
  upstreamName: string,
  sent: Uint8Array[],
  onEnd: () => Promise<boolean> | void,
  holdFinal = false,
  clock?: ExchangeClock,
): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  let ended = false;
  let held: Uint8Array | undefined;
  const end = () => {
    if (ended) return undefined;
    ended = true;
    return onEnd();
  };
  let lastUpstream = performance.now();
  let lastWrite = lastUpstream;
  let atBoundary = true;
  let lastToken = -1; // performance.now() of the last timed chunk; -1 before the first
  return new ReadableStream<Uint8Array>({
    start(controller) {
      w.client = undefined; // the stream's cancel() reports a client that leaves from now on
      w.tick = (now) => {
        if (now - lastUpstream >= limits.idleTimeoutMs) fire(w, "idle");
        else if (atBoundary && now - lastWrite >= limits.keepAliveMs) {
          sent.push(KEEPALIVE);
          controller.enqueue(KEEPALIVE);
          lastWrite = now;
        }
      };
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
        if (clock !== undefined) clock.streamError = code;
        const event = errorEvent(message, code, atBoundary);
        sent.push(event);
        controller.enqueue(event);
        controller.close();
        end();
        return;
      }
      if (chunk.done) {
        unwatch(w);
        const durable = await end();
        if (held !== undefined) {
          controller.enqueue(
            durable === false
              ? errorEvent("The gateway could not make the audit record of this reply durable.", "audit_unavailable", true)
              : held,
          );
        }
        controller.close();
        return;
      }
      const now = (lastUpstream = lastWrite = performance.now());
      if (clock !== undefined && chunk.value[0] !== COLON) {
        if (lastToken < 0) clock.firstToken?.observe((now - clock.arrivedAt) / 1000);
        else clock.tokenGap?.observe((now - lastToken) / 1000);
        lastToken = now;
      }
      atBoundary = endsEvent(chunk.value);
      sent.push(chunk.value);
      if (holdFinal && endsWithDone(chunk.value)) held = chunk.value;
      else controller.enqueue(chunk.value);
    },
    cancel() {
      // The client went away: stop paying the upstream for tokens nobody will read.
      unwatch(w);
      fire(w, "client");
      end();
    },
  });
}
