/**
 * Stage 8, the forwarder: one upstream call for the router (src/router), and the reply back.
 *
 * Deadlines are ours, not Bun's: time to the upstream's first byte, the whole request, and (for
 * streams) silence between chunks. Upstream failures become OpenAI-shaped errors with a gateway
 * status (502/504), so a client can tell "the model said no" from "the gateway could not reach it".
 *
 * Provider formats (src/providers): an OpenAI client and an OpenAI-compatible upstream take the
 * fast path, the client's bytes up and the upstream's bytes down, with no translation at all.
 * Any other pair is planned by `planExchange` (URL, headers, translated body) and its reply,
 * stream and error replies are translated into the client's format on the way back.
 */
import type { Timeouts } from "../config";
import { GatewayError, type ErrorType } from "../errors";
import { needsPlan, planExchange, speaksOpenAI, type Dialect, type Exchange } from "../providers";
import { upstreamHeaders, type Endpoint, type UpstreamTarget } from "../providers/openai";
import type { OutputParser } from "../parsers";
import { pipeSse, type ExchangeClock, type ReadResult } from "./sse";
import { reachable } from "./connect";
import { createUsageEventFilter, withStreamUsage } from "./usage-event";
import { fire, unwatch, watch, type Watch } from "./watchdog";
import { log } from "../log";

export type { ExchangeClock } from "./sse";

export interface ForwardInput {
  target: UpstreamTarget;
  endpoint: Endpoint;
  body: Uint8Array;
  stream: boolean;
  requestId: string;
  clientHeaders: Headers;
  /** The client's request signal: aborted when the client disconnects before we answered. */
  clientSignal: AbortSignal;
  /** Headers of ours for the client's reply (the rate limiter's x-ratelimit-*). */
  headers?: Record<string, string>;
  /** Filled in with the exchange's timings, for the metrics. */
  clock?: ExchangeClock;
  /** The client's wire format (the route's); absent: OpenAI's. */
  dialect?: Dialect;
  /**
   * The request in OpenAI's chat format after the WAF, which translations start from; needed
   * unless client and upstream both speak OpenAI's format.
   */
  json?: Record<string, unknown>;
  /** The WAF rewrote the request (`json` has the redactions, `body` does not). */
  redacted?: boolean;
  /** Warden itself changed `json` after `body` was made (it asked for stream usage): send `json`. */
  rewritten?: boolean;
  /** The model's output parser (WARDEN_MODEL_<ID>_PARSER), applied to OpenAI-compatible replies. */
  parser?: OutputParser;
  /**
   * `performance.now()` by which the whole request must be over, all attempts included (the
   * router's); absent: `requestTimeoutMs` from this call's start.
   */
  deadline?: number;
}

export type Limits = Timeouts & { keepAliveMs: number };

/** Upstream reply headers worth passing on; everything else (cookies, hop-by-hop, the upstream's
 * Content-Encoding/Length, which no longer match the decompressed body) stays behind. */
const PASSED_BACK = ["content-type", "retry-after", "openai-processing-ms"] as const;

/** A plain object, not a Headers instance: measurably cheaper to build and hand to Response. */
function replyHeaders(from: Headers, requestId: string, stream: boolean, ours: Record<string, string> | undefined, x?: Exchange): Record<string, string> {
  const h: Record<string, string> = ours === undefined ? { "x-request-id": requestId } : { ...ours, "x-request-id": requestId };
  for (const name of PASSED_BACK) {
    const v = from.get(name);
    if (v !== null) h[name] = v;
  }
  if (stream) {
    h["cache-control"] = "no-cache";
    h["x-accel-buffering"] = "no"; // tell nginx in front of us not to buffer the stream
  }
  if (x !== undefined) {
    if (x.reply !== undefined && !stream) h["content-type"] = "application/json";
    if (x.dialect === "anthropic") h["request-id"] = requestId; // where Anthropic's SDKs look for it
  }
  return h;
}

/**
 * @example
 * const reply = await forward({ target, endpoint: "chat/completions", body, stream: false, requestId, clientHeaders, clientSignal }, config);
 */
