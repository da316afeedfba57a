/**
 * Model prices from WARDEN_PRICES: US dollars per million tokens, prompt and completion.
 *
 *   WARDEN_PRICES=gpt-4o-mini=0.15/0.60,gpt-4o=2.50/10,text-embedding-3-small=0.02/0,*=1/4
 *
 * Entries are `MODEL=PROMPT/COMPLETION`, separated by commas. MODEL is the name clients send as
 * `model` (it may contain `/`, `:` and `.`; it is split from the prices at the last `=`), or `*`
 * for every model not listed. Prices are decimals with at most 6 places, parsed as strings into
 * integer micro-dollars per million tokens, so no binary fraction ever enters the arithmetic.
 *
 * A model without a price (and no `*`) is refused for keys that have a budget, or whose tenant
 * has one: a budget Warden cannot enforce must not look enforced. For other keys it is served
 * and costs nothing. `*=0/0` makes every unlisted model free on purpose.
 */

/** One model's price, in micro-dollars (µUSD) per million tokens; integers. */
export interface Price {
  prompt: number;
  completion: number;
}

/** Model → price, and the `*` entry for everything else (null without one). */
export interface PriceTable {
  models: ReadonlyMap<string, Price>;
  fallback: Price | null;
}

export const NO_PRICES: PriceTable = Object.freeze({ models: new Map<string, Price>(), fallback: null });

/** Far above any real model's price; keeps every product in cost.ts an exact integer. */
export const MAX_PRICE_USD = 999_999;
const DECIMAL = /^(\d{1,6})(?:\.(\d{1,6}))?$/;
const MODEL = /^[^\s=,]{1,256}$/;

/** "0.15" → 150000 (µUSD per million tokens), exactly; undefined if it is not such a decimal. */
function micros(text: string): number | undefined {
  const m = DECIMAL.exec(text);
  if (m === null) return undefined;
  return Number(m[1]) * 1_000_000 + Number((m[2] ?? "").padEnd(6, "0"));
}

/**
 * Parses WARDEN_PRICES. Throws an Error whose message says which entry is wrong and why
 * (config wraps it in a ConfigError naming the variable).
 *
 * @example
 * const t = parsePrices("gpt-4o-mini=0.15/0.60,*=0/0");
 * t.models.get("gpt-4o-mini"); // { prompt: 150000, completion: 600000 }
 * t.fallback;                  // { prompt: 0, completion: 0 }
 */
export function parsePrices(text: string): PriceTable {
  const models = new Map<string, Price>();
  let fallback: Price | null = null;
  const entries = text.split(",").map((e) => e.trim());
  if (entries.length === 1 && entries[0] === "") return NO_PRICES;
  for (const entry of entries) {
    const eq = entry.lastIndexOf("=");
    const model = entry.slice(0, eq).trim();
    const [prompt, completion, extra] = entry.slice(eq + 1).split("/").map((p) => p.trim());
    if (eq <= 0 || completion === undefined || extra !== undefined) {
      throw new Error(`entry ${JSON.stringify(entry)}: expected MODEL=PROMPT/COMPLETION in US dollars per million tokens, e.g. gpt-4o-mini=0.15/0.60`);
    }
    if (!MODEL.test(model)) throw new Error(`entry ${JSON.stringify(entry)}: the model name must be 1-256 characters without spaces, '=' or ','`);
    const price = { prompt: micros(prompt), completion: micros(completion) };
    for (const [side, value, raw] of [["prompt", price.prompt, prompt], ["completion", price.completion, completion]] as const) {
      if (value === undefined) {
        throw new Error(`entry ${JSON.stringify(entry)}: the ${side} price ${JSON.stringify(raw)} must be a number of US dollars per million tokens from 0 to ${MAX_PRICE_USD} with at most 6 decimal places`);
      }
    }
    if (models.has(model) || (model === "*" && fallback !== null)) throw new Error(`model ${model} is priced twice`);
    const frozen = Object.freeze(price as Price);
    if (model === "*") fallback = frozen;
    else models.set(model, frozen);
  }
  return Object.freeze({ models, fallback });
}

/**
 * The price of `model`: its own entry, else `*`, else null (unpriced).
 *
 * @example
 * priceOf(parsePrices("gpt-4o=2.5/10"), "gpt-4o-mini"); // null
 */
export function priceOf(table: PriceTable, model: string): Price | null {
  return table.models.get(model) ?? table.fallback;
}
