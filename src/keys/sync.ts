/**
 * Key replication between gateway instances behind one load balancer (issue #8).
 *
 * Keys and tenants stay in each instance's own SQLite file, so authentication never waits on
 * Redis and keeps working when it is gone. Every change made on any instance (admin API, or
 * `warden keys` on that instance's file) is copied to every other one through Redis, within a
 * second while Redis is up:
 *
 * - the hashes `warden:sync:keys` and `warden:sync:tenants` (field = id, value = the row as JSON,
 *   see {@link SyncKeyRow}: the secret's SHA-256 as hex, never the secret, which is stored
 *   nowhere) are the catch-up copy for an instance that was down or starts later;
 * - the channel `warden:sync` carries each change at once: `{from, keys: [...], tenants: [...]}`;
 * - the later `updated_at` wins, a tie keeps the local row (KeyStore.applyRemote), so a message
 *   or a hash read twice, or in any order, changes nothing more. Revocation is final on top of
 *   that: no later edit made elsewhere undoes one.
 *
 * How changes move:
 * - on start and after every reconnect: subscribe, read both hashes and apply them, then write
 *   (and publish) every local row newer than what the hash holds, so changes made while Redis
 *   was away, or before clustering was turned on, reach the others, and a Redis that restarted
 *   empty is filled again;
 * - local changes are found by polling the store every `pollMs` (a `PRAGMA data_version`, so the
 *   CLI's changes in another process are seen too), then `changedSince`; a Lua script writes each
 *   row to the hash only if it is newer than the stored one and publishes the rows it wrote, in
 *   one step, and answers with the stored rows that were newer than ours;
 * - rows applied from Redis are remembered (id → updated_at the hash holds), so they are not
 *   sent back: an instance publishes only its own changes, and a quiet cluster sends nothing.
 *
 * Redis down: keys are served from SQLite as always; one warning per `logEveryMs` (10 s);
 * reconnect every `retryMs` (1 s) with the full sync above. Every Redis command is bounded by
 * `timeoutMs`; nothing here throws into the caller.
 *
 * Not covered: two instances changing the same row in the same millisecond keep their own
 * versions (ties keep the local row) until one of them changes it again; a wall clock that
 * jumps back by more than {@link SETTLE_MS} can hide a change from the poll until the next
 * reconnect; Redis Cluster (the script touches both hashes, which need one slot).
 */
import { RedisClient } from "bun";
import { hostname } from "node:os";
import { log as defaultLog } from "../log";
import type { KeyStore, SyncKeyRow, SyncRows, SyncTenantRow } from "./store";

export const SYNC_CHANNEL = "warden:sync";
export const SYNC_KEYS_HASH = "warden:sync:keys";
export const SYNC_TENANTS_HASH = "warden:sync:tenants";

/**
 * How far back each poll looks again, deduplicated by id and `updated_at`. A writer takes its
 * time before waiting for the write lock (busy_timeout, 5 s), so a row can commit after a later
 * stamped one was read; twice that covers it.
 */
const SETTLE_MS = 10_000;
/** Rows per script call: keeps each call, and each message, short. */
const CHUNK = 100;
/** Fields per HSCAN page. */
const SCAN_COUNT = "1000";

export type SyncLog = (level: "info" | "warn" | "error", msg: string, fields?: Record<string, unknown>) => void;

export interface KeySyncOptions {
  /** redis://[user:password@]host:port[/db] or rediss://… */
  url: string;
  /** This instance's name in messages, to skip its own (default hostname:pid:random). */
  instanceId?: string;
  /** How often to look for local changes (default 100 ms). */
  pollMs?: number;
  /** Bound on every Redis command (default 500 ms); connecting gets at least 1 s. */
  timeoutMs?: number;
  /** Wait between reconnection attempts (default 1000 ms). */
  retryMs?: number;
  /** At most one warning of each kind per this many ms (default 10 s). */
  logEveryMs?: number;
  /** Log sink (default src/log). */
  log?: SyncLog;
}

export interface KeySyncStatus {
  /** Connected, subscribed and caught up with the hashes. */
  connected: boolean;
  /** When changes were last exchanged with Redis (ms since the epoch); null before the first full sync. */
  lastSyncMs: number | null;
}

export interface KeySync {
  /** Stops polling and disconnects; waits for the Redis call in flight (bounded by timeoutMs). */
  stop(): Promise<void>;
  /**
   * True once the first full sync is done. Before that: waits for the attempt in progress, if
   * any, and answers whether it succeeded; false if the last attempt failed (retries go on).
   */
  ready(): Promise<boolean>;
  status(): KeySyncStatus;
}

