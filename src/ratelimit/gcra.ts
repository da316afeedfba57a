/**
 * GCRA, the arithmetic both stores share.
 *
 * The generic cell rate algorithm keeps one number per limit: the theoretical arrival time
 * (TAT), the moment the subject's use so far would be fully paid off at the steady rate. A limit
 * of L per minute pays off one unit every `WINDOW_MS / L` ms (the emission interval). A request
 * costing `c` units at time `now` moves the TAT to
 *
 *     TAT' = max(TAT, now) + c · WINDOW_MS / L
 *
 * and is admitted when `TAT' − now ≤ WINDOW_MS`: an idle subject may spend a whole minute's
 * budget at once (the burst is L), after which it gets one unit per emission interval. When
 * refused, the wait is exactly `TAT' − now − WINDOW_MS`. Tokens are units too: the prompt is
 * charged at check time; completion tokens are charged afterwards without an admission test, so
 * a long reply can push the TAT beyond `now + WINDOW_MS` (debt) and the subject's next requests
 * wait until it is paid off.
 *
 * Why GCRA: O(1) state per limit (two doubles for rpm + tpm), no window-edge double bursts,
 * exact retry times, and idle state is simply "TAT in the past", so forgetting a subject whose
 * TAT has passed loses nothing (the memory store evicts them, Redis keys expire).
 *
 * {@link evaluate} is the single definition of admission and of everything reported about it.
 * The memory store runs it on its own state and commits the result; the Redis script applies
 * the same admission rule (same expressions, same order, so identical doubles) atomically and
 * returns the state it saw, on which evaluate() then computes the report.
 */
import type { Decision, Limits, Reason, Subject } from "./types";

/** Every limit is per minute. */
export const WINDOW_MS = 60_000;
/** Float slack (ms) so that L requests of cost WINDOW_MS / L always fit in a burst of L. */
export const EPSILON_MS = 1e-6;
/** Retry hint for a concurrency refusal: a slot frees whenever a request ends, which we cannot predict. */
export const CONCURRENCY_RETRY_MS = 1000;
/** Bit i of Decision.held stands for subjects[i]. */
export const MAX_SUBJECTS = 30;

/**
 * The TAT after charging `cost` units to a limit of `perMinute` (which must be > 0).
 *
 * @example
 * advance(0, 5000, 1, 60) // 6000: one request at t=5s, 60 rpm, paid off at t=6s
 */
export function advance(tat: number, now: number, cost: number, perMinute: number): number {
  return (tat > now ? tat : now) + (cost * WINDOW_MS) / perMinute;
}

/**
 * Units still available right now for a limit whose TAT is `tat` (0 when in debt).
 *
 * @example
 * remaining(6000, 5000, 60) // 59
 */
export function remaining(tat: number, now: number, perMinute: number): number {
  const owed = tat > now ? tat - now : 0;
  const left = Math.floor(((WINDOW_MS - owed) * perMinute) / WINDOW_MS + 1e-9);
  return left > 0 ? left : 0;
}

/**
 * Units used in the last minute as GCRA sees it (may exceed the limit when in debt).
 *
 * @example
 * used(65000, 5000, 60) // 60
 */
export function used(tat: number, now: number, perMinute: number): number {
  const owed = tat > now ? tat - now : 0;
  return Math.ceil((owed * perMinute) / WINDOW_MS - 1e-9);
}

/** A decision for "nothing to limit": shared, frozen, holds nothing to release. */
export const UNLIMITED: Decision = Object.freeze(blankDecision(true, true));

/** A fresh decision with no refusal and no report. */
export function blankDecision(allowed: boolean, enforced: boolean): Decision {
  return {
    allowed,
    enforced,
    reason: null,
    subject: null,
    retryAfterMs: 0,
    limit: 0,
    used: 0,
    requested: 0,
    limitRequests: -1,
    remainingRequests: -1,
    resetRequestsMs: -1,
    limitTokens: -1,
    remainingTokens: -1,
    resetTokensMs: -1,
    held: 0,
    subjects: null,
    lease: null,
  };
}

/** Which refusal to report when several limits refuse: the most final one. */
const NEVER = 4;
const RATE = 3;
const CONCURRENCY = 2;

/**
 * Decides one request for all `subjects` from their state before it, and reports.
 *
 * `state` holds three numbers per subject: requests TAT, tokens TAT, requests in flight.
 * When the request is allowed, `next` receives the TATs to commit (two per subject: requests,
 * tokens; only meaningful where the subject has that limit) and `held` marks the subjects with
 * a concurrency limit, whose in-flight count the store must increment.
 *
 * When several limits refuse, the reported one is the most final: one the request can never
 * pass (`retryAfterMs` -1), then the rate limit with the longest wait, then concurrency; and
 * `retryAfterMs` is the longest wait, since the request passes only when every limit lets it.
 *
 * @example
 * const state = new Float64Array([0, 0, 0]);
 * const next = new Float64Array(2);
 * const d = evaluate([{ id: "key:k1", limits: { rpm: 60, tpm: null, maxConcurrent: null } }], 0, 1000, state, next);
 * // d.allowed === true, d.remainingRequests === 59, next[0] === 2000
 */