/** How an exchange ended, for the audit record; reported once, when the client has it all. */
export interface Outcome {
  status: number;
  upstreamFirstByteUs: number | null;
  response: Uint8Array[];
  streamed: boolean;
}

function fail(status: number, message: string, type: ErrorType, code: string, stage: "forwarder" | "upstream", headers?: Record<string, string>): never {
  throw new GatewayError(status, message, type, code, null, headers, stage);
}

/**
 * Sends the request upstream and returns the reply for the client. Gateway-side failures throw
 * {@link GatewayError}; `onDone` receives the outcome of every exchange that got a reply.
 *
 * @example
 * const reply = await forward({ target, endpoint: "chat/completions", body, stream: false, requestId, clientHeaders, clientSignal }, config, (o) => audit(o));
 */
export async function forward(
  input: ForwardInput,
  limits: Limits,
  onDone: (outcome: Outcome) => Promise<boolean> | void,
  strictAudit = false,
): Promise<Response> {
  const { target, requestId, clock } = input;
  const name = target.upstream.name;
  // An OpenAI stream always carries usage (./usage-event.ts); the client sees it only if it asked.
  const usageAsked = askStreamUsage(input);
  if (usageAsked !== undefined) input = { ...input, json: usageAsked, rewritten: true };
  // Translating the request may refuse it (400, stage "adapter") before anything is sent.
  const x = needsPlan(target, input.dialect ?? "openai", input.parser !== undefined) ? plan(input) : undefined;
  const start = performance.now();
  if (clock !== undefined && !(clock.sentAt >= 0)) clock.sentAt = start; // a retry's upstream time counts from the first attempt
  const deadline = input.deadline ?? start + limits.requestTimeoutMs;
  const w: Watch = { abort: new AbortController(), client: input.clientSignal, deadline: Math.min(deadline, start + limits.firstByteTimeoutMs), why: undefined };
  let answered = false;
  if (limits.connectTimeoutMs < limits.firstByteTimeoutMs) {
    w.slowAt = start + limits.connectTimeoutMs;
    w.onSlow = () => {
      reachable(target.upstream.url, limits.connectTimeoutMs).then((ok) => ok || answered || fire(w, "connect"));
    };
  }
  watch(w);

  let res: Response;
  try {
    res = await fetch(x === undefined ? target.urls[input.endpoint] : x.url, {
      method: "POST",
      headers: x === undefined ? upstreamHeaders(target, input.clientHeaders, requestId) : x.headers,
      body: (x === undefined ? fastBody(input) : x.body) as BodyInit,
      signal: w.abort.signal,
      redirect: "manual",
      // Bun's own idle timer (5 minutes) would cut a model that thinks quietly; our deadlines rule.
      timeout: false,
    });
  } catch (e) {
    unwatch(w);
    if (clock !== undefined) clock.endedAt = performance.now();
    timedOut(w, name, limits);
    const why = (e as { code?: string }).code ?? (e as Error).name;
    if (why === "EMFILE" || why === "ENFILE") outOfDescriptors(why);
    fail(502, `Could not reach upstream '${name}' (${why}).`, "upstream_error", "upstream_unavailable", "forwarder");
  }
  answered = true;

  if (res.status < 200 || res.status >= 300) {
    unwatch(w);
    return x?.failure === undefined ? upstreamFailure(res, name, clock) : providerFailure(res, x, clock);
  }

  if (input.stream && res.body !== null && (res.headers.get("content-type") ?? "").startsWith("text/event-stream")) {
    // The first event is awaited under the first-byte deadline before the client gets anything,
    // so an upstream that answers 200 and then stalls or fails can still be retried elsewhere.
    const reader = res.body.getReader();
    let first: ReadResult;
    try {
      first = await reader.read();
    } catch {
      unwatch(w);
      if (clock !== undefined) clock.endedAt = performance.now();
      timedOut(w, name, limits);
      fail(502, `The connection to upstream '${name}' failed before its stream began.`, "upstream_error", "upstream_interrupted", "forwarder");
    }
    const firstAt = performance.now();
    const firstByteUs = (firstAt - start) * 1000;
    w.deadline = deadline; // the stream has begun; from now on the whole request's limit applies
    const chunks: Uint8Array[] = [];
    const body = pipeSse(
      reader,
      first,
      firstAt,
      w,
      { keepAliveMs: limits.keepAliveMs, idleTimeoutMs: limits.streamIdleTimeoutMs },
      name,
      chunks,
      () => {
        if (clock !== undefined) clock.endedAt = performance.now();
        return onDone({ status: res.status, upstreamFirstByteUs: firstByteUs, response: chunks, streamed: true });
      },
      strictAudit,
      clock,
      x === undefined && usageAsked === undefined
        ? undefined
        : { dialect: x?.dialect ?? "openai", translator: x?.stream?.(), usage: usageAsked === undefined ? undefined : createUsageEventFilter() },
    );
    return new Response(body, { status: res.status, headers: replyHeaders(res.headers, requestId, true, input.headers, x) });
  }
  const firstByteUs = (performance.now() - start) * 1000;
  w.deadline = deadline; // the first byte is in; from now on the whole request's limit applies

  // A whole JSON reply: read it under the overall deadline, then answer in one piece.
  let bytes: Uint8Array;
  try {
    bytes = await res.bytes();
  } catch {
    if (w.why === "deadline") fail(504, `Upstream '${name}' did not finish within ${limits.requestTimeoutMs} ms.`, "timeout_error", "upstream_timeout", "forwarder");
    fail(502, `The connection to upstream '${name}' failed while reading its reply.`, "upstream_error", "upstream_interrupted", "forwarder");
  } finally {
    unwatch(w);
    if (clock !== undefined) clock.endedAt = performance.now();
  }
  if (x?.reply !== undefined) bytes = translateReply(x.reply, bytes, name);
  // In strict audit mode the reply waits until its record is on disk.
  const durable = onDone({ status: res.status, upstreamFirstByteUs: firstByteUs, response: [bytes], streamed: false });
  if (durable !== undefined && (await durable) === false) {
    throw new GatewayError(503, "The gateway could not make the audit record of this reply durable; it was not delivered.", "server_error", "audit_unavailable", null, undefined, "audit");
  }
  return new Response(bytes as Uint8Array<ArrayBuffer>, { status: res.status, headers: replyHeaders(res.headers, requestId, false, input.headers, x) });
}

