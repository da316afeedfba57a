/**
 * What the router knows about each deployment (one model on one upstream): requests in flight,
 * how fast it answers, and whether it is cooling down after failures (a circuit breaker).
 *
 * Breaker: `cooldownFailures` consecutive failures take a deployment out of rotation for
 * `cooldownMs`; then it is half-open, and a single trial request decides (success: back in
 * rotation; failure: another cooldown). A 429 or 503 with Retry-After keeps the deployment out
 * for that long. State is plain numbers mutated in place: the router runs on one thread.
 */

export interface Health {
  /** Requests sent to it and not yet over (streams count until they end). */
  inflight: number;
  /** EWMA of its time to first byte (a stream's first event) in ms; NaN before the first sample. */
  ewmaMs: number;
  /** Failures since its last success. */
  failures: number;
  /** `performance.now()` before which it gets no requests; 0 when it is in rotation. */
  coolUntil: number;
  /** A half-open trial request is in flight: no second one until it is decided. */
  trial: boolean;
  /** Smooth weighted round-robin state (see ./strategies.ts). */
  current: number;
}

export interface Breaker {
  cooldownFailures: number;
  cooldownMs: number;
}

/** Weight of the newest latency sample: about the last ten requests count. */
const EWMA_ALPHA = 0.2;

export function newHealth(): Health {
  return { inflight: 0, ewmaMs: NaN, failures: 0, coolUntil: 0, trial: false, current: 0 };
}

/** May it get a request now? Cooling down: no; half-open: only if no trial is under way. */
export function available(h: Health, now: number, b: Breaker): boolean {
  if (now < h.coolUntil) return false;
  return h.failures < b.cooldownFailures || !h.trial;
}

/** A request is sent to it. */
export function started(h: Health, b: Breaker): void {
  h.inflight++;
  if (h.failures >= b.cooldownFailures) h.trial = true;
}

/**
 * Its reply began (headers, or a stream's first event) after `ms`: it works. Returns true when
 * this ended a cooldown (a half-open trial that succeeded), for the log.
 */
export function succeeded(h: Health, ms: number, b: Breaker): boolean {
  const recovered = h.failures >= b.cooldownFailures;
  h.failures = 0;
  h.trial = false;
  h.coolUntil = 0;
  h.ewmaMs = h.ewmaMs !== h.ewmaMs ? ms : h.ewmaMs + EWMA_ALPHA * (ms - h.ewmaMs);
  return recovered;
}

/**
 * It failed (unreachable, timed out, 5xx, 429). Returns true when this failure took it out of
 * rotation (for the metrics and the log): requests that were already in flight when it went
 * down fail afterwards, and neither count again nor push the end of the cooldown further out.
 * `retryAfterMs`: the upstream asked not to be called for that long.
 */
export function failed(h: Health, now: number, b: Breaker, retryAfterMs: number | undefined): boolean {
  h.failures++;
  h.trial = false;
  const cooling = now < h.coolUntil;
  if (!cooling && h.failures >= b.cooldownFailures) h.coolUntil = now + b.cooldownMs;
  if (retryAfterMs !== undefined && retryAfterMs > 0 && now + retryAfterMs > h.coolUntil) h.coolUntil = now + retryAfterMs;
  return !cooling && now < h.coolUntil;
}

/** The request sent to it is over, whatever the outcome. */
export function finished(h: Health): void {
  h.inflight--;
}

/**
 * Retry-After in milliseconds: delta-seconds or an HTTP date; undefined when absent or unreadable.
 *
 * @example
 * retryAfterMs("2"); // 2000
 */
export function retryAfterMs(value: string | null | undefined, nowMs = Date.now()): number | undefined {
  if (value == null || value === "") return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}
