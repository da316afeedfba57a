/**
 * The budget book on a real key database (SQLite files in a temporary directory): reservations
 * are atomic and never overshoot, settle and release free them exactly once, spend reaches the
 * database in batches, and a crash loses only what the book says it loses.
 */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openKeyStore, type KeyStore } from "../keys/store";
import { secretHash } from "../keys/secret";
import { createBudgetBook, type Account, type Hold, type Refusal } from "./book";

const price = { prompt: 1_000_000, completion: 2_000_000 }; // $1 / $2 per million: 1 and 2 µUSD per token

let dir: string;
let store: KeyStore;
const closers: (() => void)[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "warden-budget-"));
  store = openKeyStore(join(dir, "keys.db"));
  closers.push(() => store.close());
});
afterEach(() => {
  for (const close of closers.splice(0).reverse()) close();
  rmSync(dir, { recursive: true, force: true });
});

function book(flushMs = 0) {
  const b = createBudgetBook(store, { flushMs });
  closers.push(() => b.close());
  return b;
}

const ok = (r: Hold | Refusal): Hold => {
  if (!r.ok) throw new Error(`refused: ${JSON.stringify(r)}`);
  return r;
};

describe("reserve, settle, release", () => {
  test("a reservation counts against the budget until it is settled to the actual cost", () => {
    const b = book();
    const key = b.account("key", "key_a", 1000);
    const h = ok(b.reserve([key], 600, price));
    const refused = b.reserve([key], 500, price) as Refusal;
    expect(refused).toMatchObject({ ok: false, budget: 1000, spent: 0, reserved: 600, requested: 500 });
    expect(refused.account).toBe(key);
    b.settle(h, 250);
    expect(b.spent(key)).toBe(250);
    ok(b.reserve([key], 750, price)); // 250 spent + 750 = 1000: exactly the budget passes
    expect(b.reserve([key], 1, price).ok).toBe(false);
  });

  test("release frees without charging; settle and release are each once-only", () => {
    const b = book();
    const key = b.account("key", "key_a", 100);
    const h = ok(b.reserve([key], 100, price));
    b.release(h);
    b.release(h);
    b.settle(h, 50); // already released: no charge
    expect(b.spent(key)).toBe(0);
    const h2 = ok(b.reserve([key], 100, price));
    b.settle(h2, 40);
    b.settle(h2, 40);
    b.release(h2);
    expect(b.spent(key)).toBe(40);
    ok(b.reserve([key], 60, price));
  });

  test("key and tenant together: all or nothing, and the tenant's budget is shared by its keys", () => {
    const b = book();
    const tenant = b.account("tenant", "acme", 1000);
    const a = [b.account("key", "key_a", null), tenant];
    const c = [b.account("key", "key_c", 300), tenant];
    const ha = ok(b.reserve(a, 800, price));
    const r = b.reserve(c, 300, price) as Refusal; // the key could, the tenant cannot
    expect(r.ok).toBe(false);
    expect(r.account).toBe(tenant);
    b.settle(ha, 700);
    ok(b.reserve(c, 300, price)); // 700 + 300 = 1000
    expect(b.spent(a[0])).toBe(700);
    expect(b.spent(tenant)).toBe(700);
  });

  test("a request that can cost nothing always passes, even over budget; accounts without a budget only count", () => {
    const b = book();
    const key = b.account("key", "key_a", 0);
    expect(b.reserve([key], 1, price).ok).toBe(false);
    const free = ok(b.reserve([key], 0, price));
    b.settle(free, 0);
    const open = b.account("key", "key_open", null);
    const h = ok(b.reserve([open], 10 ** 12, price));
    b.settle(h, 123);
    expect(b.spent(open)).toBe(123);
  });

  test("a settle above the reservation is charged in full (the reply outran max_tokens); the next request is refused", () => {
    const b = book();
    const key = b.account("key", "key_a", 1000);
    b.settle(ok(b.reserve([key], 100, price)), 1200);
    expect(b.spent(key)).toBe(1200);
    expect(b.reserve([key], 1, price)).toMatchObject({ ok: false, spent: 1200, reserved: 0 });
  });

  test("Account objects made again for the same id share one set of numbers", () => {
    const b = book();
    ok(b.reserve([b.account("key", "key_a", 100)], 100, price));
    expect(b.reserve([b.account("key", "key_a", 100)], 1, price).ok).toBe(false);
    expect(b.reserve([b.account("tenant", "key_a", 100)], 1, price).ok).toBe(true); // another kind, another account
  });
});

