/**
 * The Redis connection of a store that several instances share (src/ratelimit/redis.ts,
 * src/budget/redis.ts): Lua scripts called by SHA-1, and a Redis that is slow or gone must not
 * hang requests:
 * - every call is bounded by `timeoutMs`; a timeout counts as "down";
 * - after a failure the store stops asking for `retryMs` ({@link ScriptConnection.mayAsk} says
 *   no, and requests get the store's failure decision at once), then one request probes;
 * - the client does not queue commands while disconnected (they would run late, for requests
 *   already decided), and connects again on the next call, however long Redis was away;
 * - warnings are logged at most once per `logEveryMs` per message, counting what was left out.
 *
 * Connection loss, timeouts and the replies of an unavailable server (LOADING, BUSY, READONLY
 * after a failover, OOM, …) mark Redis down; any other error reply (ERR, WRONGTYPE: a bug, or a
 * foreign key in our namespace) concerns that call only and is logged as an error.
 *
 * @example
 * const redis = connectScripts({ url, name: "budget", downMessage: "budget: Redis unavailable", scripts: [RESERVE] });
 * if (!redis.mayAsk()) return failureDecision;
 * try { const reply = await redis.run(RESERVE, keys, args); redis.recovered(); } catch (e) { redis.failed(e); }
 */
import { RedisClient } from "bun";
import { log as defaultLog } from "../log";

/** A script called by its SHA-1, falling back to EVAL (which caches it) after a Redis restart. */
export interface Script {
  source: string;
  sha: string;
}

export function script(source: string): Script {
  return { source, sha: new Bun.CryptoHasher("sha1").update(source).digest("hex") };
}

export const TIMEOUT = new Error("redis command timed out");
/** Error replies that mean the server cannot serve anyone right now. */
const SERVER_UNAVAILABLE = /^(LOADING|BUSY|READONLY|MASTERDOWN|OOM|CLUSTERDOWN|TRYAGAIN|NOREPLICAS|MISCONF)\b/;

export type Log = (level: "info" | "warn" | "error", msg: string, fields?: Record<string, unknown>) => void;

export interface ScriptConnectionOptions {
  /** redis://[user:password@]host:port[/db] or rediss://… */
  url: string;
  /** The store, as its log lines name it: "rate limiter", "budget". */
  name: string;
  /** The warning when Redis goes away, saying what requests get meanwhile. */
  downMessage: string;
  /** Loaded on every (re)connection, so EVALSHA finds them. */
  scripts: readonly Script[];
  /** Bound on every call, and on connecting (default 150 ms). */
  timeoutMs?: number;
  /** After a failure, how long to stop asking Redis before probing again (default 1000 ms). */
  retryMs?: number;
  /** At most one warning per message per this many ms (default 10 s). */
  logEveryMs?: number;
  log?: Log;
  /** Extra fields for the down warning (the failure mode). */
  fields?: Record<string, unknown>;
}

export interface ScriptConnection {
  /** Runs a script, bounded by timeoutMs. `late` receives the reply if it arrives after the timeout. */
  run(s: Script, keys: string[], args: string[], late?: (reply: unknown) => void): Promise<unknown>;
  /** False while backing off after a failure; otherwise true, and after a failure the caller is the one probe. */
  mayAsk(): boolean;
  /** True from a failure until the next call that succeeds. */
  readonly backingOff: boolean;
  /** Records a failed call (see the module comment). */
  failed(error: unknown): void;
  /** Records a call that succeeded: Redis is back, if it was away. */
  recovered(): void;
  /** Logs at most once per `logEveryMs` for each message, with how many were left out meanwhile. */
  warn(level: "warn" | "error", msg: string, fields: Record<string, unknown>): void;
  /** Resolves once connected (true) or after `timeoutMs` without a connection (false). */
  ready(): Promise<boolean>;
  close(): void;
}

export function connectScripts(options: ScriptConnectionOptions): ScriptConnection {
  const timeoutMs = options.timeoutMs ?? 150;
  const retryMs = options.retryMs ?? 1000;
  const logEveryMs = options.logEveryMs ?? 10_000;
  const log = options.log ?? defaultLog;
  const client = new RedisClient(options.url, {
    connectionTimeout: Math.max(timeoutMs, 1000),
    autoReconnect: false,
    enableOfflineQueue: false,
  });
  let connecting: Promise<void> | null = null;
  let closed = false;
  // While performance.now() < downUntil, Redis is not asked.
  let downUntil = 0;
  let down = false;
  const throttles = new Map<string, { at: number; suppressed: number }>();

  function warn(level: "warn" | "error", msg: string, fields: Record<string, unknown>): void {
    let t = throttles.get(msg);
    if (t === undefined) throttles.set(msg, (t = { at: -Infinity, suppressed: 0 }));
    const now = performance.now();
    if (now - t.at < logEveryMs) {
      t.suppressed++;
      return;
    }
    log(level, msg, { ...fields, suppressed: t.suppressed });
    t.at = now;
    t.suppressed = 0;
  }

  /** Connects and loads the scripts, so EVALSHA finds them (and calls keep their order). */
  function connect(): Promise<void> {
    connecting ??= client
      .connect()
      .then(() => Promise.all(options.scripts.map((s) => client.send("SCRIPT", ["LOAD", s.source]))))
      .then(
        () => void (connecting = null),
        (e) => {
          connecting = null;
          throw e;
        },
      );
    return connecting;
  }
  connect().catch((e) => connection.failed(e));

  const connection: ScriptConnection = {
    run(s, keys, args, late) {
      return new Promise((resolve, reject) => {
        let timedOut = false;
        const timer = setTimeout(() => {
          timedOut = true;
          reject(TIMEOUT);
        }, timeoutMs);
        const send = async () => {
          if (closed) throw new Error(`${options.name} closed`);
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
    },
    mayAsk() {
      if (downUntil === 0) return true;
      const t = performance.now();
      if (t < downUntil) return false;
      downUntil = t + timeoutMs + retryMs;
      return true;
    },
    get backingOff() {
      return downUntil !== 0;
    },
    failed(error) {
      if (closed) return;
      const message = error instanceof Error ? error.message : String(error);
      const callOnly = (error as { code?: string })?.code === "ERR_REDIS_SERVER_ERROR" && !SERVER_UNAVAILABLE.test(message);
      if (callOnly) return warn("error", `${options.name}: Redis refused a script call`, { error: message });
      downUntil = performance.now() + retryMs;
      down = true;
      warn("warn", options.downMessage, { error: message, ...options.fields });
    },
    recovered() {
      downUntil = 0;
      if (!down) return;
      down = false;
      log("info", `${options.name}: Redis reachable again`, {});
    },
    warn,
    async ready() {
      if (client.connected) return true;
      const t = new Promise<boolean>((resolve) => setTimeout(() => resolve(false), timeoutMs).unref());
      return Promise.race([connect().then(() => true, () => false), t]);
    },
    close() {
      closed = true;
      client.close();
    },
  };
  return connection;
}