let descriptorsWarnedAt = -Infinity;

/**
 * Out of file descriptors: the gateway's own limit, not the upstream's fault, and what an
 * operator must fix (each proxied stream holds two). Said at most once a minute.
 */
function outOfDescriptors(code: string): void {
  const now = performance.now();
  if (now - descriptorsWarnedAt < 60_000) return;
  descriptorsWarnedAt = now;
  log("warn", "out of file descriptors: upstream connections are failing; raise the open-files limit (LimitNOFILE in deploy/warden.service)", { code });
}

/** Why the watchdog cut a call before its reply began, as the client's error; returns if it did not. */
function timedOut(w: Watch, name: string, limits: Limits): void {
  if (w.why === "deadline") fail(504, `Upstream '${name}' did not answer within ${limits.firstByteTimeoutMs} ms.`, "timeout_error", "upstream_timeout", "forwarder");
  if (w.why === "connect") fail(504, `Could not connect to upstream '${name}' within ${limits.connectTimeoutMs} ms.`, "timeout_error", "upstream_connect_timeout", "forwarder");
  if (w.why === "client") fail(499, "The client closed the request.", "invalid_request_error", "client_closed_request", "forwarder");
}

const bodyEncoder = new TextEncoder();

/**
 * The fast path's body: the client's bytes, unless the upstream knows the model by another
 * name or Warden asked for stream usage.
 */
function fastBody(input: ForwardInput): Uint8Array {
  const json = input.json;
  if (json === undefined || (json.model === input.target.model && input.rewritten !== true)) return input.body;
  return bodyEncoder.encode(JSON.stringify(json.model === input.target.model ? json : { ...json, model: input.target.model }));
}

