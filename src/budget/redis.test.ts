// The shared budget store against a real redis-server, with real key databases (SQLite files in a
// temporary directory): several instances reserving atomically, holds that outlive a crashed
// instance by holdTtlMs only, seeding from the local record after Redis lost its data, and
// what happens when Redis dies, hangs or comes back.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { RedisClient } from "bun";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startRedis, type RedisServer } from "../../test/setup/redis";
import { openKeyStore, type KeyStore } from "../keys/store";
import type { Hold, Refusal } from "./book";
import { createRedisBudgetStore, type RedisBudgetOptions, type RedisBudgetStore } from "./redis";
import { budgetError } from "./reply";

const price = { prompt: 1_000_000, completion: 2_000_000 };

interface LogLine {
  level: string;
  msg: string;
}

let redis: RedisServer;
let admin: RedisClient;
let dir: string;
let dbs = 0;
const closers: (() => unknown)[] = [];

async function adminClient(): Promise<RedisClient> {
  const c = new RedisClient(redis.url);
  await c.connect();
  return c;
}

/** A key database of its own, as each gateway instance on its own host would have. */
function keyStore(): KeyStore {
  const s = openKeyStore(join(dir, `keys-${dbs++}.db`));
  closers.push(() => s.close());
  return s;
}

function store(options: Partial<RedisBudgetOptions> & { lines?: LogLine[] } = {}): RedisBudgetStore {
  const lines = options.lines ?? [];
  const s = createRedisBudgetStore({ url: redis.url, failure: "closed", ledger: options.ledger ?? keyStore(), flushMs: 0, log: (level, msg) => void lines.push({ level, msg }), ...options });
  closers.push(() => s.close());
  return s;
}

const ok = (r: Hold | Refusal): Hold => {
  if (!r.ok) throw new Error(`refused: ${JSON.stringify({ ...r, account: r.account.id })}`);
  return r;
};

/** µUSD held by a result: 0 for a refusal, or a hold with nothing in Redis. */
const heldMicros = (r: Hold | Refusal) => (r.ok ? r.micros : 0);
const unavailable = (r: Hold | Refusal) => !r.ok && r.reason === "unavailable";

const num = async (key: string) => Number((await admin.send("GET", [key])) ?? 0);
const zcard = async (key: string) => Number(await admin.send("ZCARD", [key]));

/** Polls until `check` is true, or fails after `ms`. */
async function until(check: () => boolean | Promise<boolean>, ms = 3000): Promise<void> {
  const deadline = performance.now() + ms;
  while (!(await check())) {
    if (performance.now() > deadline) throw new Error(`not within ${ms} ms`);
    await Bun.sleep(10);
  }
}

beforeAll(async () => {
  redis = await startRedis();
  admin = await adminClient();
});
afterAll(async () => {
  admin?.close();
  await redis?.stop();
});
beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), "warden-budget-redis-"));
  // A test that killed or paused the server gets it back for the next one.
  redis.resume();
  const alive = await admin.send("PING", []).then(() => true, () => false);
  if (!alive) {
    await redis.restart();
    admin.close();
    admin = await adminClient();
  }
  await admin.send("FLUSHALL", []);
});
afterEach(async () => {
  redis.resume();
  for (const close of closers.splice(0).reverse()) await close();
  rmSync(dir, { recursive: true, force: true });
});

