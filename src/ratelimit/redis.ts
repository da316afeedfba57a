/**
 * The shared store: every gateway instance checks against the same Redis, one Lua script per
 * check (redis-scripts.ts), atomic over all the request's subjects.
 *
 * Redis being slow or gone must not hang requests:
 * - every command is bounded by `timeoutMs`; a timeout counts as "down";
 * - after a failure the limiter stops asking for `retryMs` (requests get the failure decision
 *   at once), then lets one request probe while the others keep failing fast;
 * - the client does not queue commands while disconnected (they would run late, charging
 *   requests already decided), and the limiter reconnects itself when a probe finds the
 *   connection closed, so it recovers however long Redis was away.
 *
 * What "down" means for a request is the failure mode: `open` allows it unenforced (no
 * x-ratelimit headers, since nothing was counted), `closed` refuses it (503
 * rate_limiter_unavailable). Either way a warning is logged at most once per `logEveryMs`.
 *
 * Concurrency slots are leases in a per-subject sorted set, renewed every `leaseMs / 3` while
 * the request runs; an instance that dies stops renewing and its slots free themselves within
 * `leaseMs`. A check that timed out but ran anyway gives its slots back when its reply arrives.
 */
import { RedisClient } from "bun";
import { log as defaultLog } from "../log";
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

const TIMEOUT = new Error("redis command timed out");
/** Error replies that mean the server cannot serve anyone right now. */
const SERVER_UNAVAILABLE = /^(LOADING|BUSY|READONLY|MASTERDOWN|OOM|CLUSTERDOWN|TRYAGAIN|NOREPLICAS|MISCONF)\b/;

/** A script called by its SHA-1, falling back to EVAL (which caches it) after a Redis restart. */
interface Script {
  source: string;
  sha: string;
}

function script(source: string): Script {
  return { source, sha: new Bun.CryptoHasher("sha1").update(source).digest("hex") };
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
  const logEveryMs = options.logEveryMs ?? 10_000;
  const log = options.log ?? defaultLog;
  const clock = options.now;
  const open = options.failure === "open";

  const client = new RedisClient(options.url, {
    connectionTimeout: Math.max(timeoutMs, 1000),
    autoReconnect: false,
    enableOfflineQueue: false,
  });
  let connecting: Promise<void> | null = null;
  let closed = false;

  /** Failure decisions are shared and frozen: they hold nothing to release. */
  const unenforced = Object.freeze(blankDecision(true, false));
  const unavailable = Object.freeze({ ...blankDecision(false, true), reason: "unavailable" as const, retryAfterMs: retryMs });
  const failed = (): Decision => (open ? unenforced : unavailable);

  // Health: while performance.now() < downUntil, Redis is not asked.
  let downUntil = 0;
  let down = false;
  let lastWarning = -Infinity;
  let suppressed = 0;

  /**
   * Records a failed call. Connection loss, timeouts and the replies of an unavailable server
   * (LOADING, BUSY, READONLY after a failover, OOM, …) stop the limiter asking for `retryMs`.
   * Any other error reply (ERR, WRONGTYPE: a bug, or a foreign key in our namespace) concerns
   * that call only, so it fails that request without tripping the others.
   */
  function markDown(error: unknown): void {
    if (closed) return;
    const message = error instanceof Error ? error.message : String(error);
    const callOnly = (error as { code?: string })?.code === "ERR_REDIS_SERVER_ERROR" && !SERVER_UNAVAILABLE.test(message);
    if (!callOnly) {
      downUntil = performance.now() + retryMs;
      down = true;
    }
    const t = performance.now();
    if (t - lastWarning < logEveryMs) {
      suppressed++;
      return;
    }
    lastWarning = t;
    const msg = callOnly
      ? "rate limiter: Redis refused a script call"
      : open
        ? "rate limiter: Redis unavailable, allowing requests without rate limits"
        : "rate limiter: Redis unavailable, refusing requests";
    log(callOnly ? "error" : "warn", msg, { error: message, failure: options.failure, suppressed });
    suppressed = 0;
  }

  function markUp(): void {
    downUntil = 0;
    if (!down) return;
    down = false;
    log("info", "rate limiter: Redis reachable again", {});
  }

  /** False while backing off; otherwise true, and a request after a failure becomes the one probe. */
  function mayAsk(): boolean {
    if (downUntil === 0) return true;
    const t = performance.now();
    if (t < downUntil) return false;
    downUntil = t + timeoutMs + retryMs;
    return true;
  }

  /** Connects and loads the scripts, so EVALSHA finds them (and calls keep their order). */
  function connect(): Promise<void> {
    connecting ??= client
      .connect()
      .then(() => Promise.all(Object.values(SCRIPTS).map((s) => client.send("SCRIPT", ["LOAD", s.source]))))
      .then(
        () => void (connecting = null),
        (e) => {
          connecting = null;
          throw e;
        },
      );
    return connecting;
  }

  /** Runs a script, bounded by timeoutMs. `late` receives the reply if it arrives after the timeout. */
  function run(s: Script, keys: string[], args: string[], late?: (reply: unknown) => void): Promise<unknown> {
    return new Promise((resolve, reject) => {
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        reject(TIMEOUT);
      }, timeoutMs);
      const send = async () => {
        if (closed) throw new Error("rate limiter closed");
        if (!client.connected) await connect();
        const argv = [String(keys.length), ...keys, ...args];
        try {
          return await client.send("EVALSHA", [s.sha, ...argv]);
        } catch (e) {
          if (!String((e as Error)?.message).startsWith("NOSCRIPT")) throw e;
          return await client.send("EVAL", [s.source, ...argv]);
        }
      };
      send().then(
        (reply) => {
          clearTimeout(timer);
          if (timedOut) late?.(reply);
          else resolve(reply);
        },
        (e) => {
          clearTimeout(timer);
          if (!timedOut) reject(e);
        },
      );
    });
  }

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
    run(SCRIPTS.release, keys, [d.lease!]).catch((e) => markDown(e));
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
      markDown(e);
      return failed();
    }
    markUp();
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
    if (!mayAsk()) return failed();
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
    if (!(completionTokens > 0) || downUntil !== 0) return;
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
      markDown(e);
    }
  }

  async function renew(): Promise<void> {
    if (running.size === 0 || downUntil !== 0) return;
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
        markDown(e);
        return;
      }
    }
  }
  const renewTimer = setInterval(() => void renew(), Math.max(10, Math.floor(leaseMs / 3)));
  renewTimer.unref();

  connect().catch((e) => markDown(e));

  return {
    check,
    release,
    charge,
    async ready() {
      if (client.connected) return true;
      const t = new Promise<boolean>((resolve) => setTimeout(() => resolve(false), timeoutMs).unref());
      return Promise.race([connect().then(() => true, () => false), t]);
    },
    close() {
      closed = true;
      clearInterval(renewTimer);
      running.clear();
      client.close();
    },
  };
}
