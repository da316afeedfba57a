/**
 * Stage 6, budget: spend per key and per tenant in integer micro-dollars, and lifetime budgets
 * (`max_budget_usd` on keys and tenants) enforced before forwarding. See README.md beside this
 * file for the price format, rounding, what is reserved and what a crash loses.
 *
 *   reserve (before forwarding)  prompt tokens × prompt price + max_tokens × n × completion price
 *   settle  (reply ended)        the reply's usage × price; held amount freed
 *   release (failed, no reply)   held amount freed, nothing charged
 *
 * Two stores implement it: the in-process book (book.ts, one gateway instance) and the shared
 * Redis store (redis.ts, several instances on one Redis; its `reserve` returns a Promise).
 *
 * @example
 * const book = createBudgetBook(keyStore);
 * const accountsOf = budgetAccounts(book);
 * const hold = reserveBudget(book, accountsOf(key, tenant), priceOf(config.prices, model), model, (p) =>
 *   costMicros(p, promptTokens, completionCap(endpoint, body, config.budgetDefaultMaxTokens)));
 * // … when the reply has ended:
 * if (hold) book.settle(hold, costMicros(hold.price, usage.prompt, usage.completion));
 */
import type { KeyRecord, TenantRecord } from "../keys/types";
import type { Account, BudgetStore, Hold, Refusal } from "./book";
import type { Price } from "./prices";
import { budgetError, unpricedError } from "./reply";
import { usdToMicros } from "./cost";

export { createBudgetBook, type Account, type BudgetBookOptions, type BudgetStore, type Hold, type MemoryBudgetBook, type Refusal, type SpendLedger } from "./book";
export { createRedisBudgetStore, type RedisBudgetOptions, type RedisBudgetStore } from "./redis";
export { completionCap, costMicros, formatUsd, microsToUsd, usdToMicros, MAX_TOKENS, MICROS_PER_USD } from "./cost";
export { NO_PRICES, parsePrices, priceOf, type Price, type PriceTable } from "./prices";
export { budgetError, unpricedError } from "./reply";

/**
 * The accounts a key's requests are charged to: the key's own and its tenant's, made once per
 * key record (the store hands out a new record when the database changes, budgets included).
 *
 * @example
 * const accountsOf = budgetAccounts(book);
 * accountsOf(principal.key, principal.tenantRecord); // [key account, tenant account]
 */
export function budgetAccounts(book: BudgetStore): (key: KeyRecord, tenant: TenantRecord | null) => readonly Account[] {
  const cache = new WeakMap<KeyRecord, readonly Account[]>();
  return (key, tenant) => {
    let accounts = cache.get(key);
    if (accounts === undefined) {
      accounts = Object.freeze([book.account("key", key.id, usdToMicros(key.maxBudgetUsd)), book.account("tenant", key.tenant, usdToMicros(tenant?.maxBudgetUsd ?? null))]);
      cache.set(key, accounts);
    }
    return accounts;
  };
}

function held(r: Hold | Refusal): Hold {
  if (!r.ok) throw budgetError(r);
  return r;
}

/**
 * The budget step: takes the request's worst-case cost from every budgeted account, or throws
 * (429 insufficient_quota, or 403 model_not_priced when a budget applies to an unpriced model).
 * Null when there is nothing to charge: an unpriced model for accounts without a budget.
 * `worstCase` runs only when some account has a budget (it may count prompt tokens).
 *
 * @example
 * const hold = reserveBudget(book, accounts, price, "gpt-4o-mini", (p) => costMicros(p, 812, 4096));
 */
export function reserveBudget(
  book: BudgetStore,
  accounts: readonly Account[],
  price: Price | null,
  model: string,
  worstCase: (price: Price) => number,
): Hold | null | Promise<Hold> {
  let capped: Account | null = null;
  for (let i = 0; i < accounts.length && capped === null; i++) if (accounts[i].budget !== null) capped = accounts[i];
  if (price === null) {
    if (capped !== null) throw unpricedError(model, capped);
    return null;
  }
  const r = book.reserve(accounts, capped === null ? 0 : worstCase(price), price);
  return r instanceof Promise ? r.then(held) : held(r);
}
