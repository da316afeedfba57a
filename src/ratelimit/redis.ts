/**
 * The shared store: every gateway instance checks against the same Redis, one Lua script per
 * check (redis-scripts.ts), atomic over all the request's subjects.
 *
 * Redis being slow or gone must not hang requests: the connection (src/redis) bounds every
 * call by `timeoutMs`, stops asking for `retryMs` after a failure (requests get the failure
 * decision at once) and then lets one request probe, and reconnects however long Redis was away.
 *
 * What "down" means for a request is the failure mode: `open` allows it unenforced (no
 * x-ratelimit headers, since nothing was counted), `closed` refuses it (503
 * rate_limiter_unavailable). Either way a warning is logged at most once per `logEveryMs`.
 *
 * Concurrency slots are leases in a per-subject sorted set, renewed every `leaseMs / 3` while
 * the request runs; an instance that dies stops renewing and its slots free themselves within
 * `leaseMs`. A check that timed out but ran anyway gives its slots back when its reply arrives.
 */
import { log as defaultLog } from "../log";
import { connectScripts, script } from "../redis";
import { blankDecision, evaluate, MAX_SUBJECTS, UNLIMITED } from "./gcra";
import { CHARGE, CHECK, RELEASE, RENEW } from "./redis-scripts";
import type { Decision, RateLimiter, Subject } from "./types";

export interface RedisLimiterOptions {
  /** redis://[user:password@]host:port[/db] or rediss://… */
  url: string;
  /** What a check answers when Redis cannot be asked: allow unenforced, or refuse with 503. */
  failure: "open" | "closed";
  /** Bound on every Redis command, and on connecting (default 150 ms). */
  timeoutMs?: number;
  /** After a failure, how long to stop asking Redis before probing again (default 1000 ms). */
  retryMs?: number;
  /** Concurrency lease length; renewed every third of it while the request runs (default 30 s). */
  leaseMs?: number;
  /**
   * Leases stop being renewed after this long even if never released (default 1 h), so a
   * forgotten release() costs a slot for a while, not forever.
   */
  maxHoldMs?: number;
  /** Key prefix (default `warden:rl:`). */
  prefix?: string;
  /** At most one "Redis unavailable" warning per this many ms (default 10 s). */
  logEveryMs?: number;
  /** Log sink (default src/log). */
  log?: (level: "info" | "warn" | "error", msg: string, fields?: Record<string, unknown>) => void;
  /** Caller's clock in ms instead of Redis TIME; for tests that need a virtual clock. */
  now?: () => number;
}

export interface RedisLimiter extends RateLimiter {
  check(subjects: readonly Subject[], promptTokens: number): Decision | Promise<Decision>;
  charge(subjects: readonly Subject[], completionTokens: number): Promise<void>;
  /** Resolves once connected (true) or after `timeoutMs` without a connection (false). */
  ready(): Promise<boolean>;
}

const SCRIPTS = { check: script(CHECK), charge: script(CHARGE), release: script(RELEASE), renew: script(RENEW) };

function isLimited(s: Subject): boolean {
  const l = s.limits;
  return l.rpm !== null || l.tpm !== null || l.maxConcurrent !== null;
}

/** "-1" = unlimited; a negative limit means the same as 0 (refuse everything) in both stores. */
function limitArg(n: number | null): string {
  return n === null ? "-1" : n > 0 ? String(n) : "0";
}

/**
 * @example
 * const limiter = createRedisLimiter({ url: config.redisUrl!, failure: config.redisFailure });
 * const d = await limiter.check([key, tenant], promptTokens);
 * if (!d.allowed) throw rateLimitError(d);
 * // … when the reply has ended:
 * void limiter.charge([key, tenant], usage.completion_tokens);
 * limiter.release(d);
 */
