/**
 * The budget book: reservations in memory, spend in the key database, written in batches.
 *
 * Why memory: a reservation must be checked and taken before every forwarded request. As a
 * SQLite transaction on the key database (`UPDATE … SET reserved = reserved + ? WHERE spent +
 * reserved + ? <= budget`, key and tenant) it cost ~10 µs with synchronous=NORMAL and ~150 µs
 * with the connection's FULL (measured, bench/budget.ts), and settling costs as much again.
 * In memory it is a few Map reads and additions, and atomic for free: check and take run in one
 * synchronous call, so no other request of this process can come between them.
 *
 * Why batches: settled spend is added to a per-account `pending` sum and written every
 * `flushMs` in one transaction (one upsert per account that spent), so one fsync covers a
 * whole interval of requests however many there were.
 *
 * What a crash (kill -9, power loss) loses:
 *   - spend settled since the last flush (at most `flushMs` of it): those requests were served
 *     and their usage is in the audit ledger, but their cost is not in the budget;
 *   - the cost of requests in flight, which are never settled.
 * Nothing else: reservations are never written, so none can be left stuck after a restart, and
 * a flush is one transaction, so no account is ever charged twice or half. SIGTERM flushes.
 *
 * Several processes on one key database (the CLI, a second gateway): each account's `base` is
 * what the database said, read again whenever {@link SpendLedger.generation} says another
 * connection committed, and taken from each flush's `RETURNING`. Reservations are per process:
 * atomic reservation across gateway instances needs a shared store (Redis, issue #8), which
 * implements {@link BudgetStore} the way the rate limiter's Redis store implements RateLimiter.
 */
import { log as defaultLog } from "../log";
import type { KeyStore } from "../keys/store";
import type { SpendDelta, SpendKind } from "../keys/types";
import type { Price } from "./prices";

/** An account's spend as a process keeps it: what the database holds, and what it settled since. */
export interface PendingSpend {
  kind: SpendKind;
  id: string;
  /** Spend in the database as last read or written. */
  base: number;
  /** Settled here, not yet written. */
  pending: number;
  /** ledger.generation() when `base` was read; -1: never read. */
  seen: number;
  /** In the flush list. */
  dirty: boolean;
}

/**
 * Writes the pending spend of `batch` in one transaction and moves it into each entry's `base`
 * (the totals the database returned). Throws what the database throws, leaving every entry as it was.
 */
export function writePending(ledger: SpendLedger, batch: readonly PendingSpend[]): void {
  const deltas: SpendDelta[] = batch.map((e) => ({ kind: e.kind, id: e.id, micros: e.pending }));
  const totals = ledger.addSpend(deltas);
  const generation = ledger.generation();
  for (let i = 0; i < batch.length; i++) {
    const e = batch[i];
    e.pending -= deltas[i].micros;
    e.base = totals[i];
    e.seen = generation;
    e.dirty = false;
  }
}

/** A key or a tenant, with its budget. Made by {@link BudgetStore.account}; keep it with the key record. */
export interface Account {
  readonly kind: SpendKind;
  readonly id: string;
  /** Cap on lifetime spend in µUSD; null: no cap (spend is still counted). */
  readonly budget: number | null;
}

/** A request's reservation, taken before forwarding; settled or released exactly once. */
export interface Hold {
  readonly ok: true;
  readonly accounts: readonly Account[];
  /** What the request's usage will be priced at when it settles. */
  readonly price: Price;
  /** µUSD held on each of `accounts` that has a budget. */
  readonly micros: number;
  /** False once settled or released: a second call is a no-op. */
  open: boolean;
}

/** Why a reservation was refused: the first account it would have taken over budget. */
export interface Refusal {
  readonly ok: false;
  /**
   * Absent or "budget": over budget (429). "unavailable": a shared store could not be asked and
   * fails closed (503); `account` is the first budgeted one, `spent` and `reserved` are unknown (0).
   */
  readonly reason?: "budget" | "unavailable";
  readonly account: Account;
  readonly budget: number;
  /** µUSD spent so far, held by requests in flight, and asked for by this request. */
  readonly spent: number;
  readonly reserved: number;
  readonly requested: number;
}

/**
 * Budgets, whatever the store. Call order for one request: `reserve` before forwarding with the
 * worst-case cost; when the reply has ended (streams too) `settle` with the actual cost; if it
 * failed before any reply, `release`. The memory book answers synchronously; a shared store
 * (Redis) may return Promises from `reserve`, as the rate limiter's does from `check`.
 */
export interface BudgetStore {
  account(kind: SpendKind, id: string, budget: number | null): Account;
  /**
   * Holds `micros` on every account with a budget, or on none: refused if any of them would go
   * over (spent + held + micros > budget). A request that can cost nothing is never refused.
   */
  reserve(accounts: readonly Account[], micros: number, price: Price): Hold | Refusal | Promise<Hold | Refusal>;
  /** Frees the hold and charges `micros` (the actual cost) to every account, budgeted or not. */
  settle(hold: Hold, micros: number): void;
  /** Frees the hold without charging anything (the request failed before a reply). */
  release(hold: Hold): void;
  /** Spend known to this process in µUSD: what the database said, plus settled and unwritten. */
  spent(account: Account): number;
  /** Writes settled spend now; also runs every `flushMs`. */
  flush(): void;
  /** Flushes and stops the timer. */
  close(): void;
}

