import { describe, expect, test } from "bun:test";
import { available, failed, finished, newHealth, retryAfterMs, started, succeeded } from "./health";

const breaker = { cooldownFailures: 3, cooldownMs: 30_000 };

describe("the circuit breaker", () => {
  test("three failures in a row cool a deployment down; then one trial request decides", () => {
    const h = newHealth();
    expect(failed(h, 0, breaker, undefined)).toBe(false);
    expect(failed(h, 0, breaker, undefined)).toBe(false);
    expect(available(h, 1, breaker)).toBe(true);
    expect(failed(h, 1000, breaker, undefined)).toBe(true);
    expect(available(h, 30_999, breaker)).toBe(false);
    // Half-open: one trial at a time.
    expect(available(h, 31_000, breaker)).toBe(true);
    started(h, breaker);
    expect(available(h, 31_001, breaker)).toBe(false);
    // The trial fails: another full cooldown.
    expect(failed(h, 31_050, breaker, undefined)).toBe(true);
    finished(h);
    expect(available(h, 61_049, breaker)).toBe(false);
    started(h, breaker);
    expect(succeeded(h, 12, breaker)).toBe(true); // a trial that ends a cooldown says so
    finished(h);
    expect(h).toMatchObject({ failures: 0, trial: false, coolUntil: 0, inflight: 0 });
    expect(available(h, 61_100, breaker)).toBe(true);
  });

  test("a success in between resets the count", () => {
    const h = newHealth();
    failed(h, 0, breaker, undefined);
    failed(h, 0, breaker, undefined);
    expect(succeeded(h, 5, breaker)).toBe(false);
    expect(failed(h, 0, breaker, undefined)).toBe(false);
  });

  test("requests in flight when it went down fail later: no second cooldown, and the first one's end stands", () => {
    const h = newHealth();
    for (let i = 0; i < 3; i++) failed(h, 1000, breaker, undefined);
    expect(h.coolUntil).toBe(31_000);
    for (let t = 1001; t < 1030; t++) expect(failed(h, t, breaker, undefined)).toBe(false);
    expect(h.coolUntil).toBe(31_000);
  });

  test("Retry-After keeps it out for as long as the upstream asked, even below the failure count", () => {
    const h = newHealth();
    expect(failed(h, 100, breaker, 2000)).toBe(true);
    expect(available(h, 2099, breaker)).toBe(false);
    expect(available(h, 2100, breaker)).toBe(true);
  });
});

test("EWMA of time to first byte: the first sample, then a fifth of each new one", () => {
  const h = newHealth();
  expect(Number.isNaN(h.ewmaMs)).toBe(true);
  succeeded(h, 100, breaker);
  expect(h.ewmaMs).toBe(100);
  succeeded(h, 200, breaker);
  expect(h.ewmaMs).toBe(120);
});

test("Retry-After: seconds or an HTTP date", () => {
  expect(retryAfterMs("2")).toBe(2000);
  expect(retryAfterMs(" 0 ")).toBe(0);
  expect(retryAfterMs(new Date(10_000).toUTCString(), 7_000)).toBe(3000);
  expect(retryAfterMs("soon")).toBeUndefined();
  expect(retryAfterMs(null)).toBeUndefined();
});
