/** Integer cost arithmetic: exact sums, rounding up once per request, no overflow at the bounds. */
import { describe, expect, test } from "bun:test";
import { completionCap, costMicros, formatUsd, MAX_TOKENS, usdToMicros } from "./cost";
import { MAX_PRICE_USD } from "./prices";

const mini = { prompt: 150_000, completion: 600_000 }; // $0.15 / $0.60 per million tokens

describe("costMicros", () => {
  test("whole micro-dollars when the price divides evenly", () => {
    expect(costMicros(mini, 1000, 500)).toBe(150 + 300);
    expect(costMicros({ prompt: 2_500_000, completion: 10_000_000 }, 1_000_000, 1_000_000)).toBe(12_500_000); // $12.50
  });

  test("the exact pico-dollar sum is rounded up once per request, never per token", () => {
    expect(costMicros(mini, 1, 0)).toBe(1); // 0.15 µUSD → 1
    expect(costMicros(mini, 3, 1)).toBe(2); // 0.45 + 0.60 = 1.05 → 2
    expect(costMicros(mini, 6, 0)).toBe(1); // 0.90 → 1, not 6 × 1
    expect(costMicros(mini, 20, 0)).toBe(3); // 3.00 exactly: not rounded up further
    expect(costMicros({ prompt: 1, completion: 1 }, 999_999, 0)).toBe(1); // 0.999999 → 1
    expect(costMicros({ prompt: 1, completion: 1 }, 1_000_000, 0)).toBe(1);
    expect(costMicros({ prompt: 1, completion: 1 }, 1_000_001, 0)).toBe(2);
  });

  test("free models and no tokens cost nothing; bad counts count as none", () => {
    expect(costMicros({ prompt: 0, completion: 0 }, 1e6, 1e6)).toBe(0);
    expect(costMicros(mini, 0, 0)).toBe(0);
    expect(costMicros(mini, -5, Number.NaN)).toBe(0);
  });

  test("matches a BigInt reference on random inputs, and stays exact at the largest price and token count", () => {
    const reference = (pp: number, cp: number, p: number, c: number) => {
      const pico = BigInt(p) * BigInt(pp) + BigInt(c) * BigInt(cp);
      return Number((pico + 999_999n) / 1_000_000n);
    };
    let seed = 42;
    const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * n;
    for (let i = 0; i < 10_000; i++) {
      const price = { prompt: Math.floor(rand(MAX_PRICE_USD * 1e6)), completion: Math.floor(rand(MAX_PRICE_USD * 1e6)) };
      const p = Math.floor(rand(i % 2 ? MAX_TOKENS : 10_000));
      const c = Math.floor(rand(i % 3 ? MAX_TOKENS : 10_000));
      expect(costMicros(price, p, c)).toBe(reference(price.prompt, price.completion, p, c));
    }
    const top = MAX_PRICE_USD * 1e6 + 999_999;
    const worst = costMicros({ prompt: top, completion: top }, MAX_TOKENS, MAX_TOKENS);
    expect(worst).toBe(reference(top, top, MAX_TOKENS, MAX_TOKENS));
    expect(Number.isSafeInteger(worst)).toBe(true);
    // Counts beyond the bound are clamped, not overflowed.
    expect(costMicros(mini, 1e15, 0)).toBe(costMicros(mini, MAX_TOKENS, 0));
  });

  test("sums of per-request costs are exact integers (no float drift)", () => {
    let total = 0;
    for (let i = 0; i < 100_000; i++) total += costMicros(mini, 1000, 1000);
    expect(total).toBe(100_000 * 750);
  });
});

describe("completionCap", () => {
  test("max_completion_tokens, else max_tokens, else the default; times n or best_of", () => {
    expect(completionCap("chat/completions", { max_completion_tokens: 50, max_tokens: 100 }, 4096)).toBe(50);
    expect(completionCap("chat/completions", { max_tokens: 100 }, 4096)).toBe(100);
    expect(completionCap("chat/completions", {}, 4096)).toBe(4096);
    expect(completionCap("chat/completions", { max_tokens: null }, 4096)).toBe(4096);
    expect(completionCap("chat/completions", { max_tokens: 100, n: 3 }, 4096)).toBe(300);
    expect(completionCap("completions", { max_tokens: 10, n: 2, best_of: 5 }, 4096)).toBe(50);
    expect(completionCap("embeddings", { max_tokens: 10 }, 4096)).toBe(0);
    expect(completionCap("chat/completions", { max_tokens: 1e12, n: 128 }, 4096)).toBe(MAX_TOKENS);
  });
});

describe("dollars", () => {
  test("budgets in dollars to micro-dollars, and back for messages", () => {
    expect(usdToMicros(0.01)).toBe(10_000);
    expect(usdToMicros(12.345678)).toBe(12_345_678);
    expect(usdToMicros(0.1 + 0.2)).toBe(300_000);
    expect(usdToMicros(null)).toBeNull();
    expect(formatUsd(10_000)).toBe("$0.01");
    expect(formatUsd(1_234_567)).toBe("$1.234567");
    expect(formatUsd(1_500_000)).toBe("$1.50");
    expect(formatUsd(100)).toBe("$0.0001");
    expect(formatUsd(0)).toBe("$0.00");
  });
});