/**
 * Writes rows to a hash if newer than the stored ones, publishes those written, and returns the
 * stored rows that were newer than ours as (table, row JSON) pairs.
 * KEYS: the keys hash, the tenants hash. ARGV: channel, sender (a JSON string), how many key
 * rows, then (id, updated_at, row JSON) for each key row and then each tenant row.
 */
const PUSH = `
local written = { {}, {} }
local newer = {}
local keyRows = tonumber(ARGV[3])
local n = 0
for i = 4, #ARGV, 3 do
  local t = 2
  if n < keyRows then t = 1 end
  n = n + 1
  local id, at, row = ARGV[i], tonumber(ARGV[i + 1]), ARGV[i + 2]
  local stored = redis.call('HGET', KEYS[t], id)
  local storedAt = -1
  if stored then
    local ok, decoded = pcall(cjson.decode, stored)
    if ok and type(decoded) == 'table' and type(decoded.updated_at) == 'number' then storedAt = decoded.updated_at end
  end
  if storedAt < at then
    redis.call('HSET', KEYS[t], id, row)
    written[t][#written[t] + 1] = row
  elseif storedAt > at then
    newer[#newer + 1] = t
    newer[#newer + 1] = stored
  end
end
if #written[1] + #written[2] > 0 then
  redis.call('PUBLISH', ARGV[1], '{"from":' .. ARGV[2] .. ',"keys":[' .. table.concat(written[1], ',') .. '],"tenants":[' .. table.concat(written[2], ',') .. ']}')
end
return newer
`;
const PUSH_SHA = new Bun.CryptoHasher("sha1").update(PUSH).digest("hex");

function defaultInstanceId(): string {
  return `${hostname()}:${process.pid}:${Buffer.from(crypto.getRandomValues(new Uint8Array(4))).toString("hex")}`;
}

/** Rejects if `p` has not settled within `ms`; a late settlement is ignored. */
function bounded<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`Redis did not answer within ${ms} ms`)), ms);
    p.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e) => {
        clearTimeout(timer);
        reject(e);
      },
    );
  });
}

/** A log call that speaks at most once per `everyMs`, counting what it held back. */
function throttled(log: SyncLog, everyMs: number): SyncLog {
  let last = -Infinity;
  let suppressed = 0;
  return (level, msg, fields) => {
    const t = performance.now();
    if (t - last < everyMs) {
      suppressed++;
      return;
    }
    last = t;
    log(level, msg, { ...fields, suppressed });
    suppressed = 0;
  };
}

/** An error's message with the URL's password taken out, should a client ever quote it. */
function redactor(url: string): (e: unknown) => string {
  let secrets: string[] = [];
  try {
    const password = new URL(url).password;
    if (password !== "") secrets = [password, decodeURIComponent(password)];
  } catch {
    // Not a URL the client could use either; nothing to hide.
  }
  return (e) => {
    let text = e instanceof Error ? e.message : String(e);
    for (const s of secrets) text = text.replaceAll(s, "***");
    return text;
  };
}

/** The rows Redis may lack: `held` has not seen them there at this `updated_at` or a later one. */
function unsynced(rows: SyncRows, held: Map<string, number>): SyncRows {
  return {
    keys: rows.keys.filter((r) => (held.get(`k:${r.id}`) ?? -1) < r.updated_at),
    tenants: rows.tenants.filter((r) => (held.get(`t:${r.id}`) ?? -1) < r.updated_at),
  };
}

/** Parsed JSON values of an HSCAN page (field, value, field, value, …); unreadable ones are dropped. */
function parsedValues(page: unknown[], out: unknown[], bad: () => void): void {
  for (let i = 1; i < page.length; i += 2) {
    try {
      out.push(JSON.parse(String(page[i])));
    } catch {
      bad();
    }
  }
}

/**
 * Starts replicating `store` through Redis. Resolves after the first full sync, or after
 * `timeoutMs` if it takes longer or Redis is unreachable (it keeps trying; see `ready()`).
 *
 * @example
 * const store = openKeyStore(join(config.dataDir, KEYS_DB));
 * const sync = await startKeySync(store, { url: config.redisUrl! });
 * // … serve; keys created on any instance authenticate here within a second.
 * await sync.stop();
 * store.close();
 */