describe("atomicity under concurrency", () => {
  test("10 000 concurrent requests with random costs and delays never take an account over its budget", async () => {
    const b = book(5);
    const tenant = b.account("tenant", "acme", 500_000);
    const keys = Array.from({ length: 20 }, (_, i) => b.account("key", `key_${i}`, i % 4 === 0 ? null : 60_000));
    let maxHeld = 0;
    let held = 0;
    let served = 0;
    let refused = 0;
    let seed = 7;
    const rand = (n: number) => Math.floor(((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * n);
    const perKey = new Map<string, number>();
    await Promise.all(
      Array.from({ length: 10_000 }, async (_, i) => {
        const key = keys[i % keys.length];
        await Bun.sleep(rand(3));
        const worst = 1 + rand(400);
        const r = b.reserve([key, tenant], worst, price);
        if (!r.ok) {
          refused++;
          return;
        }
        held += worst;
        maxHeld = Math.max(maxHeld, held);
        await Bun.sleep(rand(5));
        held -= worst;
        // Mostly under the worst case; sometimes the request fails and is released.
        if (rand(10) === 0) b.release(r);
        else {
          const actual = rand(worst + 1);
          perKey.set(key.id, (perKey.get(key.id) ?? 0) + actual);
          b.settle(r, actual);
          served++;
        }
      }),
    );
    expect(served).toBeGreaterThan(1000);
    expect(refused).toBeGreaterThan(1000);
    expect(maxHeld).toBeGreaterThan(10_000); // reservations really did overlap
    expect(b.spent(tenant)).toBeLessThanOrEqual(500_000);
    for (const key of keys) {
      expect(b.spent(key)).toBe(perKey.get(key.id) ?? 0);
      if (key.budget !== null) expect(b.spent(key)).toBeLessThanOrEqual(key.budget);
    }
    expect(b.spent(tenant)).toBe([...perKey.values()].reduce((s, x) => s + x, 0));
    // Every hold was settled or released: the whole budget can be reserved again.
    b.flush();
    const left = 500_000 - b.spent(tenant);
    if (left > 0) expect(b.reserve([tenant], left, price).ok).toBe(true);
    // And the database agrees with memory.
    expect(store.spentMicros("tenant", "acme")).toBe(b.spent(tenant));
  });
});

describe("the key database", () => {
  test("spend is written in batches, one row per account, and nothing before a flush", () => {
    const b = book();
    const accounts = [b.account("key", "key_a", null), b.account("tenant", "acme", null)];
    for (let i = 0; i < 100; i++) b.settle(ok(b.reserve(accounts, 0, price)), 7);
    expect(store.spentMicros("key", "key_a")).toBe(0);
    b.flush();
    expect(store.spentMicros("key", "key_a")).toBe(700);
    expect(store.spentMicros("tenant", "acme")).toBe(700);
    expect(store.listSpend("key")).toEqual(new Map([["key_a", 700]]));
    b.settle(ok(b.reserve(accounts, 0, price)), 1);
    b.flush();
    expect(store.spentMicros("key", "key_a")).toBe(701);
  });

  test("the timer flushes every flushMs; close() flushes what is left", async () => {
    const b = createBudgetBook(store, { flushMs: 20 });
    const key = b.account("key", "key_a", null);
    b.settle(ok(b.reserve([key], 0, price)), 5);
    await Bun.sleep(80);
    expect(store.spentMicros("key", "key_a")).toBe(5);
    b.settle(ok(b.reserve([key], 0, price)), 5);
    b.close();
    expect(store.spentMicros("key", "key_a")).toBe(10);
  });

  test("a crash loses the unflushed spend and the requests in flight, nothing else, and leaves no reservation behind", () => {
    const path = join(dir, "keys.db");
    const b = book();
    const key = b.account("key", "key_a", 1000);
    b.settle(ok(b.reserve([key], 300, price)), 200);
    b.flush(); // 200 durable
    b.settle(ok(b.reserve([key], 300, price)), 100); // settled, not yet written
    ok(b.reserve([key], 300, price)); // in flight
    // "Crash": a new process opens the same file without flushing or closing this book.
    const after = openKeyStore(path);
    closers.push(() => after.close());
    const b2 = createBudgetBook(after, { flushMs: 0 });
    const key2 = b2.account("key", "key_a", 1000);
    expect(b2.spent(key2)).toBe(200);
    ok(b2.reserve([key2], 800, price)); // no stuck reservation: 200 + 800 = 1000 fits
  });

  test("spend another connection writes (a second gateway) is read again before the next reservation", () => {
    const path = join(dir, "keys.db");
    const { record, secret } = store.createKey({ tenant: "acme", maxBudgetUsd: 0.001 });
    const b = book();
    const key = b.account("key", record.id, 1000);
    b.settle(ok(b.reserve([key], 100, price)), 100);
    b.flush();
    const other = openKeyStore(path);
    closers.push(() => other.close());
    other.addSpend([{ kind: "key", id: record.id, micros: 850 }]);
    store.lookup(secretHash(secret)); // every request's auth look-up notices the other connection's commit
    expect(b.reserve([key], 100, price)).toMatchObject({ ok: false, spent: 950 });
    ok(b.reserve([key], 50, price));
    // A flush takes the database's total, other writers' spend included.
    b.settle(ok(b.reserve([b.account("key", record.id, null)], 0, price)), 1);
    other.addSpend([{ kind: "key", id: record.id, micros: 3 }]);
    b.flush();
    expect(b.spent(key)).toBe(954);
  });

  test("a failed write keeps the spend pending (still counted against the budget) and retries", () => {
    let fail = true;
    const logged: string[] = [];
    const flaky = { ...store, addSpend: (d: Parameters<KeyStore["addSpend"]>[0]) => (fail ? (() => { throw new Error("disk I/O error"); })() : store.addSpend(d)) };
    const b = createBudgetBook(flaky, { flushMs: 0, log: (_level, msg) => void logged.push(msg) });
    closers.push(() => b.close());
    const key: Account = b.account("key", "key_a", 100);
    b.settle(ok(b.reserve([key], 60, price)), 60);
    b.flush();
    b.flush();
    expect(logged).toEqual(["cannot write spend to the key database; retrying"]); // once per logEveryMs
    expect(store.spentMicros("key", "key_a")).toBe(0);
    expect(b.reserve([key], 50, price).ok).toBe(false); // 60 pending still counts
    fail = false;
    b.flush();
    expect(store.spentMicros("key", "key_a")).toBe(60);
    expect(b.spent(key)).toBe(60);
  });
});