describe("several instances on one Redis", () => {
  test("40 concurrent reserves over two instances: exactly the 7 that fit are held; settled spend is seen by both", async () => {
    const a = store();
    const b = store();
    const worst = 1000;
    const ka = a.account("key", "key_7", 7 * worst);
    const kb = b.account("key", "key_7", 7 * worst);
    expect((await a.ready()) && (await b.ready())).toBe(true);
    const results = await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? a : b).reserve([i % 2 === 0 ? ka : kb], worst, price)));
    const held = results.filter((r) => r.ok) as Hold[];
    expect(held).toHaveLength(7);
    for (const r of results) if (!r.ok) expect(r).toMatchObject({ ok: false, budget: 7000, spent: 0, reserved: 7000, requested: 1000 });
    // Unshared holds would have granted 7 on each instance: 14.
    expect(await zcard("warden:budget:holds:key:key_7")).toBe(7);
    expect(await num("warden:budget:held:key:key_7")).toBe(7000);

    // Settled at the actual cost (600 each): holds freed, 4200 spent.
    for (let i = 0; i < held.length; i++) (results.indexOf(held[i]) % 2 === 0 ? a : b).settle(held[i], 600);
    await until(async () => (await num("warden:budget:spent:key:key_7")) === 4200);
    expect(await zcard("warden:budget:holds:key:key_7")).toBe(0);
    expect(await admin.send("EXISTS", ["warden:budget:held:key:key_7"])).toBe(0);

    // 2800 left: two more of the worst case, on either instance, then a refusal that counts the spend.
    ok(await a.reserve([ka], worst, price));
    ok(await b.reserve([kb], worst, price));
    expect(await b.reserve([kb], worst, price)).toMatchObject({ ok: false, spent: 4200, reserved: 2000, requested: 1000 });
    expect(a.spent(ka)).toBe(4200);
  });

  test("key and tenant in one reserve: the refusal names the account that would go over and takes nothing from the other", async () => {
    const a = store();
    const b = store();
    const tenant = a.account("tenant", "acme", 5000);
    const keyA = a.account("key", "key_a", null);
    const h = ok(await a.reserve([keyA, tenant], 4000, price));
    expect(await zcard("warden:budget:holds:key:key_a")).toBe(0); // no budget, no hold

    // The key could, the tenant cannot.
    const keyC = b.account("key", "key_c", 3000);
    const tenantB = b.account("tenant", "acme", 5000);
    const r = (await b.reserve([keyC, tenantB], 2000, price)) as Refusal;
    expect(r).toMatchObject({ ok: false, budget: 5000, spent: 0, reserved: 4000, requested: 2000 });
    expect(r.account).toBe(tenantB);
    expect(await zcard("warden:budget:holds:key:key_c")).toBe(0);

    // The tenant could, the key cannot: the tenant keeps only A's hold.
    const small = b.account("key", "key_s", 300);
    const r2 = (await b.reserve([small, tenantB], 500, price)) as Refusal;
    expect(r2.account).toBe(small);
    expect(await num("warden:budget:held:tenant:acme")).toBe(4000);

    // Accounts without a budget are charged on settle all the same.
    a.settle(h, 3000);
    await until(async () => (await num("warden:budget:spent:tenant:acme")) === 3000);
    expect(await num("warden:budget:spent:key:key_a")).toBe(3000);
    ok(await b.reserve([keyC, tenantB], 2000, price)); // 3000 + 2000 = 5000
  });

  test("a request that can cost nothing, or has no budget, does not wait for Redis; its charge still lands", async () => {
    const s = store();
    const free = s.reserve([s.account("key", "key_f", 0)], 0, price);
    expect(free).toMatchObject({ ok: true, micros: 0 }); // not a Promise
    const open = s.account("key", "key_o", null);
    const h = s.reserve([open], 10 ** 9, price) as Hold;
    expect(h.ok).toBe(true);
    s.settle(h, 123);
    await until(async () => (await num("warden:budget:spent:key:key_o")) === 123);
    expect(s.spent(open)).toBe(123);
  });

  test("settle and release are each once-only", async () => {
    const s = store();
    const k = s.account("key", "key_once", 100);
    const h = ok(await s.reserve([k], 100, price));
    s.release(h);
    s.release(h);
    s.settle(h, 50);
    await until(async () => (await zcard("warden:budget:holds:key:key_once")) === 0);
    const h2 = ok(await s.reserve([k], 100, price));
    s.settle(h2, 40);
    s.settle(h2, 40);
    s.release(h2);
    await until(async () => (await num("warden:budget:spent:key:key_once")) === 40);
    await Bun.sleep(30);
    expect(await num("warden:budget:spent:key:key_once")).toBe(40);
    ok(await s.reserve([k], 60, price));
  });

  test("works again after Redis forgot the scripts (EVALSHA falls back to EVAL)", async () => {
    const s = store();
    const k = s.account("key", "key_sf", 1000);
    ok(await s.reserve([k], 100, price));
    await admin.send("SCRIPT", ["FLUSH"]);
    expect(await s.reserve([k], 900, price)).toMatchObject({ ok: true, micros: 900 });
  });
});