export function createRedisLimiter(options: RedisLimiterOptions): RedisLimiter {
  const timeoutMs = options.timeoutMs ?? 150;
  const retryMs = options.retryMs ?? 1000;
  const leaseMs = options.leaseMs ?? 30_000;
  const maxHoldMs = options.maxHoldMs ?? 3_600_000;
  const prefix = options.prefix ?? "warden:rl:";
  const log = options.log ?? defaultLog;
  const clock = options.now;
  const open = options.failure === "open";

  const redis = connectScripts({
    url: options.url,
    name: "rate limiter",
    downMessage: open ? "rate limiter: Redis unavailable, allowing requests without rate limits" : "rate limiter: Redis unavailable, refusing requests",
    fields: { failure: options.failure },
    scripts: Object.values(SCRIPTS),
    timeoutMs,
    retryMs,
    logEveryMs: options.logEveryMs,
    log: options.log,
  });
  const run = redis.run;

  /** Failure decisions are shared and frozen: they hold nothing to release. */
  const unenforced = Object.freeze(blankDecision(true, false));
  const unavailable = Object.freeze({ ...blankDecision(false, true), reason: "unavailable" as const, retryAfterMs: retryMs });
  const failed = (): Decision => (open ? unenforced : unavailable);

  const instance = crypto.getRandomValues(new Uint32Array(2)).reduce((s, n) => s + n.toString(36), "");
  let leaseCounter = 0;
  /** Decisions holding slots → when they were taken (performance.now()), for lease renewal. */
  const running = new Map<Decision, number>();

  function heldKeys(d: Decision, held: number): string[] {
    const keys: string[] = [];
    const subjects = d.subjects!;
    for (let i = 0; i < subjects.length; i++) if (held & (1 << i)) keys.push(`${prefix}c:${subjects[i].id}`);
    return keys;
  }

  function releaseHeld(d: Decision, held: number): void {
    const keys = heldKeys(d, held);
    run(SCRIPTS.release, keys, [d.lease!]).catch((e) => redis.failed(e));
  }

  async function ask(subjects: readonly Subject[], cost: number): Promise<Decision> {
    const n = subjects.length;
    const keys: string[] = [];
    const args: string[] = [clock ? String(clock()) : "", String(cost), "", String(leaseMs)];
    let wantsSlot = false;
    for (let i = 0; i < n; i++) {
      const s = subjects[i];
      const l = s.limits;
      keys.push(`${prefix}g:${s.id}`, `${prefix}c:${s.id}`);
      args.push(limitArg(l.rpm), limitArg(l.tpm), limitArg(l.maxConcurrent));
      if (l.maxConcurrent !== null) wantsSlot = true;
    }
    const lease = wantsSlot ? `${instance}:${(leaseCounter++).toString(36)}` : null;
    if (lease !== null) args[2] = lease;
    let reply: unknown;
    try {
      reply = await run(SCRIPTS.check, keys, args, (r) => {
        // The check ran after we gave up on it: give back the slots it took.
        const held = Number((r as unknown[])[2]);
        if (held !== 0) releaseHeld({ ...blankDecision(true, true), subjects, lease }, held);
      });
    } catch (e) {
      redis.failed(e);
      return failed();
    }
    redis.recovered();
    const r = reply as (string | number)[];
    const allowed = Number(r[0]) === 1;
    const now = Number(r[1]);
    const held = Number(r[2]);
    const state = new Float64Array(3 * n);
    for (let i = 0; i < 3 * n; i++) state[i] = Number(r[3 + i]);
    let d = evaluate(subjects, cost, now, state, new Float64Array(2 * n));
    if (d.allowed !== allowed) {
      // Cannot happen while evaluate() and CHECK agree; Redis's verdict is what was committed.
      log("error", "rate limiter: Redis script and evaluate() disagree", { allowed, subjects: subjects.map((s) => s.id) });
      d = blankDecision(allowed, true);
      if (!allowed) d.reason = "requests";
    }
    d.held = held;
    if (held !== 0) {
      d.subjects = subjects;
      d.lease = lease;
      running.set(d, performance.now());
    }
    return d;
  }

  function check(subjects: readonly Subject[], promptTokens: number): Decision | Promise<Decision> {
    const n = subjects.length;
    if (n > MAX_SUBJECTS) throw new RangeError(`rate limiter: at most ${MAX_SUBJECTS} subjects per check, got ${n}`);
    let limited = false;
    for (let i = 0; i < n; i++) if (isLimited(subjects[i])) limited = true;
    if (!limited) return UNLIMITED;
    if (!redis.mayAsk()) return failed();
    return ask(subjects, promptTokens > 0 ? promptTokens : 0);
  }

  function release(d: Decision): void {
    const held = d.held;
    if (held === 0) return;
    d.held = 0;
    running.delete(d);
    releaseHeld(d, held);
  }

  async function charge(subjects: readonly Subject[], completionTokens: number): Promise<void> {
    if (!(completionTokens > 0) || redis.backingOff) return;
    const keys: string[] = [];
    const args: string[] = [clock ? String(clock()) : "", String(completionTokens)];
    for (const s of subjects) {
      const tpm = s.limits.tpm;
      if (tpm === null || tpm <= 0) continue;
      keys.push(`${prefix}g:${s.id}`);
      args.push(String(tpm));
    }
    if (keys.length === 0) return;
    try {
      await run(SCRIPTS.charge, keys, args);
    } catch (e) {
      redis.failed(e);
    }
  }

  async function renew(): Promise<void> {
    if (running.size === 0 || redis.backingOff) return;
    const keys: string[] = [];
    const members: string[] = [];
    const oldest = performance.now() - maxHoldMs;
    for (const [d, since] of running) {
      if (since < oldest) {
        running.delete(d);
        continue;
      }
      for (const key of heldKeys(d, d.held)) {
        keys.push(key);
        members.push(d.lease!);
      }
    }
    // Chunks keep one script call from holding Redis for long.
    for (let i = 0; i < keys.length; i += 500) {
      try {
        await run(SCRIPTS.renew, keys.slice(i, i + 500), [clock ? String(clock()) : "", String(leaseMs), ...members.slice(i, i + 500)]);
      } catch (e) {
        redis.failed(e);
        return;
      }
    }
  }
  const renewTimer = setInterval(() => void renew(), Math.max(10, Math.floor(leaseMs / 3)));
  renewTimer.unref();

  return {
    check,
    release,
    charge,
    ready: redis.ready,
    close() {
      clearInterval(renewTimer);
      running.clear();
      redis.close();
    },
  };
}