export async function startKeySync(store: KeyStore, options: KeySyncOptions): Promise<KeySync> {
  const instanceId = options.instanceId ?? defaultInstanceId();
  const pollMs = options.pollMs ?? 100;
  const timeoutMs = options.timeoutMs ?? 500;
  const retryMs = options.retryMs ?? 1000;
  const logEveryMs = options.logEveryMs ?? 10_000;
  const log = options.log ?? defaultLog;
  const downWarning = throttled(log, logEveryMs);
  const rowWarning = throttled(log, logEveryMs);
  const storeError = throttled(log, logEveryMs);
  const errorText = redactor(options.url);
  const sender = JSON.stringify(instanceId);

  let cmd: RedisClient | null = null;
  let sub: RedisClient | null = null;
  /** Connected, subscribed and caught up; false sends the next tick to a full sync. */
  let synced = false;
  /** A change from Redis could not be written to the key database since the last full sync began. */
  let applyFailed = false;
  let down = false;
  let stopped = false;
  let everSynced = false;
  let running: Promise<void> | null = null;
  let nextAttempt = 0;
  let seenGeneration = -1;
  let watermark = -1;
  let lastSyncMs: number | null = null;
  /** "k:<id>" / "t:<id>" → the latest updated_at Redis is known to hold for that row. */
  const held = new Map<string, number>();
  let waiters: ((ok: boolean) => void)[] = [];

  const skipped = (table: "keys" | "tenants", id: unknown, reason: string) =>
    rowWarning("warn", "key sync: skipped a malformed row from Redis", { table, id: typeof id === "string" ? id.slice(0, 80) : null, reason });

  function remember(prefix: "k" | "t", rows: readonly unknown[]): void {
    for (const r of rows) {
      const { id, updated_at } = (r ?? {}) as { id?: unknown; updated_at?: unknown };
      if (typeof id !== "string" || !Number.isSafeInteger(updated_at)) continue;
      const k = `${prefix}:${id}`;
      if ((held.get(k) ?? -1) < (updated_at as number)) held.set(k, updated_at as number);
    }
  }

  /** Applies rows from Redis; a store failure (busy, closed) leaves them for the next full sync. */
  function take(keys: unknown[], tenants: unknown[]): void {
    remember("k", keys);
    remember("t", tenants);
    try {
      store.applyRemote({ keys, tenants } as Partial<SyncRows>, skipped);
    } catch (e) {
      synced = false;
      applyFailed = true;
      storeError("error", "key sync: cannot apply changes from Redis to the key database; retrying", { error: errorText(e) });
    }
  }

  function onMessage(message: string): void {
    if (stopped) return;
    let m: { from?: unknown; keys?: unknown; tenants?: unknown };
    try {
      m = JSON.parse(message) ?? {};
    } catch {
      rowWarning("warn", "key sync: skipped a message that is not JSON", { channel: SYNC_CHANNEL });
      return;
    }
    if (m.from === instanceId) return;
    take(Array.isArray(m.keys) ? m.keys : [], Array.isArray(m.tenants) ? m.tenants : []);
    lastSyncMs = Date.now();
  }

  function disconnect(): void {
    for (const c of [cmd, sub]) {
      if (c === null) continue;
      c.onclose = null;
      c.close();
    }
    cmd = sub = null;
  }

  function markDown(e: unknown): void {
    synced = false;
    nextAttempt = performance.now() + retryMs;
    disconnect();
    if (stopped) return;
    down = true;
    downWarning("warn", "key sync: Redis unavailable; keys are served from the local database, and changes are replicated once it is back", {
      error: errorText(e),
    });
  }

  function markUp(): void {
    if (!down) return;
    down = false;
    log("info", "key sync: Redis reachable again; caught up", {});
  }

  /** Two fresh connections: a subscribed one cannot run other commands. */
  async function connect(): Promise<void> {
    disconnect();
    const opts = { connectionTimeout: Math.max(timeoutMs, 1000), autoReconnect: false, enableOfflineQueue: false };
    const c = new RedisClient(options.url, opts);
    const s = new RedisClient(options.url, opts);
    cmd = c;
    sub = s;
    const lost = (error?: Error) => {
      if (cmd === c) markDown(error ?? new Error("connection to Redis closed"));
    };
    c.onclose = lost;
    s.onclose = lost;
    await bounded(Promise.all([c.connect(), s.connect()]), opts.connectionTimeout);
    await bounded(
      s.subscribe(SYNC_CHANNEL, (message) => {
        if (sub === s) onMessage(message);
      }),
      timeoutMs,
    );
  }

  function client(): RedisClient {
    if (cmd === null || !cmd.connected) throw new Error("connection to Redis closed");
    return cmd;
  }

  /** Every row of a hash, a page per command, so no one command holds Redis (or us) for long. */
  async function readHash(hash: string): Promise<unknown[]> {
    const rows: unknown[] = [];
    let cursor = "0";
    do {
      const [next, page] = (await bounded(client().send("HSCAN", [hash, cursor, "COUNT", SCAN_COUNT]), timeoutMs)) as [string, unknown[]];
      parsedValues(page, rows, () => rowWarning("warn", "key sync: skipped a hash field that is not JSON", { hash }));
      cursor = String(next);
    } while (cursor !== "0");
    return rows;
  }

  async function runPush(args: string[]): Promise<unknown[]> {
    const c = client();
    const argv = ["2", SYNC_KEYS_HASH, SYNC_TENANTS_HASH, ...args];
    try {
      return await bounded(c.send("EVALSHA", [PUSH_SHA, ...argv]), timeoutMs);
    } catch (e) {
      // A restarted Redis has forgotten the script; EVAL loads it again.
      if (!String((e as Error)?.message).startsWith("NOSCRIPT")) throw e;
      return await bounded(c.send("EVAL", [PUSH, ...argv]), timeoutMs);
    }
  }

  /** Writes and publishes rows the hash may lack, and takes any newer ones it holds instead. */
  async function push(rows: SyncRows): Promise<void> {
    const all: (SyncKeyRow | SyncTenantRow)[] = [...rows.keys, ...rows.tenants];
    const keyCount = rows.keys.length;
    for (let i = 0; i < all.length; i += CHUNK) {
      const keys = all.slice(i, Math.min(i + CHUNK, keyCount));
      const tenants = all.slice(Math.max(i, keyCount), i + CHUNK);
      const args = [SYNC_CHANNEL, sender, String(keys.length)];
      for (const r of [...keys, ...tenants]) args.push(r.id, String(r.updated_at), JSON.stringify(r));
      const reply = await runPush(args);
      // Written, or already there at this version: Redis holds at least it now.
      remember("k", keys);
      remember("t", tenants);
      const newer: [unknown[], unknown[]] = [[], []];
      for (let j = 0; j + 1 < reply.length; j += 2) {
        try {
          newer[Number(reply[j]) === 1 ? 0 : 1].push(JSON.parse(String(reply[j + 1])));
        } catch {
          rowWarning("warn", "key sync: skipped a hash field that is not JSON", {});
        }
      }
      if (newer[0].length + newer[1].length > 0) take(newer[0], newer[1]);
    }
    lastSyncMs = Date.now();
  }

  async function fullSync(): Promise<void> {
    applyFailed = false;
    if (cmd === null || sub === null || !cmd.connected || !sub.connected) await connect();
    // Subscribed first: a change published while the hashes are read arrives as a message.
    const keys = await readHash(SYNC_KEYS_HASH);
    const tenants = await readHash(SYNC_TENANTS_HASH);
    held.clear();
    take(keys, tenants);
    const generation = store.refresh();
    const readAt = Date.now();
    const local = unsynced(store.changedSince(-1), held);
    if (local.keys.length + local.tenants.length > 0) await push(local);
    if (applyFailed) throw new Error("a change from Redis could not be written to the key database");
    seenGeneration = generation;
    watermark = readAt - SETTLE_MS;
    synced = true;
    everSynced = true;
    lastSyncMs = Date.now();
  }

  async function pushChanges(): Promise<void> {
    const generation = store.refresh();
    const readAt = Date.now();
    const rows = unsynced(store.changedSince(watermark), held);
    if (rows.keys.length + rows.tenants.length > 0) await push(rows);
    seenGeneration = generation;
    watermark = readAt - SETTLE_MS;
  }

  async function attempt(work: () => Promise<void>, full: boolean): Promise<void> {
    let ok = true;
    try {
      await work();
      if (full) markUp();
    } catch (e) {
      ok = false;
      markDown(e);
    }
    if (!full) return;
    const settled = waiters;
    waiters = [];
    for (const w of settled) w(ok);
  }

  function tick(): void {
    if (stopped || running !== null) return;
    let work: Promise<void> | null = null;
    try {
      if (!synced) {
        if (performance.now() >= nextAttempt) work = attempt(fullSync, true);
      } else if (store.refresh() !== seenGeneration) {
        work = attempt(pushChanges, false);
      }
    } catch (e) {
      // The store itself failed (closed before stop(), disk error): try again next tick.
      storeError("error", "key sync: cannot read the key database", { error: errorText(e) });
    }
    if (work !== null) running = work.finally(() => void (running = null));
  }

  const timer = setInterval(tick, pollMs);
  timer.unref();

  // Until the first full sync, whatever runs is an attempt at it.
  const ready = (): Promise<boolean> => {
    if (everSynced) return Promise.resolve(true);
    if (stopped || running === null) return Promise.resolve(false);
    return new Promise((resolve) => waiters.push(resolve));
  };

  tick();
  await Promise.race([ready(), new Promise<void>((resolve) => setTimeout(resolve, timeoutMs).unref())]);

  return {
    ready,
    status: () => ({ connected: synced && cmd !== null && cmd.connected && sub !== null && sub.connected, lastSyncMs }),
    async stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(timer);
      disconnect();
      await running;
      const settled = waiters;
      waiters = [];
      for (const w of settled) w(false);
    },
  };
}
