// The Redis store against a real redis-server: its own clock (TIME), keys and expiry, several
// instances sharing budgets, and what happens when Redis dies, hangs or comes back.
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { RedisClient } from "bun";
import { startRedis, type RedisServer } from "../../test/setup/redis";
import { createRedisLimiter, type RedisLimiterOptions } from "./redis";
import { rateLimitError, rateLimitHeaders } from "./reply";
import { subject } from "./fingerprint";
import type { Limits, RateLimiter } from "./types";

const limits = (l: Partial<Limits>): Limits => ({ rpm: null, tpm: null, maxConcurrent: null, ...l });
let ids = 0;
const key = (l: Partial<Limits>) => subject(`key:key_${(ids++).toString(36)}`, limits(l));

interface LogLine {
  level: string;
  msg: string;
}

let redis: RedisServer;
let admin: RedisClient;
const open: RateLimiter[] = [];

function limiter(options: Partial<RedisLimiterOptions> & { lines?: LogLine[] } = {}) {
  const lines = options.lines ?? [];
  const l = createRedisLimiter({ url: redis.url, failure: "closed", log: (level, msg) => void lines.push({ level, msg }), ...options });
  open.push(l);
  return l;
}

async function adminClient(): Promise<RedisClient> {
  const c = new RedisClient(redis.url);
  await c.connect();
  return c;
}

beforeAll(async () => {
  redis = await startRedis();
  admin = await adminClient();
});
afterAll(async () => {
  for (const l of open) l.close();
  admin?.close();
  await redis?.stop();
});

describe("shared state in Redis", () => {
  test("uses the Redis server's clock: a burst, then the exact wait", async () => {
    const l = limiter();
    const k = key({ rpm: 3 });
    for (let i = 0; i < 3; i++) expect((await l.check([k], 0)).allowed).toBe(true);
    const refused = await l.check([k], 0);
    expect(refused.allowed).toBe(false);
    // One emission interval (20 s) minus the few ms the burst took.
    expect(refused.retryAfterMs).toBeGreaterThan(19_000);
    expect(refused.retryAfterMs).toBeLessThanOrEqual(20_000);
    expect(rateLimitError(refused).headers?.["retry-after"]).toBe("20");
  });

  test("keys are prefixed warden:rl: and expire once idle", async () => {
    const l = limiter();
    const k = key({ rpm: 60, tpm: 1000, maxConcurrent: 2 });
    const d = await l.check([k], 500);
    expect(d.allowed).toBe(true);
    const gcra = `warden:rl:g:${k.id}`;
    const inflight = `warden:rl:c:${k.id}`;
    expect(await admin.send("TYPE", [gcra])).toBe("hash");
    expect(await admin.send("TYPE", [inflight])).toBe("zset");
    // The tokens TAT is 30 s ahead (500 of 1000 tpm): the hash lives that long plus a second.
    const ttl = Number(await admin.send("PTTL", [gcra]));
    expect(ttl).toBeGreaterThan(29_000);
    expect(ttl).toBeLessThanOrEqual(31_000);
    expect(Number(await admin.send("PTTL", [inflight]))).toBeGreaterThan(0);
    l.release(d);
    await Bun.sleep(20);
    expect(Number(await admin.send("ZCARD", [inflight]))).toBe(0);
  });

  test("two gateway instances share one budget", async () => {
    const a = limiter();
    const b = limiter();
    const k = key({ rpm: 3, maxConcurrent: 10 });
    expect((await a.check([k], 0)).allowed).toBe(true);
    expect((await b.check([k], 0)).allowed).toBe(true);
    expect((await a.check([k], 0)).allowed).toBe(true);
    const refused = await b.check([k], 0);
    expect(refused).toMatchObject({ allowed: false, reason: "requests" });
  });

  test("completion tokens charged by one instance are seen by another", async () => {
    const a = limiter();
    const b = limiter();
    const k = key({ tpm: 1000 });
    expect((await a.check([k], 10)).allowed).toBe(true);
    await a.charge([k], 2000);
    const refused = await b.check([k], 0);
    expect(refused).toMatchObject({ allowed: false, reason: "tokens" });
    expect(refused.retryAfterMs).toBeGreaterThan(59_000);
  });

  test("works again after Redis forgot the scripts (EVALSHA falls back to EVAL)", async () => {
    const l = limiter();
    const k = key({ rpm: 5 });
    expect((await l.check([k], 0)).allowed).toBe(true);
    await admin.send("SCRIPT", ["FLUSH"]);
    const d = await l.check([k], 0);
    expect(d).toMatchObject({ allowed: true, enforced: true, remainingRequests: 3 });
  });
});

describe("concurrency leases", () => {
  test("a dead instance's slots free themselves when its leases run out", async () => {
    const dying = limiter({ leaseMs: 300 });
    const other = limiter({ leaseMs: 300 });
    const k = key({ maxConcurrent: 1 });
    expect((await dying.check([k], 0)).allowed).toBe(true);
    dying.close(); // stops renewing without releasing, as a killed process would
    expect((await other.check([k], 0)).reason).toBe("concurrency");
    await Bun.sleep(500);
    expect((await other.check([k], 0)).allowed).toBe(true);
  });

  test("a running request keeps its slot beyond the lease (renewal)", async () => {
    const a = limiter({ leaseMs: 400 });
    const b = limiter({ leaseMs: 400 });
    const k = key({ maxConcurrent: 1 });
    const running = await a.check([k], 0);
    expect(running.allowed).toBe(true);
    await Bun.sleep(1000); // 2.5 leases

    expect((await b.check([k], 0)).reason).toBe("concurrency");
    a.release(running);
    await Bun.sleep(20);
    expect((await b.check([k], 0)).allowed).toBe(true);
  });

  test("a check that timed out but ran later gives its slot back", async () => {
    const l = limiter({ timeoutMs: 100, retryMs: 0 });
    const k = key({ maxConcurrent: 1 });
    expect(await l.ready()).toBe(true);
    redis.pause();
    try {
      const d = await l.check([k], 0);
      expect(d).toMatchObject({ allowed: false, reason: "unavailable" });
    } finally {
      redis.resume();
    }
    // The server now runs the queued check (taking the slot), and the late reply releases it.
    let inflight = -1;
    for (let i = 0; i < 50 && inflight !== 0; i++) {
      await Bun.sleep(20);
      inflight = Number(await admin.send("ZCARD", [`warden:rl:c:${k.id}`]));
    }
    expect(inflight).toBe(0);
    expect((await l.check([k], 0)).allowed).toBe(true);
  });
});