/** The request with stream usage asked for, when an OpenAI client's stream to an OpenAI-format upstream lacks it. */
function askStreamUsage(input: ForwardInput): Record<string, unknown> | undefined {
  if (!input.stream || input.endpoint === "embeddings" || input.json === undefined || (input.dialect ?? "openai") !== "openai") return undefined;
  if (!speaksOpenAI(input.target.upstream) || !input.target.upstream.streamUsage) return undefined;
  return withStreamUsage(input.json);
}

function plan(input: ForwardInput): Exchange {
  return planExchange({
    target: input.target,
    endpoint: input.endpoint,
    dialect: input.dialect ?? "openai",
    json: input.json!,
    body: input.body,
    redacted: input.redacted === true || input.rewritten === true,
    stream: input.stream,
    requestId: input.requestId,
    clientHeaders: input.clientHeaders,
    parser: input.parser,
  });
}

const replyEncoder = new TextEncoder();
const replyDecoder = new TextDecoder();

/** A whole upstream reply in the client's format; a reply that does not parse is the upstream's fault (502). */
function translateReply(reply: (json: unknown) => unknown, bytes: Uint8Array, name: string): Uint8Array {
  let translated: unknown;
  try {
    translated = reply(JSON.parse(replyDecoder.decode(bytes)));
  } catch (e) {
    if (e instanceof GatewayError) throw e;
    fail(502, `Upstream '${name}' sent a reply that is not in its provider's format.`, "upstream_error", "upstream_bad_reply", "upstream");
  }
  return replyEncoder.encode(JSON.stringify(translated));
}

/** An error reply of a non-OpenAI upstream, mapped by its provider's rules (src/providers/<name>/errors.ts). */
async function providerFailure(res: Response, x: Exchange, clock: ExchangeClock | undefined): Promise<never> {
  const text = await res.text().catch(() => "");
  if (clock !== undefined) clock.endedAt = performance.now();
  throw x.failure!(res.status, text, res.headers.get("retry-after"));
}

/** The upstream's own message, if it sent an OpenAI-shaped error. */
async function upstreamMessage(res: Response): Promise<string | undefined> {
  try {
    const text = await res.text();
    const parsed = JSON.parse(text) as { error?: { message?: unknown } | string };
    if (typeof parsed.error === "string") return parsed.error;
    if (typeof parsed.error?.message === "string") return parsed.error.message;
    return text.slice(0, 500) || undefined;
  } catch {
    return undefined;
  }
}

/**
 * Maps an upstream error status to ours (thrown as GatewayError, stage "upstream"):
 * - 4xx caused by the request (400, 404, 413, 422, 429) pass through with their status, so the
 *   client can fix its request or back off (429 keeps Retry-After);
 * - 401/403 mean the gateway's upstream key is wrong: 502, not the client's fault;
 * - 504 stays 504, anything else (5xx, redirects) is 502.
 */
async function upstreamFailure(res: Response, name: string, clock: ExchangeClock | undefined): Promise<never> {
  const status = res.status;
  const message = (await upstreamMessage(res)) ?? `HTTP ${status}`;
  if (clock !== undefined) clock.endedAt = performance.now();
  const retryAfter = res.headers.get("retry-after");
  const headers = retryAfter !== null ? { "retry-after": retryAfter } : undefined;
  if (status === 429) fail(429, message, "rate_limit_error", "rate_limit_exceeded", "upstream", headers);
  if (status === 401 || status === 403) {
    fail(502, `Upstream '${name}' refused the gateway's credentials (${status}): ${message}`, "upstream_error", "upstream_auth_failed", "upstream", headers);
  }
  if (status >= 400 && status < 500) fail(status, message, "invalid_request_error", "upstream_rejected", "upstream", headers);
  if (status === 504) fail(504, `Upstream '${name}' timed out: ${message}`, "timeout_error", "upstream_timeout", "upstream", headers);
  fail(502, `Upstream '${name}' failed (${status}): ${message}`, "upstream_error", "upstream_error", "upstream", headers);
}