/** What the book needs of the key store; the gateway shares its connection (see KeyStore.generation). */
export type SpendLedger = Pick<KeyStore, "spentMicros" | "addSpend" | "generation">;

export interface BudgetBookOptions {
  /** How often settled spend is written (default 1000 ms); 0: only on flush() and close(). */
  flushMs?: number;
  log?: typeof defaultLog;
  /** At most one "cannot write spend" error per this many ms (default 10 s). */
  logEveryMs?: number;
}

/** The in-process book: synchronous, no Promise. */
export interface MemoryBudgetBook extends BudgetStore {
  reserve(accounts: readonly Account[], micros: number, price: Price): Hold | Refusal;
}

/** One account's numbers in this process, shared by every Account object made for it. */
interface Entry extends PendingSpend {
  /** Held by requests in flight. */
  reserved: number;
}

interface BookAccount extends Account {
  readonly entry: Entry;
}

/**
 * @example
 * const book = createBudgetBook(keyStore, { flushMs: 1000 });
 * const accounts = [book.account("key", key.id, usdToMicros(key.maxBudgetUsd)), book.account("tenant", key.tenant, null)];
 * const r = book.reserve(accounts, worstCaseMicros, price);
 * if (!r.ok) throw budgetError(r);
 * // … when the reply has ended:
 * book.settle(r, costMicros(price, usage.prompt, usage.completion));
 */
export function createBudgetBook(ledger: SpendLedger, options: BudgetBookOptions = {}): MemoryBudgetBook {
  const flushMs = options.flushMs ?? 1000;
  const log = options.log ?? defaultLog;
  const logEveryMs = options.logEveryMs ?? 10_000;
  const entries = { key: new Map<string, Entry>(), tenant: new Map<string, Entry>() };
  let dirty: Entry[] = [];
  let loggedAt = -Infinity;

  function entryOf(kind: SpendKind, id: string): Entry {
    let e = entries[kind].get(id);
    if (e === undefined) entries[kind].set(id, (e = { kind, id, base: 0, pending: 0, reserved: 0, seen: -1, dirty: false }));
    return e;
  }

  /** The entry with `base` current: read again after another connection's commit. */
  function fresh(e: Entry): Entry {
    const generation = ledger.generation();
    if (e.seen !== generation) {
      e.base = ledger.spentMicros(e.kind, e.id);
      e.seen = generation;
    }
    return e;
  }

  function reserve(accounts: readonly Account[], micros: number, price: Price): Hold | Refusal {
    if (micros > 0) {
      for (let i = 0; i < accounts.length; i++) {
        const a = accounts[i] as BookAccount;
        if (a.budget === null) continue;
        const e = fresh(a.entry);
        const spent = e.base + e.pending;
        if (spent + e.reserved + micros > a.budget) return { ok: false, account: a, budget: a.budget, spent, reserved: e.reserved, requested: micros };
      }
      for (let i = 0; i < accounts.length; i++) {
        const a = accounts[i] as BookAccount;
        if (a.budget !== null) a.entry.reserved += micros;
      }
    }
    return { ok: true, accounts, price, micros: micros > 0 ? micros : 0, open: true };
  }

  function unhold(hold: Hold): void {
    if (hold.micros === 0) return;
    for (let i = 0; i < hold.accounts.length; i++) {
      const a = hold.accounts[i] as BookAccount;
      if (a.budget !== null) a.entry.reserved -= hold.micros;
    }
  }

  function settle(hold: Hold, micros: number): void {
    if (!hold.open) return;
    hold.open = false;
    unhold(hold);
    if (!(micros > 0)) return;
    for (let i = 0; i < hold.accounts.length; i++) {
      const e = (hold.accounts[i] as BookAccount).entry;
      e.pending += micros;
      if (!e.dirty) {
        e.dirty = true;
        dirty.push(e);
      }
    }
  }

  function release(hold: Hold): void {
    if (!hold.open) return;
    hold.open = false;
    unhold(hold);
  }

  function flush(): void {
    if (dirty.length === 0) return;
    try {
      writePending(ledger, dirty);
    } catch (err) {
      // Kept pending: still counted against budgets here, and written by a later flush.
      if (performance.now() - loggedAt >= logEveryMs) {
        loggedAt = performance.now();
        log("error", "cannot write spend to the key database; retrying", { accounts: dirty.length, error: (err as Error).message });
      }
      return;
    }
    dirty = [];
  }

  const timer = flushMs > 0 ? setInterval(flush, flushMs) : undefined;
  timer?.unref();

  return {
    account(kind, id, budget): Account {
      return Object.freeze({ kind, id, budget, entry: entryOf(kind, id) }) as BookAccount;
    },
    reserve,
    settle,
    release,
    spent(account) {
      const e = fresh((account as BookAccount).entry);
      return e.base + e.pending;
    },
    flush,
    close() {
      clearInterval(timer);
      flush();
    },
  };
}
