import { describe, expect, test } from "bun:test";
import { blankDecision } from "./gcra";
import { formatDuration, rateLimitError, rateLimitHeaders, retryAfterSeconds } from "./reply";
import type { Decision } from "./types";

function decision(fields: Partial<Decision>): Decision {
  return { ...blankDecision(false, true), ...fields };
}

describe("durations in OpenAI's format", () => {
  test.each([
    [0, "0s"],
    [0.2, "1ms"],
    [20, "20ms"],
    [644, "644ms"],
    [999.5, "1s"],
    [1000, "1s"],
    [1500, "1.5s"],
    [9816, "9.816s"],
    [9816.2, "9.817s"],
    [60_000, "1m0s"],
    [360_000, "6m0s"],
    [60_500, "1m0.5s"],
    [3_723_000, "1h2m3s"],
  ])("%p ms → %p", (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });

  test("Retry-After is whole seconds, rounded up, at least 1", () => {
    expect(retryAfterSeconds(1)).toBe(1);
    expect(retryAfterSeconds(1000)).toBe(1);
    expect(retryAfterSeconds(1001)).toBe(2);
    expect(retryAfterSeconds(59_400)).toBe(60);
  });
});

describe("headers", () => {
  test("only the kinds some subject limits", () => {
    const d = decision({ allowed: true, limitRequests: 60, remainingRequests: 59, resetRequestsMs: 1000 });
    expect(rateLimitHeaders(d)).toEqual({
      "x-ratelimit-limit-requests": "60",
      "x-ratelimit-remaining-requests": "59",
      "x-ratelimit-reset-requests": "1s",
    });
  });

  test("none for an unenforced decision (nothing was counted)", () => {
    expect(rateLimitHeaders({ ...decision({ limitRequests: 60, remainingRequests: 59 }), enforced: false })).toEqual({});
  });
});

describe("errors", () => {
  const tokens = decision({
    reason: "tokens",
    subject: "key:key_ab12",
    retryAfterMs: 6596,
    limit: 30000,
    used: 22343,
    requested: 10955,
    limitTokens: 30000,
    remainingTokens: 0,
    resetTokensMs: 44686,
  });

  test("rpm/tpm refusal: 429 rate_limit_exceeded, OpenAI's message, Retry-After and x-ratelimit-*", () => {
    const e = rateLimitError(tokens);
    expect(e.status).toBe(429);
    expect(e.type).toBe("tokens");
    expect(e.code).toBe("rate_limit_exceeded");
    expect(e.message).toBe("Rate limit reached for key key_ab12 on tokens per min (TPM): Limit 30000, Used 22343, Requested 10955. Please try again in 6.596s.");
    expect(e.headers).toEqual({
      "retry-after": "7",
      "x-ratelimit-limit-tokens": "30000",
      "x-ratelimit-remaining-tokens": "0",
      "x-ratelimit-reset-tokens": "44.686s",
    });
    const body = JSON.parse(new TextDecoder().decode(e.body()));
    expect(body).toEqual({ error: { message: e.message, type: "tokens", param: null, code: "rate_limit_exceeded" } });
  });

  test("a request that can never pass says so, without Retry-After", () => {
    const e = rateLimitError({ ...tokens, retryAfterMs: -1, used: 0, requested: 30601 });
    expect(e.status).toBe(429);
    expect(e.code).toBe("request_exceeds_limit");
    expect(e.message).toStartWith("Request too large for key key_ab12 on tokens per min (TPM): Limit 30000, Requested 30601.");
    expect(e.headers?.["retry-after"]).toBeUndefined();
  });

  test("concurrency refusal has its own code", () => {
    const e = rateLimitError(decision({ reason: "concurrency", subject: "tenant:acme", retryAfterMs: 1000, limit: 4, used: 4 }));
    expect(e.status).toBe(429);
    expect(e.code).toBe("concurrency_limit_exceeded");
    expect(e.message).toContain("tenant acme");
    expect(e.headers?.["retry-after"]).toBe("1");
  });

  test("store unavailable (fail-closed): 503 rate_limiter_unavailable", () => {
    const e = rateLimitError(decision({ reason: "unavailable", retryAfterMs: 1000 }));
    expect(e.status).toBe(503);
    expect(e.code).toBe("rate_limiter_unavailable");
    expect(e.headers).toEqual({ "retry-after": "1" });
  });
});
