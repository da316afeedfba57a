// One table of behaviours, run against both stores: the memory store and a real redis-server.
// Both get a virtual clock (the Redis store passes it to its script instead of TIME), so retry
// times can be asserted to the millisecond. Redis-only behaviour (TIME, failures, leases) is in
// redis.test.ts.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startRedis, type RedisServer } from "../../test/setup/redis";
import { createMemoryLimiter } from "./memory";
import { createRedisLimiter } from "./redis";
import { rateLimitError, rateLimitHeaders } from "./reply";
import { subject } from "./fingerprint";
import type { Decision, Limits, RateLimiter, Subject } from "./types";

interface Harness {
  /** Sets the virtual clock (ms). */
  at(ms: number): void;
  check(subjects: Subject[], promptTokens?: number): Promise<Decision>;
  charge(subjects: Subject[], tokens: number): Promise<void>;
  release(d: Decision): void;
}

const limits = (l: Partial<Limits>): Limits => ({ rpm: null, tpm: null, maxConcurrent: null, ...l });
let ids = 0;
/** Fresh ids per case, so cases never share state in Redis. */
const key = (l: Partial<Limits>) => subject(`key:key_${(ids++).toString(36)}`, limits(l));
const tenant = (l: Partial<Limits>) => subject(`tenant:t${(ids++).toString(36)}`, limits(l));

