/**
 * Passes an upstream Server-Sent-Events body to the client chunk by chunk, never buffering the
 * reply. The shared watchdog (./watchdog.ts) looks after every open stream:
 * - keep-alive: after `keepAliveMs` without output, an SSE comment line is sent so proxies and
 *   clients do not give up on a model that is thinking (only between events, never inside one);
 * - idle and total deadlines: the upstream request is aborted and the client gets an error event.
 *
 * When client and upstream speak different formats, a translator (src/providers) rewrites each
 * upstream chunk into whole client events on the way; without one (the OpenAI path, and Anthropic
 * to Anthropic) the upstream's bytes pass untouched.
 */
import { errorBody } from "../errors";
import { endsWithFinalEvent, streamErrorEvent, type Dialect, type StreamTranslator } from "../providers";
import { fire, unwatch, type Watch } from "./watchdog";
import type { UsageEventFilter } from "./usage-event";

export interface StreamLimits {
  keepAliveMs: number;
  idleTimeoutMs: number;
}

/** A stream whose client does not get the upstream's bytes as they are. */
export interface ClientFormat {
  /** The client's format: the shape of our error events and of the final event strict mode holds. */
  dialect: Dialect;
  /** Rewrites upstream bytes into client events; absent: the bytes pass (same format both sides). */
  translator?: StreamTranslator;
  /** Keeps the usage event Warden asked for out of the client's stream (./usage-event.ts). */
  usage?: UsageEventFilter;
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

/** One read of an upstream body. */
export type ReadResult = Awaited<ReturnType<ReadableStreamDefaultReader<Uint8Array>["read"]>>;

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

/**
 * The final event of a stream that failed: the OpenAI SDKs throw an APIError on `data: {"error":...}`,
 * Anthropic's on `event: error`.
 */
function errorEvent(message: string, code: string, atBoundary: boolean, format?: ClientFormat): Uint8Array {
  const event = format === undefined ? `data: ${JSON.stringify(errorBody(message, "upstream_error", code))}\n\n` : streamErrorEvent(format.dialect, message, code);
  return encoder.encode(atBoundary ? event : `\n\n${event}`);
}

/**
 * @param reader the upstream's (already decompressed) SSE body
 * @param first its first read, which the forwarder awaited before answering the client
 * @param firstAt `performance.now()` when that read completed
 * @param w the watch of this upstream call; its deadline is the whole request's
 * @param sent collects every chunk given to the client (references, not copies) for the audit record
 * @param onEnd called once, when the stream ended, failed or the client left; in strict audit
 *   mode it returns whether the exchange's record is durable, and the stream's final `[DONE]`
 *   event is held back until it is (an error event replaces it if it cannot be made durable)
 * @param clock where the metrics' stream timings go: one performance.now() per chunk, which
 *   the idle watchdog needs anyway, and no allocation
 * @param format the client's format when it is not the upstream's OpenAI stream as is; `sent`
 *   then holds the translated events, what the client received
 */
export function pipeSse(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  first: ReadResult | undefined,
  firstAt: number,
  w: Watch,
  limits: StreamLimits,
  upstreamName: string,
  sent: Uint8Array[],
  onEnd: () => Promise<boolean> | void,
  holdFinal = false,
  clock?: ExchangeClock,
  format?: ClientFormat,
): ReadableStream<Uint8Array> {
  const translator = format?.translator;
  const usage = format?.usage;
  let ended = false;
  let held: Uint8Array | undefined;
  const end = () => {
    if (ended) return undefined;
    ended = true;
    return onEnd();
  };
  let lastUpstream = firstAt;
  let lastWrite = lastUpstream;
  let atBoundary = true;
  let lastToken = -1; // performance.now() of the last timed chunk; -1 before the first
  /**
   * Sends bytes on to the client, or holds them back if they end the stream in strict mode;
   * false if nothing went out (all of it was the hidden usage event, or is waiting for its end).
   */
  const pass = (controller: ReadableStreamDefaultController<Uint8Array>, bytes: Uint8Array, final: boolean): boolean => {
    const out = usage === undefined ? bytes : usage.push(bytes);
    if (holdFinal && final) held = out;
    else if (out.length > 0) controller.enqueue(out);
    else return false;
    return true;
  };
  /** Sends translated events; false if none reached the client. */
  const emit = (controller: ReadableStreamDefaultController<Uint8Array>, events: string): boolean => {
    if (events === "") return false;
    const bytes = encoder.encode(events);
    sent.push(bytes);
    const final = translator!.done && endsWithFinalEvent(format!.dialect, bytes);
    // A translated stream that ended without its final event ended in the translator's error event.
    if (translator!.done && !final && clock !== undefined) clock.streamError ??= "upstream_stream_error";
    return pass(controller, bytes, final);
  };
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
      // Loops only while a translator has nothing to say yet (a content_block_stop, say): a pull
      // that enqueues nothing might not be called again.
      for (;;) {
        let chunk: ReadResult;
        let now: number;
        try {
          if (first !== undefined) {
            chunk = first;
            now = firstAt;
            first = undefined;
          } else {
            chunk = await reader.read();
            now = performance.now();
          }
        } catch {
          unwatch(w);
          const [message, code] =
            w.why === "idle"
              ? [`Upstream '${upstreamName}' sent nothing for ${limits.idleTimeoutMs} ms; the stream was closed.`, "upstream_idle_timeout"]
              : w.why === "deadline"
                ? [`The request exceeded its time limit while streaming from upstream '${upstreamName}'.`, "upstream_timeout"]
                : [`The connection to upstream '${upstreamName}' failed mid-stream.`, "upstream_stream_interrupted"];
          if (clock !== undefined) clock.streamError = code;
          const event = errorEvent(message, code, atBoundary, format);
          sent.push(event);
          controller.enqueue(event);
          controller.close();
          end();
          return;
        }
        if (chunk.done) {
          unwatch(w);
          // A translator's closing events: the end of the reply, or an error event if it was cut.
          if (translator !== undefined) emit(controller, translator.end());
          const rest = usage?.end();
          if (rest !== undefined && rest.length > 0) controller.enqueue(rest);
          const durable = await end();
          if (held !== undefined) {
            controller.enqueue(
              durable === false
                ? errorEvent("The gateway could not make the audit record of this reply durable.", "audit_unavailable", true, format)
                : held,
            );
          }
          controller.close();
          return;
        }
        lastUpstream = lastWrite = now;
        if (clock !== undefined && chunk.value[0] !== COLON) {
          if (lastToken < 0) clock.firstToken?.observe((now - clock.arrivedAt) / 1000);
          else clock.tokenGap?.observe((now - lastToken) / 1000);
          lastToken = now;
        }
        if (translator !== undefined) {
          // Translators emit whole events only, so the client's stream is always at a boundary.
          if (emit(controller, translator.push(chunk.value))) return;
          continue;
        }
        // The usage filter passes whole events only, so the client's stream stays at a boundary.
        atBoundary = usage !== undefined || endsEvent(chunk.value);
        sent.push(chunk.value);
        const final = holdFinal && (format === undefined ? endsWithDone(chunk.value) : endsWithFinalEvent(format.dialect, chunk.value));
        if (pass(controller, chunk.value, final)) return;
        continue;
      }
    },
    cancel() {
      // The client went away: stop paying the upstream for tokens nobody will read.
      unwatch(w);
      fire(w, "client");
      end();
    },
  });
}