describe("holds", () => {
  test("a crashed instance's holds free the budget after holdTtlMs", async () => {
    const dying = store({ holdTtlMs: 300 });
    const other = store({ holdTtlMs: 300 });
    ok(await dying.reserve([dying.account("key", "key_x", 1000)], 1000, price));
    const k = other.account("key", "key_x", 1000);
    expect(await other.reserve([k], 1, price)).toMatchObject({ ok: false, reserved: 1000 });
    await dying.close(); // stops renewing without releasing, as a killed process would
    await Bun.sleep(450);
    ok(await other.reserve([k], 1000, price));
    expect(await zcard("warden:budget:holds:key:key_x")).toBe(1); // the dead hold was dropped
    expect(await num("warden:budget:held:key:key_x")).toBe(1000);
  });

  test("a running request keeps its hold beyond holdTtlMs (renewal)", async () => {
    const a = store({ holdTtlMs: 300 });
    const b = store({ holdTtlMs: 300 });
    const h = ok(await a.reserve([a.account("key", "key_r", 1000)], 1000, price));
    await Bun.sleep(900); // 3 ttls
    const k = b.account("key", "key_r", 1000);
    expect(await b.reserve([k], 1, price)).toMatchObject({ ok: false, reserved: 1000 });
    a.release(h);
    await until(async () => (await zcard("warden:budget:holds:key:key_r")) === 0);
    ok(await b.reserve([k], 1000, price));
  });

  test("holds and their sum expire with the newest hold; spend does not expire", async () => {
    const s = store({ holdTtlMs: 60_000 });
    const k = s.account("key", "key_ttl", 10_000);
    s.settle(ok(await s.reserve([k], 500, price)), 200);
    ok(await s.reserve([k], 500, price));
    const ttl = Number(await admin.send("PTTL", ["warden:budget:holds:key:key_ttl"]));
    expect(ttl).toBeGreaterThan(59_000);
    expect(ttl).toBeLessThanOrEqual(61_000);
    expect(Number(await admin.send("PTTL", ["warden:budget:held:key:key_ttl"]))).toBeGreaterThan(59_000);
    await until(async () => (await num("warden:budget:spent:key:key_ttl")) === 200);
    expect(Number(await admin.send("PTTL", ["warden:budget:spent:key:key_ttl"]))).toBe(-1);
  });

  test("a lost sum of holds (evicted) is counted again from the holds, and never goes negative", async () => {
    const s = store();
    const k = s.account("key", "key_ev", 1000);
    const h = ok(await s.reserve([k], 600, price));
    ok(await s.reserve([k], 100, price));
    await admin.send("DEL", ["warden:budget:held:key:key_ev"]);
    s.release(h); // finds no sum to take 600 from
    await until(async () => (await zcard("warden:budget:holds:key:key_ev")) === 1);
    expect(await admin.send("EXISTS", ["warden:budget:held:key:key_ev"])).toBe(0);
    expect(await s.reserve([k], 901, price)).toMatchObject({ ok: false, reserved: 100 });
    expect(await num("warden:budget:held:key:key_ev")).toBe(100);
    ok(await s.reserve([k], 900, price));
  });

  test("a reservation that timed out but ran later gives its hold back", async () => {
    const s = store({ timeoutMs: 100, retryMs: 0 });
    const k = s.account("key", "key_late", 1000);
    expect(await s.ready()).toBe(true);
    redis.pause();
    try {
      expect(await s.reserve([k], 1000, price)).toMatchObject({ ok: false, reason: "unavailable" });
    } finally {
      redis.resume();
    }
    // The server now runs the queued reservation (taking 1000), and the late reply releases it.
    await until(async () => (await zcard("warden:budget:holds:key:key_late")) === 0);
    ok(await s.reserve([k], 1000, price));
  });
});

