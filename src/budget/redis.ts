/**
 * The shared budget store: every gateway instance reserves against the same Redis, one Lua
 * script per reservation over all the request's budgeted accounts (redis-scripts.ts), so two
 * instances cannot both take the last of a budget (issue #8).
 *
 * Where the numbers live:
 *   - spend per account in Redis (`<prefix>spent:<kind>:<id>`): the shared truth that every
 *     reservation is checked against;
 *   - reservations in Redis as per-hold entries that expire `holdTtlMs` after their last
 *     renewal; this instance renews its holds every third of that while their requests run, so
 *     only a dead instance's holds run out;
 *   - spend in the local key database too: each instance writes the charges it settled every
 *     `flushMs` (admin listings read it there), and every script raises an account's Redis spend
 *     to at least the local record (database + settled, unwritten) before using it, so a Redis
 *     that comes back empty does not start budgets again from zero.
 *
 * What each failure loses:
 *   - Redis restarts empty (or is flushed): every account's spend falls back to the largest
 *     local record that any instance presents for it (max, never a sum, so nothing is counted
 *     twice). With one key database shared by all instances that is everything flushed, i.e. at
 *     most the last `flushMs` of other instances' charges; with one database per instance an
 *     account's spend becomes the largest single instance's share until the others flush again
 *     — a shared key database is the setup that loses little. Holds vanish too: requests in flight
 *     then are not counted against the budget until they settle (overshoot by at most what was in
 *     flight).
 *   - An instance crashes (kill -9, power loss): its holds free themselves within `holdTtlMs`;
 *     the cost of its requests in flight is never charged (as with the memory book); its charges
 *     already applied in Redis stay there, but its local record misses what it settled since its
 *     last flush (at most `flushMs`), which only matters if Redis is lost too.
 *   - Redis cannot be reached for a settle: the charge is retried `settleAttempts` times over
 *     about `retryMs × 2^(attempts-1)`; a charge given up is logged and kept in the local record
 *     only, from where it reaches Redis if that record ever becomes the largest (see above).
 *     A retried settle never charges twice: each hold's charge leaves a marker in Redis.
 *
 * Redis being slow or gone must not hang requests (the connection, src/redis): every command
 * is bounded by `timeoutMs`, a failure stops asking for `retryMs` (then one request probes),
 * no offline queue, and the connection is made again when needed. What "down" means for a
 * request with a budget is the failure mode: `open` forwards it without a hold (its settle still
 * charges), `closed` refuses it (503 budget_unavailable). A warning is logged at most once per
 * `logEveryMs`. Requests without a budget never wait for Redis before forwarding.
 *
 * Redis should run with `maxmemory-policy noeviction`: an evicted spend key would be raised back
 * only to a local record.
 */
import { connectScripts, script } from "../redis";
import type { SpendKind } from "../keys/types";
import { writePending, type Account, type BudgetStore, type Hold, type PendingSpend, type Refusal, type SpendLedger } from "./book";
import type { Price } from "./prices";
import { RELEASE, RENEW, RESERVE, SETTLE } from "./redis-scripts";

export interface RedisBudgetOptions {
  /** redis://[user:password@]host:port[/db] or rediss://… */
  url: string;
  /** What a reservation answers when Redis cannot be asked: forward without a hold, or refuse with 503. */
  failure: "open" | "closed";
  /** This instance's key database: the floor for Redis spend, and where settled spend is written. */
  ledger: SpendLedger;
  /** Bound on every Redis command, and on connecting (default 150 ms). */
  timeoutMs?: number;
  /** How long a hold outlives its last renewal, i.e. a dead instance's holds (default 10 min). */
  holdTtlMs?: number;
  /** Holds stop being renewed after this long even if never settled (default 24 h, the longest request timeout). */
  maxHoldMs?: number;
  /** How often settled spend is written to the ledger (default 1000 ms); 0: only on flush() and close(). */
  flushMs?: number;
  /** After a failure, how long to stop asking Redis before probing; also the first settle retry delay (default 1000 ms). */
  retryMs?: number;
  /** Tries per settle before its charge is kept locally only (default 5: retried after 1, 2, 4, 8 × retryMs). */
  settleAttempts?: number;
  /** Key prefix (default `warden:budget:`). */
  prefix?: string;
  /** At most one warning of each kind per this many ms (default 10 s). */
  logEveryMs?: number;
  /** Log sink (default src/log). */
  log?: (level: "info" | "warn" | "error", msg: string, fields?: Record<string, unknown>) => void;
}