const CASES: { name: string; run(h: Harness): Promise<void> }[] = [
  {
    name: "a burst of the whole minute's budget, then one request per emission interval",
    async run(h) {
      const k = key({ rpm: 60 });
      for (let i = 0; i < 60; i++) expect((await h.check([k])).allowed).toBe(true);
      const refused = await h.check([k]);
      expect(refused).toMatchObject({ allowed: false, reason: "requests", subject: k.id, retryAfterMs: 1000, limit: 60, used: 60, requested: 1 });
      h.at(999);
      expect((await h.check([k])).retryAfterMs).toBeCloseTo(1, 6);
      h.at(1000);
      expect((await h.check([k])).allowed).toBe(true);
      expect((await h.check([k])).retryAfterMs).toBe(1000);
      h.at(3000);
      expect((await h.check([k])).allowed).toBe(true);
      expect((await h.check([k])).allowed).toBe(true);
      expect((await h.check([k])).allowed).toBe(false);
    },
  },
  {
    name: "a limit whose interval is not a whole number of ms still allows exactly its burst",
    async run(h) {
      const k = key({ rpm: 7 });
      for (let i = 0; i < 7; i++) expect((await h.check([k])).allowed).toBe(true);
      const refused = await h.check([k]);
      expect(refused.allowed).toBe(false);
      expect(refused.retryAfterMs).toBeCloseTo(60000 / 7, 6);
    },
  },
  {
    name: "reports remaining and reset after the request's own charge",
    async run(h) {
      const k = key({ rpm: 60, tpm: 1000 });
      const d = await h.check([k], 500);
      expect(rateLimitHeaders(d)).toEqual({
        "x-ratelimit-limit-requests": "60",
        "x-ratelimit-remaining-requests": "59",
        "x-ratelimit-reset-requests": "1s",
        "x-ratelimit-limit-tokens": "1000",
        "x-ratelimit-remaining-tokens": "500",
        "x-ratelimit-reset-tokens": "30s",
      });
    },
  },
  {
    name: "prompt tokens are charged at check time and refuse with the exact wait",
    async run(h) {
      const k = key({ tpm: 1000 });
      expect((await h.check([k], 600)).allowed).toBe(true);
      const refused = await h.check([k], 600);
      expect(refused).toMatchObject({ allowed: false, reason: "tokens", used: 600, requested: 600, limit: 1000 });
      expect(refused.retryAfterMs).toBeCloseTo(12_000, 6);
      h.at(12_000);
      expect((await h.check([k], 600)).allowed).toBe(true);
    },
  },
  {
    name: "completion tokens charged afterwards put the subject into debt; its next requests wait",
    async run(h) {
      const k = key({ tpm: 1000 });
      expect((await h.check([k], 100)).allowed).toBe(true);
      await h.charge([k], 1900);
      const refused = await h.check([k], 0);
      expect(refused).toMatchObject({ allowed: false, reason: "tokens", used: 2000 });
      expect(refused.retryAfterMs).toBeCloseTo(60_000, 6);
      expect(rateLimitHeaders(refused)["x-ratelimit-remaining-tokens"]).toBe("0");
      expect(rateLimitHeaders(refused)["x-ratelimit-reset-tokens"]).toBe("2m0s");
      h.at(60_000);
      const d = await h.check([k], 0);
      expect(d.allowed).toBe(true);
      expect(d.remainingTokens).toBe(0);
      h.at(60_060);
      expect((await h.check([k], 1)).allowed).toBe(true);
      expect((await h.check([k], 1)).allowed).toBe(false);
    },
  },
  {
    name: "a prompt larger than the tpm limit can never pass, and charges nothing",
    async run(h) {
      const k = key({ rpm: 10, tpm: 1000 });
      const refused = await h.check([k], 1001);
      expect(refused).toMatchObject({ allowed: false, reason: "tokens", retryAfterMs: -1, limit: 1000, requested: 1001 });
      const e = rateLimitError(refused);
      expect(e.code).toBe("request_exceeds_limit");
      expect(e.headers?.["retry-after"]).toBeUndefined();
      const d = await h.check([k], 1000);
      expect(d.allowed).toBe(true);
      expect(d.remainingRequests).toBe(9);
    },
  },
  {
    name: "a limit of 0 blocks every request",
    async run(h) {
      const k = key({ rpm: 0 });
      const refused = await h.check([k]);
      expect(refused).toMatchObject({ allowed: false, reason: "requests", retryAfterMs: -1 });
      expect(rateLimitError(refused).message).toContain("limit is 0");
    },
  },
  {
    name: "concurrency: slots are taken at check and freed by release",
    async run(h) {
      const k = key({ maxConcurrent: 2 });
      const a = await h.check([k]);
      const b = await h.check([k]);
      expect(a.allowed && b.allowed).toBe(true);
      const refused = await h.check([k]);
      expect(refused).toMatchObject({ allowed: false, reason: "concurrency", limit: 2, used: 2 });
      expect(rateLimitError(refused).code).toBe("concurrency_limit_exceeded");
      h.release(a);
      const c = await h.check([k]);
      expect(c.allowed).toBe(true);
      expect((await h.check([k])).allowed).toBe(false);
    },
  },
  {
    name: "release is idempotent: a second release does not free another request's slot",
    async run(h) {
      const k = key({ maxConcurrent: 2 });
      const a = await h.check([k]);
      await h.check([k]); // b keeps its slot throughout
      h.release(a);
      h.release(a);
      expect((await h.check([k])).allowed).toBe(true);
      expect((await h.check([k])).allowed).toBe(false);
    },
  },
  {
    name: "releasing a refused decision frees nothing",
    async run(h) {
      const k = key({ maxConcurrent: 1 });
      expect((await h.check([k])).allowed).toBe(true);
      const refused = await h.check([k]);
      h.release(refused);
      expect((await h.check([k])).allowed).toBe(false);
    },
  },
  {
    name: "key and tenant are one check: when the tenant refuses, the key is not charged",
    async run(h) {
      const k = key({ rpm: 10, tpm: 10_000 });
      const t = tenant({ rpm: 2, tpm: 10_000 });
      expect((await h.check([k, t], 100)).allowed).toBe(true);
      expect((await h.check([k, t], 100)).allowed).toBe(true);
      const refused = await h.check([k, t], 100);
      expect(refused).toMatchObject({ allowed: false, reason: "requests", subject: t.id });
      const alone = await h.check([k], 100);
      expect(alone.remainingRequests).toBe(7);
      expect(alone.remainingTokens).toBe(10_000 - 300);
    },
  },
  {
    name: "when the key refuses, the tenant is not charged either (tokens and slots)",
    async run(h) {
      const k = key({ tpm: 100, maxConcurrent: 5 });
      const t = tenant({ tpm: 10_000, maxConcurrent: 1 });
      expect((await h.check([k, t], 200)).allowed).toBe(false);
      const d = await h.check([t], 10_000);
      expect(d.allowed).toBe(true);
      expect(d.remainingTokens).toBe(0);
    },
  },
  {
    name: "a full tenant concurrency limit takes no slot from the key",
    async run(h) {
      const k = key({ maxConcurrent: 1 });
      const t = tenant({ maxConcurrent: 1 });
      const other = key({ maxConcurrent: 5 });
      const held = await h.check([other, t]);
      expect(held.allowed).toBe(true);
      expect((await h.check([k, t])).subject).toBe(t.id);
      expect((await h.check([k])).allowed).toBe(true);
    },
  },
  {
    name: "headers report the most constraining subject of each kind",
    async run(h) {
      const k = key({ rpm: 100, tpm: 1000 });
      const t = tenant({ rpm: 10, tpm: 100_000 });
      const d = await h.check([k, t], 10);
      expect(d).toMatchObject({ limitRequests: 10, remainingRequests: 9, limitTokens: 1000, remainingTokens: 990 });
    },
  },
  {
    name: "when several limits refuse, the wait is the longest of them",
    async run(h) {
      const k = key({ rpm: 1, tpm: 1000 });
      expect((await h.check([k], 1000)).allowed).toBe(true);
      const refused = await h.check([k], 10);
      expect(refused.allowed).toBe(false);
      expect(refused.retryAfterMs).toBeCloseTo(60_000, 6);
      h.at(600);
      expect((await h.check([k], 10)).retryAfterMs).toBeCloseTo(59_400, 6);
    },
  },
  {
    name: "subjects without limits, and an empty list, pass without headers",
    async run(h) {
      const free = key({});
      for (const d of [await h.check([]), await h.check([free]), await h.check([free, tenant({})], 1e9)]) {
        expect(d.allowed).toBe(true);
        expect(rateLimitHeaders(d)).toEqual({});
        h.release(d);
      }
    },
  },
  {
    name: "different subjects have separate budgets",
    async run(h) {
      const a = key({ rpm: 1 });
      const b = key({ rpm: 1 });
      expect((await h.check([a])).allowed).toBe(true);
      expect((await h.check([b])).allowed).toBe(true);
      expect((await h.check([a])).allowed).toBe(false);
    },
  },
  {
    name: "charging a subject without a tpm limit changes nothing",
    async run(h) {
      const k = key({ rpm: 1 });
      await h.charge([k], 1_000_000);
      expect((await h.check([k], 1_000_000)).allowed).toBe(true);
    },
  },
];

interface Store {
  name: string;
  make(clock: () => number): RateLimiter;
}

let redis: RedisServer;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis?.stop();
});

const STORES: Store[] = [
  { name: "memory store", make: (clock) => createMemoryLimiter({ now: clock }) },
  { name: "redis store", make: (clock) => createRedisLimiter({ url: redis.url, failure: "closed", now: clock, timeoutMs: 2000 }) },
];

for (const store of STORES) {
  describe(store.name, () => {
    for (const c of CASES) {
      test(c.name, async () => {
        let now = 0;
        const limiter = store.make(() => now);
        try {
          await c.run({
            at: (ms) => void (now = ms),
            check: async (subjects, tokens = 0) => limiter.check(subjects, tokens),
            charge: async (subjects, tokens) => limiter.charge(subjects, tokens),
            release: (d) => limiter.release(d),
          });
        } finally {
          limiter.close();
        }
      });
    }
  });
}