describe("the local key database", () => {
  test("settled spend is written every flushMs, each instance its own; close() writes what is left", async () => {
    const dbA = keyStore();
    const dbB = keyStore();
    const a = store({ ledger: dbA, flushMs: 30 });
    const b = store({ ledger: dbB, flushMs: 0 });
    const accountsA = [a.account("key", "key_a", 10_000), a.account("tenant", "acme", 100_000)];
    const accountsB = [b.account("key", "key_b", null), b.account("tenant", "acme", 100_000)];
    for (let i = 0; i < 5; i++) a.settle(ok(await a.reserve(accountsA, 1000, price)), 100);
    b.settle(ok(await b.reserve(accountsB, 1000, price)), 7);
    await until(() => dbA.spentMicros("key", "key_a") === 500);
    expect(dbA.spentMicros("tenant", "acme")).toBe(500);
    expect(dbA.listSpend("key")).toEqual(new Map([["key_a", 500]]));
    await until(async () => (await num("warden:budget:spent:tenant:acme")) === 507); // Redis has both
    expect(dbB.spentMicros("tenant", "acme")).toBe(0); // b writes on flush() or close() only
    await b.close();
    expect(dbB.spentMicros("tenant", "acme")).toBe(7);
    expect(dbB.spentMicros("key", "key_b")).toBe(7);
  });

  test("Redis restarted empty: spend is raised back to the local record (written and unwritten), not reset to 0", async () => {
    const db = keyStore();
    db.addSpend([{ kind: "key", id: "key_s", micros: 5000 }]); // spent before Redis (or before its last restart)
    const s = store({ ledger: db, retryMs: 50 });
    const k = s.account("key", "key_s", 6000);
    expect(await s.reserve([k], 1500, price)).toMatchObject({ ok: false, spent: 5000, reserved: 0, requested: 1500 });
    expect(await num("warden:budget:spent:key:key_s")).toBe(5000);
    s.settle(ok(await s.reserve([k], 500, price)), 300);
    await until(() => s.spent(k) === 5300);
    s.flush(); // 5300 in SQLite
    s.settle(ok(await s.reserve([k], 500, price)), 100); // settled, not yet written
    await until(async () => (await num("warden:budget:spent:key:key_s")) === 5400);
    expect(db.spentMicros("key", "key_s")).toBe(5300);

    await redis.restart();
    admin.close();
    admin = await adminClient();
    expect(await admin.send("EXISTS", ["warden:budget:spent:key:key_s"])).toBe(0);
    let r: Hold | Refusal;
    await until(async () => !unavailable((r = await s.reserve([k], 700, price))));
    expect(r!).toMatchObject({ ok: false, spent: 5400, requested: 700 });
    expect(await num("warden:budget:spent:key:key_s")).toBe(5400);
    ok(await s.reserve([k], 600, price)); // 5400 + 600 = 6000
  });

  test("a second instance with an empty database sees the spend the first one seeded", async () => {
    const db = keyStore();
    db.addSpend([{ kind: "tenant", id: "old", micros: 900 }]);
    const a = store({ ledger: db });
    const b = store();
    await a.reserve([a.account("tenant", "old", 1000)], 1, price);
    expect(await b.reserve([b.account("tenant", "old", 1000)], 101, price)).toMatchObject({ ok: false, spent: 900 });
  });
});