describe("when Redis is down", () => {
  // Each test here kills or pauses the server; the next one gets it back.
  beforeEach(async () => {
    redis.resume();
    await redis.restart();
    admin.close();
    admin = await adminClient();
  });

  test("fail-open allows unenforced, without headers, and logs once per interval", async () => {
    const lines: LogLine[] = [];
    const l = limiter({ failure: "open", retryMs: 0, logEveryMs: 60_000, lines });
    const k = key({ rpm: 1 });
    expect((await l.check([k], 0)).enforced).toBe(true);
    await redis.kill();
    for (let i = 0; i < 10; i++) {
      const d = await l.check([k], 0);
      expect(d).toMatchObject({ allowed: true, enforced: false });
      expect(rateLimitHeaders(d)).toEqual({});
      l.release(d);
    }
    await l.charge([k], 100); // does not throw while down
    expect(lines.filter((x) => x.level === "warn")).toHaveLength(1);
    expect(lines[0].msg).toContain("allowing requests");
  });

  test("fail-closed refuses with 503 rate_limiter_unavailable", async () => {
    const l = limiter({ failure: "closed" });
    const k = key({ rpm: 100 });
    expect((await l.check([k], 0)).allowed).toBe(true);
    await redis.kill();
    const d = await l.check([k], 0);
    expect(d).toMatchObject({ allowed: false, reason: "unavailable" });
    const e = rateLimitError(d);
    expect(e.status).toBe(503);
    expect(e.code).toBe("rate_limiter_unavailable");
    expect(e.headers?.["retry-after"]).toBe("1");
  });

  test("a hung server costs one timeout, then checks fail fast until the retry interval", async () => {
    const l = limiter({ failure: "closed", timeoutMs: 100, retryMs: 500 });
    const k = key({ rpm: 100 });
    expect((await l.check([k], 0)).allowed).toBe(true);
    redis.pause();
    try {
      let start = performance.now();
      expect((await l.check([k], 0)).reason).toBe("unavailable");
      const first = performance.now() - start;
      expect(first).toBeGreaterThanOrEqual(95);
      expect(first).toBeLessThan(1000); // bounded, however long the server stays hung
      start = performance.now();
      const pending = l.check([k], 0);
      expect(pending instanceof Promise).toBe(false); // decided without asking Redis
      expect((await pending).reason).toBe("unavailable");
    } finally {
      redis.resume();
    }
  });

  test("reconnects once Redis is back, and enforces again", async () => {
    const lines: LogLine[] = [];
    const l = limiter({ failure: "open", retryMs: 100, lines });
    const k = key({ rpm: 2 });
    expect((await l.check([k], 0)).enforced).toBe(true);
    await redis.kill();
    expect((await l.check([k], 0)).enforced).toBe(false);
    await redis.restart(); // empty: the first request's charge is gone with the old server
    let d = await l.check([k], 0);
    for (let i = 0; i < 50 && !d.enforced; i++) {
      await Bun.sleep(50);
      d = await l.check([k], 0);
    }
    expect(d).toMatchObject({ allowed: true, enforced: true, remainingRequests: 1 });
    expect((await l.check([k], 0)).allowed).toBe(true);
    expect((await l.check([k], 0)).allowed).toBe(false);
    expect(lines.some((x) => x.level === "info" && x.msg.includes("reachable again"))).toBe(true);
  });

  test("a limiter started while Redis is down connects when it comes up", async () => {
    await redis.kill();
    const l = limiter({ failure: "closed", retryMs: 50 });
    const k = key({ rpm: 5 });
    expect((await l.check([k], 0)).reason).toBe("unavailable");
    await redis.restart();
    let ok = false;
    for (let i = 0; i < 50 && !ok; i++) {
      await Bun.sleep(50);
      ok = (await l.check([k], 0)).allowed;
    }
    expect(ok).toBe(true);
  });
});

describe("error replies", () => {
  test("a script error fails that request only; it does not take the limiter down", async () => {
    const lines: LogLine[] = [];
    const l = limiter({ failure: "closed", lines });
    const broken = key({ rpm: 5 });
    const fine = key({ rpm: 5 });
    await admin.send("SET", [`warden:rl:g:${broken.id}`, "not a hash"]);
    const d = await l.check([broken], 0);
    expect(d).toMatchObject({ allowed: false, reason: "unavailable" });
    expect((await l.check([fine], 0)).allowed).toBe(true);
    expect(lines.some((x) => x.level === "error" && x.msg.includes("refused a script call"))).toBe(true);
  });
});

test("startRedis names the binary it cannot find", async () => {
  await expect(startRedis({ binary: "warden-no-such-redis-server" })).rejects.toThrow("warden-no-such-redis-server is not installed");
});
