/**
 * The rate limiter's vocabulary, shared by both stores (memory, Redis) and the reply helpers.
 */

/** Per-minute budgets of one subject; `null` means unlimited. A limit of 0 (or less) refuses everything. */
export interface Limits {
  /** Requests per minute. */
  rpm: number | null;
  /** Tokens per minute: prompt tokens at check time, completion tokens afterwards (see charge). */
  tpm: number | null;
  /** Requests in flight at once (a stream counts until it ends). */
  maxConcurrent: number | null;
}

/**
 * Who is limited: ids look like `key:key_ab12…` or `tenant:acme` and appear in refusal
 * messages, so they must never contain a secret. Ids of one check must differ.
 *
 * `fpHi`/`fpLo` cache the id's 64-bit fingerprint for the memory store: {@link subject} fills
 * them at construction, and a check fills them on first use, so a subject object kept with its
 * key record is hashed once instead of on every request.
 */
export interface Subject {
  readonly id: string;
  limits: Limits;
  fpHi?: number;
  fpLo?: number;
}

/**
 * Why a request was refused: which kind of limit, or the store.
 * - `requests` / `tokens`: over the rpm / tpm budget. `Decision.retryAfterMs` says how long to
 *   wait, or is -1 when waiting cannot help (the prompt alone exceeds the tpm limit, or the
 *   limit is 0).
 * - `concurrency`: too many requests in flight; a slot frees when one of them ends.
 * - `unavailable`: the shared store could not be asked and the failure mode is `closed`.
 */
export type Reason = "requests" | "tokens" | "concurrency" | "unavailable";

/**
 * The outcome of one check: plain numbers, rendered into headers or an error only when the
 * caller needs them (see rateLimitHeaders, rateLimitError).
 *
 * The `x-ratelimit-*` report describes, per kind (requests, tokens), the most constraining
 * subject: the one with the least remaining. `-1` in a limit field means no subject has a limit
 * of that kind, and its headers are left out.
 */
export interface Decision {
  allowed: boolean;
  /** False when the store was unreachable and the failure mode let the request through unchecked. */
  enforced: boolean;
  reason: Reason | null;
  /** Id of the subject whose limit refused, for the message. */
  subject: string | null;
  /** How long until the same request would pass; 0 when allowed, -1 when it never will. */
  retryAfterMs: number;
  /** The refusing limit's size, its use so far and what this request asked for (message text). */
  limit: number;
  used: number;
  requested: number;
  limitRequests: number;
  remainingRequests: number;
  resetRequestsMs: number;
  limitTokens: number;
  remainingTokens: number;
  resetTokensMs: number;
  /**
   * Store bookkeeping for release(): bit i set = a concurrency slot of subjects[i] is held.
   * Release clears it, which is what makes a second release a no-op.
   */
  held: number;
  subjects: readonly Subject[] | null;
  /** Redis store: this request's member in the subjects' in-flight sets. */
  lease: string | null;
}

/**
 * One rate limiter, whatever its store.
 *
 * Call order for one request: `check` before forwarding (charges one request and the prompt
 * tokens, takes a concurrency slot), then when the reply has ended, streams included,
 * `charge` with the completion tokens from the reply's usage and `release` with the decision.
 */
export interface RateLimiter {
  /**
   * Admits or refuses one request for all subjects at once: if any limit of any subject refuses,
   * nothing is charged to any of them. The memory store answers synchronously (no Promise).
   */
  check(subjects: readonly Subject[], promptTokens: number): Decision | Promise<Decision>;
  /** Frees the decision's concurrency slots; safe to call more than once, and on refusals. */
  release(decision: Decision): void;
  /** Charges tokens spent after the check (completion tokens); may put subjects into debt. */
  charge(subjects: readonly Subject[], completionTokens: number): void | Promise<void>;
  close(): void;
}
