/** WARDEN_PRICES: the format, exact decimal parsing, and errors that name the variable. */
import { describe, expect, test } from "bun:test";
import { ConfigError, loadConfig } from "../config";
import { NO_PRICES, parsePrices, priceOf } from "./prices";

describe("parsePrices", () => {
  test("USD per million tokens become integer micro-dollars per million, exactly", () => {
    const t = parsePrices("gpt-4o-mini=0.15/0.60, gpt-4o=2.50/10 ,text-embedding-3-small=0.02/0,o1-pro=150/600,tiny=0.000001/999999.999999");
    expect(t.models.get("gpt-4o-mini")).toEqual({ prompt: 150_000, completion: 600_000 });
    expect(t.models.get("gpt-4o")).toEqual({ prompt: 2_500_000, completion: 10_000_000 });
    expect(t.models.get("text-embedding-3-small")).toEqual({ prompt: 20_000, completion: 0 });
    expect(t.models.get("o1-pro")).toEqual({ prompt: 150_000_000, completion: 600_000_000 });
    // 0.1 + 0.2 style float error cannot happen: the digits are read as strings.
    expect(t.models.get("tiny")).toEqual({ prompt: 1, completion: 999_999_999_999 });
    expect(t.fallback).toBeNull();
  });

  test("model names may hold slashes, colons and dots; `*` prices every model not listed", () => {
    const t = parsePrices("meta-llama/Llama-3.1-8B-Instruct=0.1/0.2,qwen2.5:7b=0/0,*=1/4");
    expect(priceOf(t, "meta-llama/Llama-3.1-8B-Instruct")).toEqual({ prompt: 100_000, completion: 200_000 });
    expect(priceOf(t, "qwen2.5:7b")).toEqual({ prompt: 0, completion: 0 });
    expect(priceOf(t, "anything-else")).toEqual({ prompt: 1_000_000, completion: 4_000_000 });
    expect(priceOf(parsePrices("gpt-4o=2.5/10"), "gpt-4o-mini")).toBeNull();
  });

  test("empty means no prices", () => {
    expect(parsePrices("")).toBe(NO_PRICES);
    expect(parsePrices("  ")).toBe(NO_PRICES);
  });

  test.each([
    ["gpt-4o-mini", /expected MODEL=PROMPT\/COMPLETION/],
    ["gpt-4o-mini=0.15", /expected MODEL=PROMPT\/COMPLETION/],
    ["gpt-4o-mini=0.15/0.6/1", /expected MODEL=PROMPT\/COMPLETION/],
    ["=0.15/0.60", /expected MODEL=PROMPT\/COMPLETION/],
    ["gpt-4o-mini=0,15/0.60", /expected MODEL=PROMPT\/COMPLETION/], // the comma splits the entry
    ["gpt-4o-mini=$0.15/0.60", /prompt price "\$0.15"/],
    ["gpt-4o-mini=0.15/-1", /completion price "-1"/],
    ["gpt-4o-mini=0.1234567/1", /at most 6 decimal places/],
    ["gpt-4o-mini=1e3/1", /prompt price "1e3"/],
    ["gpt-4o-mini=1000000/1", /from 0 to 999999/],
    ["gpt 4o=1/1", /without spaces/],
    ["a=1/1,a=2/2", /model a is priced twice/],
    ["*=1/1,*=0/0", /model \* is priced twice/],
    ["a=1/1,", /expected MODEL=PROMPT\/COMPLETION/],
  ])("%p is refused", (text, message) => {
    expect(() => parsePrices(text)).toThrow(message);
  });
});

describe("configuration", () => {
  test("WARDEN_PRICES, WARDEN_BUDGET_DEFAULT_MAX_TOKENS and WARDEN_SPEND_FLUSH_MS, with defaults", () => {
    const c = loadConfig({ WARDEN_PRICES: "gpt-4o-mini=0.15/0.60", WARDEN_BUDGET_DEFAULT_MAX_TOKENS: "1024", WARDEN_SPEND_FLUSH_MS: "250" });
    expect(priceOf(c.prices, "gpt-4o-mini")).toEqual({ prompt: 150_000, completion: 600_000 });
    expect(c.budgetDefaultMaxTokens).toBe(1024);
    expect(c.spendFlushMs).toBe(250);
    const d = loadConfig({});
    expect(d.prices).toBe(NO_PRICES);
    expect(d.budgetDefaultMaxTokens).toBe(4096);
    expect(d.spendFlushMs).toBe(1000);
  });

  test.each([
    ["WARDEN_PRICES", "gpt-4o-mini=cheap/0"],
    ["WARDEN_BUDGET_DEFAULT_MAX_TOKENS", "0"],
    ["WARDEN_SPEND_FLUSH_MS", "5"],
  ])("a bad %s is a ConfigError naming it", (variable, value) => {
    let error: unknown;
    try {
      loadConfig({ [variable]: value });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).variable).toBe(variable);
    expect((error as Error).message).toStartWith(`${variable}: `);
  });
});
