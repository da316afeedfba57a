/**
 * What clients see of a decision: OpenAI's `x-ratelimit-*` headers, `Retry-After`, and the
 * refusal in OpenAI's error shape.
 *
 * OpenAI's own 429 bodies carry `"type": "requests"` or `"tokens"` with code
 * `rate_limit_exceeded`; src/errors has no such types, so refusals use `rate_limit_error`
 * (SDKs branch on the status, 429 → RateLimitError, not on the type). Codes are stable:
 *
 *     rate_limit_exceeded         429  over rpm/tpm; waiting Retry-After seconds helps
 *     request_exceeds_limit       429  can never pass: prompt > tpm, or a limit of 0 (no Retry-After)
 *     concurrency_limit_exceeded  429  too many requests in flight
 *     rate_limiter_unavailable    503  Redis unreachable and WARDEN_REDIS_FAILURE=closed
 *
 * A request bigger than the tpm limit gets 429 like OpenAI gives it ("Request too large …"),
 * not 400/413: the request is well-formed and within the body limit (413 is the guard's, for
 * bytes); it is this subject's budget that is too small, and raising the limit makes the same
 * request pass. It gets its own code and no Retry-After, so clients can tell "wait" from
 * "never".
 */
import { GatewayError, type ErrorType } from "../errors";
import type { Decision } from "./types";

/** OpenAI's 429s name the kind of limit as the error type: "requests" or "tokens". */
const typeOf = (reason: Decision["reason"]): ErrorType => (reason === "tokens" ? "tokens" : "requests");

/**
 * A duration the way OpenAI writes `x-ratelimit-reset-*` and "Please try again in …":
 * whole milliseconds below a second, then Go-style h/m/s with up to three decimals. Rounded up
 * to the millisecond, so waiting the stated time is always enough.
 *
 * @example
 * formatDuration(20)      // "20ms"
 * formatDuration(1000)    // "1s"
 * formatDuration(9816)    // "9.816s"
 * formatDuration(360_000) // "6m0s"
 */
export function formatDuration(ms: number): string {
  const total = ms > 0 ? Math.ceil(ms - 1e-9) : 0;
  if (total === 0) return "0s";
  if (total < 1000) return `${total}ms`;
  const hours = Math.floor(total / 3_600_000);
  const minutes = Math.floor((total % 3_600_000) / 60_000);
  const millis = total % 60_000;
  const seconds = millis % 1000 === 0 ? String(millis / 1000) : (millis / 1000).toFixed(3).replace(/0+$/, "");
  if (hours > 0) return `${hours}h${minutes}m${seconds}s`;
  if (minutes > 0) return `${minutes}m${seconds}s`;
  return `${seconds}s`;
}

/**
 * `Retry-After` in whole seconds, rounded up (at least 1).
 *
 * @example
 * retryAfterSeconds(1200) // 2
 */
export function retryAfterSeconds(ms: number): number {
  const s = Math.ceil(ms / 1000 - 1e-9);
  return s > 1 ? s : 1;
}

const NONE: Record<string, string> = Object.freeze({}) as Record<string, string>;

/**
 * The `x-ratelimit-*` headers for any decision (allowed or not), for the most constraining
 * subject of each kind. Kinds no subject limits are left out; an unenforced decision (store
 * down, failure mode open) gets none, since nothing was counted.
 *
 * @example
 * rateLimitHeaders(d) // { "x-ratelimit-limit-requests": "60", "x-ratelimit-remaining-requests": "59", "x-ratelimit-reset-requests": "1s", … }
 */
export function rateLimitHeaders(d: Decision): Record<string, string> {
  if (!d.enforced || (d.limitRequests < 0 && d.limitTokens < 0)) return NONE;
  const h: Record<string, string> = {};
  if (d.limitRequests >= 0) {
    h["x-ratelimit-limit-requests"] = String(d.limitRequests);
    h["x-ratelimit-remaining-requests"] = String(d.remainingRequests);
    h["x-ratelimit-reset-requests"] = formatDuration(d.resetRequestsMs);
  }
  if (d.limitTokens >= 0) {
    h["x-ratelimit-limit-tokens"] = String(d.limitTokens);
    h["x-ratelimit-remaining-tokens"] = String(d.remainingTokens);
    h["x-ratelimit-reset-tokens"] = formatDuration(d.resetTokensMs);
  }
  return h;
}

/** "key:key_ab12" → "key key_ab12", the way OpenAI writes "organization org-…". */
function who(subject: string | null): string {
  if (subject === null) return "this caller";
  const colon = subject.indexOf(":");
  return colon < 0 ? subject : `${subject.slice(0, colon)} ${subject.slice(colon + 1)}`;
}

/**
 * The client's error for a refused decision. Messages name subjects by id only (never a key).
 *
 * @example
 * const d = limiter.check(subjects, promptTokens);
 * if (!d.allowed) throw rateLimitError(d); // 429 rate_limit_exceeded, Retry-After, x-ratelimit-*
 */
export function rateLimitError(d: Decision): GatewayError {
  if (d.reason === "unavailable") {
    return new GatewayError(503, "The rate limiter is unavailable, so the request was not forwarded. Please try again shortly.", "server_error", "rate_limiter_unavailable", null, {
      "retry-after": String(retryAfterSeconds(d.retryAfterMs)),
    });
  }
  const headers = { ...rateLimitHeaders(d) };
  const name = who(d.subject);
  if (d.reason === "concurrency") {
    headers["retry-after"] = String(retryAfterSeconds(d.retryAfterMs));
    return new GatewayError(429, `Concurrency limit reached for ${name}: Limit ${d.limit} requests in flight, ${d.used} in flight now. Please try again when one of them has finished.`, "requests", "concurrency_limit_exceeded", null, headers);
  }
  const kind = d.reason === "tokens" ? "tokens per min (TPM)" : "requests per min (RPM)";
  if (d.retryAfterMs < 0) {
    const message = d.limit === 0
      ? `Requests are blocked for ${name}: its ${kind} limit is 0.`
      : `Request too large for ${name} on ${kind}: Limit ${d.limit}, Requested ${d.requested}. The prompt must be shorter, or the limit raised, for this request to succeed.`;
    return new GatewayError(429, message, typeOf(d.reason), "request_exceeds_limit", null, headers);
  }
  headers["retry-after"] = String(retryAfterSeconds(d.retryAfterMs));
  return new GatewayError(
    429,
    `Rate limit reached for ${name} on ${kind}: Limit ${d.limit}, Used ${d.used}, Requested ${d.requested}. Please try again in ${formatDuration(d.retryAfterMs)}.`,
    typeOf(d.reason),
    "rate_limit_exceeded",
    null,
    headers,
  );
}
