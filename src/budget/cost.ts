/**
 * Cost arithmetic in integer micro-dollars (µUSD). Spend, budgets and reservations are all
 * integers, so sums are exact and never drift; only display divides by a million.
 *
 * A price is µUSD per million tokens, i.e. pico-dollars per token. A request's exact cost in
 * pico-dollars (prompt × prompt price + completion × completion price) is rounded UP to whole
 * micro-dollars once per request: Warden never charges less than the price list says, and at
 * most 1 µUSD more per request.
 */
import type { Price } from "./prices";

export const MICROS_PER_USD = 1_000_000;
/**
 * Token counts are clamped to this: far beyond any context window, and small enough that every
 * product below stays an exact integer (< 2^53) at any price parsePrices accepts.
 */
export const MAX_TOKENS = 1_000_000_000;

const clamp = (tokens: number) => (tokens > 0 ? (tokens < MAX_TOKENS ? Math.floor(tokens) : MAX_TOKENS) : 0);

/**
 * The cost of a request in µUSD, rounded up. Each price is split into whole µUSD per token and
 * the remainder in pUSD, so no product exceeds 2^53 (price < $10^6/M, tokens ≤ 10^9).
 *
 * @example
 * const mini = { prompt: 150_000, completion: 600_000 }; // $0.15 / $0.60 per million
 * costMicros(mini, 1000, 500); // 150 + 300 = 450 µUSD
 * costMicros(mini, 1, 0);      // 0.15 µUSD, rounded up to 1
 */
export function costMicros(price: Price, promptTokens: number, completionTokens: number): number {
  const p = clamp(promptTokens);
  const c = clamp(completionTokens);
  const pWhole = Math.floor(price.prompt / MICROS_PER_USD);
  const cWhole = Math.floor(price.completion / MICROS_PER_USD);
  const fraction = p * (price.prompt - pWhole * MICROS_PER_USD) + c * (price.completion - cWhole * MICROS_PER_USD); // pUSD
  const carried = Math.floor(fraction / MICROS_PER_USD);
  return p * pWhole + c * cWhole + carried + (fraction - carried * MICROS_PER_USD > 0 ? 1 : 0);
}

/**
 * A budget in dollars (as stored, a REAL) → µUSD, rounded to the nearest micro-dollar; null
 * stays null (no cap).
 *
 * @example
 * usdToMicros(0.01); // 10000
 */
export function usdToMicros(usd: number | null): number | null {
  return usd === null ? null : Math.round(usd * MICROS_PER_USD);
}

/** µUSD → dollars, for views: 1234 → 0.001234. */
export function microsToUsd(micros: number): number {
  return micros / MICROS_PER_USD;
}

/**
 * µUSD as a dollar amount for messages: at least two decimals, up to six, no trailing zeros.
 *
 * @example
 * formatUsd(10_000);    // "$0.01"
 * formatUsd(1_234_567); // "$1.234567"
 */
export function formatUsd(micros: number): string {
  const sign = micros < 0 ? "-" : "";
  const abs = Math.abs(micros);
  const whole = Math.floor(abs / MICROS_PER_USD);
  const fraction = String(abs - whole * MICROS_PER_USD).padStart(6, "0").replace(/0{1,4}$/, "");
  return `${sign}$${whole}.${fraction.padEnd(2, "0")}`;
}

/** The request fields that bound a reply's length (validated by the WAF's schema before this). */
interface Bounds {
  max_completion_tokens?: unknown;
  max_tokens?: unknown;
  n?: unknown;
  best_of?: unknown;
}

const positive = (v: unknown): v is number => typeof v === "number" && v > 0;

/**
 * The most completion tokens a request can be billed for: its own cap (`max_completion_tokens`,
 * else `max_tokens`), else `fallback`, times the number of choices generated (`n`, or
 * `best_of` for legacy completions, which bills every candidate). Embeddings bill none.
 *
 * @example
 * completionCap("chat/completions", { max_tokens: 100, n: 2 }, 4096); // 200
 * completionCap("chat/completions", {}, 4096);                        // 4096
 */
export function completionCap(endpoint: string, body: Bounds, fallback: number): number {
  if (endpoint === "embeddings") return 0;
  const cap = positive(body.max_completion_tokens) ? body.max_completion_tokens : positive(body.max_tokens) ? body.max_tokens : fallback;
  const n = Math.max(positive(body.n) ? body.n : 1, positive(body.best_of) ? body.best_of : 1);
  return clamp(cap * n);
}
