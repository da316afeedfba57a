import { describe, expect, test } from "bun:test";
import { advance, CONCURRENCY_RETRY_MS, evaluate, remaining, used } from "./gcra";
import type { Limits, Subject } from "./types";

const s = (id: string, l: Partial<Limits>): Subject => ({ id, limits: { rpm: null, tpm: null, maxConcurrent: null, ...l } });

describe("GCRA arithmetic", () => {
  test("the TAT moves from now when idle, from itself when owed", () => {
    expect(advance(0, 5000, 1, 60)).toBe(6000);
    expect(advance(9000, 5000, 1, 60)).toBe(10_000);
    expect(advance(0, 0, 500, 1000)).toBe(30_000);
  });

  test("remaining and used mirror each other, and used shows debt", () => {
    expect(remaining(6000, 5000, 60)).toBe(59);
    expect(used(6000, 5000, 60)).toBe(1);
    expect(remaining(65_000, 5000, 60)).toBe(0);
    expect(used(65_000, 5000, 60)).toBe(60);
    expect(remaining(125_000, 5000, 60)).toBe(0);
    expect(used(125_000, 5000, 60)).toBe(120);
    expect(remaining(0, 5000, 60)).toBe(60);
  });
});

describe("which refusal is reported", () => {
  const state = (...xs: number[]) => new Float64Array(xs);
  const next = new Float64Array(8);

  test("one that can never pass outranks a wait", () => {
    const d = evaluate([s("key:a", { rpm: 1, tpm: 10 })], 11, 0, state(60_000, 0, 0), next);
    expect(d).toMatchObject({ allowed: false, reason: "tokens", retryAfterMs: -1 });
  });

  test("a rate limit outranks concurrency, and the wait covers both", () => {
    const d = evaluate([s("key:a", { maxConcurrent: 1 }), s("tenant:b", { rpm: 60 })], 0, 0, state(0, 0, 1, 59_500, 0, 0), next); // rate wait 500 ms, concurrency hint 1 s
    expect(d).toMatchObject({ allowed: false, reason: "requests", subject: "tenant:b" });
    expect(d.retryAfterMs).toBe(CONCURRENCY_RETRY_MS);
  });

  test("an allowed decision marks the slots to take, a refused one none", () => {
    const subjects = [s("key:a", { maxConcurrent: 2 }), s("tenant:b", { rpm: 60 }), s("tenant:c", { maxConcurrent: 5 })];
    expect(evaluate(subjects, 0, 0, state(1, 0, 1, 0, 0, 0, 0, 0, 4), next).held).toBe(0b101);
    expect(evaluate(subjects, 0, 0, state(0, 0, 2, 0, 0, 0, 0, 0, 0), next).held).toBe(0);
  });
});