export interface RedisBudgetStore extends BudgetStore {
  reserve(accounts: readonly Account[], micros: number, price: Price): Hold | Refusal | Promise<Hold | Refusal>;
  /**
   * Spend as last seen: the larger of what Redis last reported for the account (all instances)
   * and the local record (key database plus settled, unwritten).
   */
  spent(account: Account): number;
  /** Resolves once connected (true) or after `timeoutMs` without a connection (false). */
  ready(): Promise<boolean>;
  /**
   * Waits for settles in progress (bounded by `timeoutMs`), keeps any charge Redis has not
   * confirmed in the local record, writes it, and disconnects. Open holds are not released:
   * they expire like a crashed instance's.
   */
  close(): Promise<void>;
}

/** One account's numbers in this process, shared by every Account object made for it. */
/** `pending`: settled here (confirmed by Redis or given up on), not yet written to the ledger. */
interface Entry extends PendingSpend {
  spentKey: string;
  holdsKey: string;
  heldKey: string;
  /** Spend Redis last reported; -1: none yet. */
  shared: number;
}

interface StoreAccount extends Account {
  readonly entry: Entry;
}

interface SharedHold extends Hold {
  readonly id: string;
  /** `<id>:<µUSD>` in the holds set of every account in `held`; null: nothing held in Redis. */
  readonly member: string | null;
  readonly held: readonly StoreAccount[];
}

/** A settle or release on its way to Redis, retried until done or out of tries. */
interface Job {
  tries: number;
  done: boolean;
  send(late: (reply: unknown) => void): Promise<unknown>;
  /** Redis applied it (`reply` is the script's). */
  applied(reply: unknown): void;
  /** Out of tries, or closing. */
  abandoned(): void;
}

const SCRIPTS = { reserve: script(RESERVE), settle: script(SETTLE), release: script(RELEASE), renew: script(RENEW) };

/**
 * @example
 * const budget = createRedisBudgetStore({ url: config.redisUrl!, failure: config.redisFailure, ledger: keyStore });
 * const accountsOf = budgetAccounts(budget);
 * const hold = await reserveBudget(budget, accountsOf(key, tenant), price, model, (p) => costMicros(p, 812, 4096));
 * // … when the reply has ended:
 * if (hold) budget.settle(hold, costMicros(hold.price, usage.prompt, usage.completion));
 * // on SIGTERM:
 * await budget.close();
 */