export function evaluate(
  subjects: readonly Subject[],
  promptTokens: number,
  now: number,
  state: Float64Array,
  next: Float64Array,
): Decision {
  const n = subjects.length;
  const d = blankDecision(true, true);
  let rank = 0;
  let wait = 0;
  for (let i = 0; i < n; i++) {
    const limits: Limits = subjects[i].limits;
    const rpm = limits.rpm;
    const tpm = limits.tpm;
    const maxConcurrent = limits.maxConcurrent;
    if (rpm !== null) {
      const tat = state[3 * i];
      if (rpm <= 0) {
        rank = refuse(d, rank, NEVER, "requests", -1, subjects[i].id, 0, 0, 1);
      } else {
        const nextTat = advance(tat, now, 1, rpm);
        next[2 * i] = nextTat;
        const late = nextTat - now - WINDOW_MS;
        if (late > EPSILON_MS) {
          if (late > wait) wait = late;
          rank = refuse(d, rank, RATE, "requests", late, subjects[i].id, rpm, used(tat, now, rpm), 1);
        }
      }
    }
    if (tpm !== null) {
      const tat = state[3 * i + 1];
      if (tpm <= 0 || promptTokens > tpm) {
        rank = refuse(d, rank, NEVER, "tokens", -1, subjects[i].id, tpm > 0 ? tpm : 0, 0, promptTokens);
      } else {
        const nextTat = advance(tat, now, promptTokens, tpm);
        next[2 * i + 1] = nextTat;
        const late = nextTat - now - WINDOW_MS;
        if (late > EPSILON_MS) {
          if (late > wait) wait = late;
          rank = refuse(d, rank, RATE, "tokens", late, subjects[i].id, tpm, used(tat, now, tpm), promptTokens);
        }
      }
    }
    if (maxConcurrent !== null) {
      const inflight = state[3 * i + 2];
      if (inflight >= maxConcurrent) {
        if (CONCURRENCY_RETRY_MS > wait) wait = CONCURRENCY_RETRY_MS;
        rank = refuse(d, rank, CONCURRENCY, "concurrency", CONCURRENCY_RETRY_MS, subjects[i].id, maxConcurrent, inflight, 1);
      } else {
        d.held |= 1 << i;
      }
    }
  }
  if (rank > 0) {
    d.allowed = false;
    d.held = 0;
    d.retryAfterMs = rank === NEVER ? -1 : wait;
  }
  report(d, subjects, now, state, next);
  return d;
}

/** Records a refusal if it outranks the one already recorded; returns the new rank. */
function refuse(d: Decision, rank: number, r: number, reason: Reason, late: number, subject: string, limit: number, usedSoFar: number, requested: number): number {
  if (r < rank || (r === rank && late <= d.retryAfterMs)) return rank;
  d.reason = reason;
  d.subject = subject;
  d.retryAfterMs = late; // provisional: the tie-break above compares waits of the same rank
  d.limit = limit;
  d.used = usedSoFar;
  d.requested = requested;
  return r;
}

/**
 * Fills the x-ratelimit-* numbers from the most constraining subject of each kind: after this
 * request's charge when it was allowed, as things stand when it was refused.
 */
function report(d: Decision, subjects: readonly Subject[], now: number, state: Float64Array, next: Float64Array): void {
  const allowed = d.allowed;
  for (let i = 0; i < subjects.length; i++) {
    const { rpm, tpm } = subjects[i].limits;
    if (rpm !== null) {
      const tat = allowed && rpm > 0 ? next[2 * i] : state[3 * i];
      const left = rpm > 0 ? remaining(tat, now, rpm) : 0;
      const reset = tat > now ? tat - now : 0;
      if (d.limitRequests < 0 || left < d.remainingRequests || (left === d.remainingRequests && reset > d.resetRequestsMs)) {
        d.limitRequests = rpm > 0 ? rpm : 0;
        d.remainingRequests = left;
        d.resetRequestsMs = reset;
      }
    }
    if (tpm !== null) {
      const tat = allowed && tpm > 0 ? next[2 * i + 1] : state[3 * i + 1];
      const left = tpm > 0 ? remaining(tat, now, tpm) : 0;
      const reset = tat > now ? tat - now : 0;
      if (d.limitTokens < 0 || left < d.remainingTokens || (left === d.remainingTokens && reset > d.resetTokensMs)) {
        d.limitTokens = tpm > 0 ? tpm : 0;
        d.remainingTokens = left;
        d.resetTokensMs = reset;
      }
    }
  }
}