describe("when Redis is down", () => {
  test("fail-open forwards without holds and logs once; fail-closed refuses with 503 budget_unavailable; both recover within ~1 s of a restart", async () => {
    const lines: LogLine[] = [];
    const open = store({ failure: "open", retryMs: 100, lines });
    const closed = store({ failure: "closed", retryMs: 100 });
    const ko = open.account("key", "key_open", 10_000);
    const kc = closed.account("key", "key_closed", 10_000);
    ok(await open.reserve([ko], 100, price));
    ok(await closed.reserve([kc], 100, price));

    await redis.kill();
    for (let i = 0; i < 5; i++) {
      const h = ok(await open.reserve([ko], 100, price));
      expect(h.micros).toBe(0); // nothing held
      open.release(h);
    }
    expect(lines.filter((l) => l.level === "warn")).toHaveLength(1);
    expect(lines[0].msg).toContain("without budget holds");
    const refused = (await closed.reserve([kc], 100, price)) as Refusal;
    expect(refused).toMatchObject({ ok: false, reason: "unavailable", account: kc, requested: 100 });
    const e = budgetError(refused);
    expect(e.status).toBe(503);
    expect(e.code).toBe("budget_unavailable");
    // Requests without a budget are not refused by a down Redis.
    expect(closed.reserve([closed.account("key", "key_nb", null)], 100, price)).toMatchObject({ ok: true });

    await redis.restart();
    const t0 = performance.now();
    await until(async () => heldMicros(await open.reserve([ko], 100, price)) === 100, 2000);
    await until(async () => (await closed.reserve([kc], 100, price)).ok, 2000);
    expect(performance.now() - t0).toBeLessThan(2000);
    expect(lines.some((l) => l.msg === "budget: Redis reachable again")).toBe(true);
  });

  test("a settle that fails while Redis is down is retried and lands once it is back", async () => {
    const db = keyStore();
    const s = store({ failure: "open", ledger: db, retryMs: 100, settleAttempts: 5 });
    const k = s.account("key", "key_retry", 10_000);
    s.settle(ok(await s.reserve([k], 1000, price)), 250);
    await until(async () => (await num("warden:budget:spent:key:key_retry")) === 250);
    const h = ok(await s.reserve([k], 1000, price));
    await redis.kill();
    s.settle(h, 300);
    await Bun.sleep(150); // the first try and one retry fail
    await redis.restart();
    admin.close();
    admin = await adminClient();
    // Redis came back empty: the retry raises spend to the local record (250), then charges 300.
    await until(async () => (await num("warden:budget:spent:key:key_retry")) === 550, 3000);
    s.flush();
    expect(db.spentMicros("key", "key_retry")).toBe(550);
  });

  test("a settle given up on is logged and kept in the local database, and reaches Redis through the floor", async () => {
    const lines: LogLine[] = [];
    const db = keyStore();
    const s = store({ failure: "open", ledger: db, retryMs: 20, settleAttempts: 2, lines });
    const k = s.account("key", "key_lost", 10_000);
    const h = ok(await s.reserve([k], 1000, price));
    await redis.kill();
    s.settle(h, 400);
    await until(() => lines.some((l) => l.level === "error" && l.msg.includes("cannot charge spend to Redis")));
    s.flush();
    expect(db.spentMicros("key", "key_lost")).toBe(400);
    await redis.restart();
    admin.close();
    admin = await adminClient();
    await until(async () => heldMicros(await s.reserve([k], 9600, price)) === 9600, 2000); // 400 + 9600 = 10 000
    expect(await num("warden:budget:spent:key:key_lost")).toBe(400);
    expect(await s.reserve([k], 1, price)).toMatchObject({ ok: false, spent: 400, reserved: 9600 });
  });

  test("a retried settle whose first try did run charges once (hung server)", async () => {
    const db = keyStore();
    const s = store({ ledger: db, timeoutMs: 80, retryMs: 40, settleAttempts: 5 });
    const k = s.account("key", "key_twice", 10_000);
    const h = ok(await s.reserve([k], 1000, price));
    redis.pause();
    s.settle(h, 700);
    await Bun.sleep(250); // the first try and a retry or two time out, queued on the connection
    redis.resume();
    await until(async () => (await num("warden:budget:spent:key:key_twice")) === 700);
    await Bun.sleep(1000); // every queued or later try has run by now
    expect(await num("warden:budget:spent:key:key_twice")).toBe(700);
    expect(await zcard("warden:budget:holds:key:key_twice")).toBe(0);
    s.flush();
    expect(db.spentMicros("key", "key_twice")).toBe(700);
  });

  test("ready() says whether Redis can be reached", async () => {
    const s = store({ timeoutMs: 100 });
    expect(await s.ready()).toBe(true);
    await redis.kill();
    await Bun.sleep(50);
    const down = createRedisBudgetStore({ url: redis.url, failure: "closed", ledger: keyStore(), timeoutMs: 100, log: () => {} });
    closers.push(() => down.close());
    expect(await down.ready()).toBe(false);
  });
});