export function createRedisBudgetStore(options: RedisBudgetOptions): RedisBudgetStore {
  const ledger = options.ledger;
  const timeoutMs = options.timeoutMs ?? 150;
  const holdTtlMs = options.holdTtlMs ?? 600_000;
  const maxHoldMs = options.maxHoldMs ?? 86_400_000;
  const flushMs = options.flushMs ?? 1000;
  const retryMs = options.retryMs ?? 1000;
  const settleAttempts = Math.max(1, options.settleAttempts ?? 5);
  const prefix = options.prefix ?? "warden:budget:";
  const open = options.failure === "open";
  // Outlives the gap between the first and the last try of a settle (their delays plus a timeout
  // each), with room to spare: tries run in the order sent, so no later one can come before it.
  const markerTtlMs = 2 * (retryMs * (2 ** (settleAttempts - 1) - 1) + settleAttempts * timeoutMs) + 10_000;

  const redis = connectScripts({
    url: options.url,
    name: "budget",
    downMessage: open ? "budget: Redis unavailable, forwarding requests without budget holds" : "budget: Redis unavailable, refusing requests with budgets",
    fields: { failure: options.failure },
    scripts: Object.values(SCRIPTS),
    timeoutMs,
    retryMs,
    logEveryMs: options.logEveryMs,
    log: options.log,
  });
  const { run, warn, mayAsk } = redis;
  let closing: Promise<void> | null = null;
  let shut = false;

  const entries = { key: new Map<string, Entry>(), tenant: new Map<string, Entry>() };
  let dirty: Entry[] = [];
  /** Open holds with something in Redis → when taken (performance.now()), for renewal. */
  const running = new Map<SharedHold, number>();
  const jobs = new Set<Job>();
  const sending = new Set<Promise<unknown>>();

  const instance = crypto.getRandomValues(new Uint32Array(2)).reduce((s, n) => s + n.toString(36), "");
  let holdCounter = 0;

  function entryOf(kind: SpendKind, id: string): Entry {
    let e = entries[kind].get(id);
    if (e === undefined) {
      const name = `${kind}:${id}`;
      e = { kind, id, spentKey: `${prefix}spent:${name}`, holdsKey: `${prefix}holds:${name}`, heldKey: `${prefix}held:${name}`, base: 0, pending: 0, seen: -1, dirty: false, shared: -1 };
      entries[kind].set(id, e);
    }
    return e;
  }

  /** The local record: the ledger's spend (read again after another connection's commit) plus settled, unwritten. */
  function floor(e: Entry): number {
    const generation = ledger.generation();
    if (e.seen !== generation) {
      e.base = ledger.spentMicros(e.kind, e.id);
      e.seen = generation;
    }
    return e.base + e.pending;
  }

  function charge(accounts: readonly Account[], micros: number): void {
    for (let i = 0; i < accounts.length; i++) {
      const e = (accounts[i] as StoreAccount).entry;
      e.pending += micros;
      if (!e.dirty) {
        e.dirty = true;
        dirty.push(e);
      }
    }
  }

  function newHold(accounts: readonly Account[], price: Price, micros: number, held: readonly StoreAccount[]): SharedHold {
    const id = `${instance}.${(holdCounter++).toString(36)}`;
    return { ok: true, accounts, price, micros, open: true, id, member: held.length > 0 ? `${id}:${micros}` : null, held };
  }

  function failed(accounts: readonly Account[], price: Price, budgeted: readonly StoreAccount[], micros: number): Hold | Refusal {
    if (open) return newHold(accounts, price, 0, []);
    const a = budgeted[0];
    return { ok: false, reason: "unavailable", account: a, budget: a.budget!, spent: 0, reserved: 0, requested: micros };
  }

  function releaseArgs(h: SharedHold): [string[], string[]] {
    const keys: string[] = [];
    for (let i = 0; i < h.held.length; i++) keys.push(h.held[i].entry.holdsKey, h.held[i].entry.heldKey);
    return [keys, [h.member!, String(h.micros)]];
  }

  async function ask(accounts: readonly Account[], price: Price, budgeted: StoreAccount[], micros: number): Promise<Hold | Refusal> {
    const hold = newHold(accounts, price, micros, budgeted);
    const keys: string[] = [];
    const args: string[] = [String(micros), hold.member!, String(holdTtlMs)];
    for (let i = 0; i < budgeted.length; i++) {
      const e = budgeted[i].entry;
      keys.push(e.spentKey, e.holdsKey, e.heldKey);
      args.push(String(budgeted[i].budget), String(floor(e)));
    }
    let reply: (string | number)[];
    try {
      reply = (await run(SCRIPTS.reserve, keys, args, (r) => {
        // The reservation ran after we gave up on it: give back what it took.
        if (Number((r as unknown[])[0]) === 1) run(SCRIPTS.release, ...releaseArgs(hold)).catch(() => {});
      })) as (string | number)[];
    } catch (e) {
      redis.failed(e);
      return failed(accounts, price, budgeted, micros);
    }
    redis.recovered();
    if (Number(reply[0]) === 1) {
      for (let i = 0; i < budgeted.length; i++) budgeted[i].entry.shared = Number(reply[2 + i]);
      running.set(hold, performance.now());
      return hold;
    }
    const a = budgeted[Number(reply[1]) - 1];
    const spent = Number(reply[2]);
    a.entry.shared = spent;
    return { ok: false, account: a, budget: a.budget!, spent, reserved: Number(reply[3]), requested: micros };
  }

  function reserve(accounts: readonly Account[], micros: number, price: Price): Hold | Refusal | Promise<Hold | Refusal> {
    let budgeted: StoreAccount[] | null = null;
    if (micros > 0) {
      for (let i = 0; i < accounts.length; i++) if (accounts[i].budget !== null) (budgeted ??= []).push(accounts[i] as StoreAccount);
    }
    // Nothing to check (a free request, or no budget anywhere): the settle still charges.
    if (budgeted === null) return newHold(accounts, price, 0, []);
    if (shut || !mayAsk()) return failed(accounts, price, budgeted, micros);
    return ask(accounts, price, budgeted, micros);
  }

  /** Sends a job, retrying after retryMs, 2 × retryMs, … until done or out of tries. */
  function attempt(job: Job): void {
    if (job.done) return;
    job.tries++;
    let sent: Promise<unknown>;
    try {
      sent = job.send((reply) => finish(job, reply));
    } catch {
      return abandon(job); // the key database cannot be read for the floor: not Redis's fault, nothing to retry
    }
    sending.add(sent);
    sent.then(
      (reply) => {
        redis.recovered();
        finish(job, reply);
      },
      (e) => {
        redis.failed(e);
        if (job.done) return;
        if (shut || job.tries >= settleAttempts) return abandon(job);
        setTimeout(() => attempt(job), retryMs * 2 ** (job.tries - 1)).unref();
      },
    ).finally(() => sending.delete(sent));
  }

  function start(job: Job): void {
    jobs.add(job);
    attempt(job);
  }

  function finish(job: Job, reply: unknown): void {
    if (job.done) return;
    job.done = true;
    jobs.delete(job);
    job.applied(reply);
  }

  function abandon(job: Job): void {
    if (job.done) return;
    job.done = true;
    jobs.delete(job);
    job.abandoned();
  }

  function unhold(h: SharedHold): void {
    running.delete(h);
    if (h.member === null) return;
    const [keys, args] = releaseArgs(h);
    // Given up on, the hold still frees itself when its ttl runs out.
    start({ tries: 0, done: false, send: (late) => run(SCRIPTS.release, keys, args, late), applied() {}, abandoned() {} });
  }

  function settle(hold: Hold, micros: number): void {
    const h = hold as SharedHold;
    if (!h.open) return;
    h.open = false;
    if (!(micros > 0)) return unhold(h);
    running.delete(h);
    const accounts = h.accounts;
    start({
      tries: 0,
      done: false,
      send(late) {
        // Floors are read at each try: they include charges confirmed since, never this one.
        const keys = [`${prefix}settled:${h.id}`];
        const args = [h.member ?? "", String(h.micros), String(micros), String(markerTtlMs)];
        for (let i = 0; i < accounts.length; i++) {
          const e = (accounts[i] as StoreAccount).entry;
          keys.push(e.spentKey, e.holdsKey, e.heldKey);
          args.push(String(floor(e)));
        }
        return run(SCRIPTS.settle, keys, args, late);
      },
      applied(reply) {
        const r = reply as (string | number)[];
        if (Number(r[0]) === 1) for (let i = 0; i < accounts.length; i++) (accounts[i] as StoreAccount).entry.shared = Number(r[1 + i]);
        charge(accounts, micros);
      },
      abandoned() {
        charge(accounts, micros);
        warn("error", "budget: cannot charge spend to Redis; kept in the local key database only", {
          micros,
          accounts: accounts.map((a) => `${a.kind}:${a.id}`),
          tries: settleAttempts,
        });
      },
    });
  }

  function release(hold: Hold): void {
    const h = hold as SharedHold;
    if (!h.open) return;
    h.open = false;
    unhold(h);
  }

  async function renew(): Promise<void> {
    if (running.size === 0 || redis.backingOff) return;
    const keys: string[] = [];
    const members: string[] = [];
    const oldest = performance.now() - maxHoldMs;
    for (const [h, since] of running) {
      if (since < oldest) {
        running.delete(h);
        continue;
      }
      for (let i = 0; i < h.held.length; i++) {
        keys.push(h.held[i].entry.holdsKey, h.held[i].entry.heldKey);
        members.push(h.member!);
      }
    }
    // Chunks keep one script call from holding Redis for long.
    for (let i = 0; i < members.length; i += 500) {
      try {
        await run(SCRIPTS.renew, keys.slice(2 * i, 2 * (i + 500)), [String(holdTtlMs), ...members.slice(i, i + 500)]);
      } catch (e) {
        redis.failed(e);
        return;
      }
    }
  }

  function flush(): void {
    if (dirty.length === 0) return;
    try {
      writePending(ledger, dirty);
    } catch (err) {
      // Kept pending: still part of the floor, and written by a later flush.
      warn("error", "budget: cannot write spend to the key database; retrying", { accounts: dirty.length, error: (err as Error).message });
      return;
    }
    dirty = [];
  }

  const renewTimer = setInterval(() => void renew(), Math.max(10, Math.floor(holdTtlMs / 3)));
  renewTimer.unref();
  const flushTimer = flushMs > 0 ? setInterval(flush, flushMs) : undefined;
  flushTimer?.unref();

  return {
    account(kind, id, budget): Account {
      return Object.freeze({ kind, id, budget, entry: entryOf(kind, id) }) as StoreAccount;
    },
    reserve,
    settle,
    release,
    spent(account) {
      const e = (account as StoreAccount).entry;
      return Math.max(e.shared, floor(e));
    },
    flush,
    ready: redis.ready,
    close() {
      closing ??= (async () => {
        clearInterval(renewTimer);
        clearInterval(flushTimer);
        running.clear();
        // Tries already sent get their answer (each is bounded by timeoutMs); no new ones start.
        await Promise.allSettled([...sending]);
        shut = true;
        for (const job of [...jobs]) abandon(job);
        flush();
        redis.close();
      })();
      return closing;
    },
  };
}
