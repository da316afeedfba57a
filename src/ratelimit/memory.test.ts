// Memory-store specifics; the behaviour both stores share is in behaviour.test.ts.
import { expect, test } from "bun:test";
import { UNLIMITED } from "./gcra";
import { createMemoryLimiter } from "./memory";
import { subject } from "./fingerprint";

const rpm = (n: number) => ({ rpm: n, tpm: null, maxConcurrent: null });

test("answers synchronously: no Promise on the hot path", () => {
  const limiter = createMemoryLimiter();
  const d = limiter.check([subject("key:a", rpm(10))], 5);
  expect(d instanceof Promise).toBe(false);
  expect(d.allowed).toBe(true);
});

test("nothing to limit returns the shared decision without touching the table", () => {
  const limiter = createMemoryLimiter();
  expect(limiter.check([], 100)).toBe(UNLIMITED);
  expect(limiter.check([{ id: "key:free", limits: { rpm: null, tpm: null, maxConcurrent: null } }], 100)).toBe(UNLIMITED);
  expect(limiter.stats().subjects).toBe(0);
  limiter.release(UNLIMITED); // frozen: must not throw
});

test("plain { id, limits } objects work, and get their fingerprint cached on first use", () => {
  const limiter = createMemoryLimiter();
  const plain: { id: string; limits: ReturnType<typeof rpm>; fpHi?: number } = { id: "key:plain", limits: rpm(1) };
  expect(limiter.check([plain], 0).allowed).toBe(true);
  expect(plain.fpHi).toBeNumber();
  expect(limiter.check([{ id: "key:plain", limits: rpm(1) }], 0).allowed).toBe(false); // same id, same budget
  const frozen = Object.freeze({ id: "key:frozen", limits: rpm(1) });
  expect(limiter.check([frozen], 0).allowed).toBe(true);
  expect(limiter.check([frozen], 0).allowed).toBe(false);
});

test("idle subjects are forgotten when the table needs room; busy ones are kept", () => {
  let now = 0;
  const limiter = createMemoryLimiter({ initialCapacity: 1024, now: () => now });
  const busy = subject("key:busy", { rpm: 1, tpm: null, maxConcurrent: 1 });
  const held = limiter.check([busy], 0);
  for (let i = 0; i < 700; i++) limiter.check([subject(`key:${i}`, rpm(60))], 0);
  now = 120_000; // every TAT is in the past; busy still holds a slot
  for (let i = 700; i < 1400; i++) limiter.check([subject(`key:${i}`, rpm(60))], 0);
  const { subjects, capacity, bytes } = limiter.stats();
  expect(capacity).toBe(1024); // no growth: the idle 700 made room
  expect(subjects).toBeLessThan(720);
  expect(bytes / subjects).toBeLessThanOrEqual(64);
  expect(limiter.check([busy], 0).reason).toBe("concurrency");
  limiter.release(held);
  expect(limiter.check([busy], 0).allowed).toBe(true);
});

test("more than 30 subjects in one check is a programming error", () => {
  const limiter = createMemoryLimiter();
  const many = Array.from({ length: 31 }, (_, i) => subject(`key:${i}`, rpm(1)));
  expect(() => limiter.check(many, 0)).toThrow(RangeError);
});
