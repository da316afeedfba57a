/**
 * Budget refusals in OpenAI's shape. OpenAI answers a spent quota with 429, type and code
 * `insufficient_quota`; clients and SDKs already treat that as "do not retry" (no Retry-After:
 * waiting does not help, a larger budget does). Messages name the key id or tenant and the
 * amounts, never key material. A shared store (Redis) that cannot be asked and fails closed
 * answers 503 `budget_unavailable` with Retry-After, which SDKs do retry.
 */
import { GatewayError } from "../errors";
import type { Account, Refusal } from "./book";
import { formatUsd } from "./cost";

const whose = (a: Account) => (a.kind === "key" ? `key ${a.id}` : `tenant ${a.id}`);

/**
 * @example
 * throw budgetError(refusal);
 * // 429 insufficient_quota: "Budget exceeded for key key_ab12…: $0.0098 of its $0.01 budget spent, …"
 * // 503 budget_unavailable when a shared store failing closed could not be asked
 */
export function budgetError(r: Refusal): GatewayError {
  if (r.reason === "unavailable") {
    // Like rate_limiter_unavailable: a passing outage, so retrying shortly may help.
    return new GatewayError(
      503,
      `The budget of ${whose(r.account)} cannot be checked right now, so the request was not forwarded. Please try again shortly.`,
      "server_error",
      "budget_unavailable",
      null,
      { "retry-after": "1" },
      "budget",
    );
  }
  const held = r.reserved > 0 ? `, ${formatUsd(r.reserved)} held by requests in flight` : "";
  const left = r.budget - r.spent - r.reserved;
  const advice =
    r.spent >= r.budget
      ? "Raise the budget (max_budget_usd) to continue."
      : `This request could cost up to ${formatUsd(r.requested)} (its prompt and max_tokens at the model's price), more than the ${formatUsd(Math.max(0, left))} left: lower max_tokens, or raise the budget (max_budget_usd).`;
  return new GatewayError(
    429,
    `Budget exceeded for ${whose(r.account)}: ${formatUsd(r.spent)} of its ${formatUsd(r.budget)} budget spent${held}. ${advice}`,
    "insufficient_quota",
    "insufficient_quota",
    null,
    undefined,
    "budget",
  );
}

/**
 * A budget that cannot be enforced is refused rather than ignored: the model has no price in
 * WARDEN_PRICES (and there is no `*` entry).
 *
 * @example
 * throw unpricedError("llama3", account); // 403 model_not_priced
 */
export function unpricedError(model: string, a: Account): GatewayError {
  return new GatewayError(
    403,
    `The model \`${model}\` has no price configured (WARDEN_PRICES), so the budget of ${whose(a)} cannot be enforced for it. Ask the operator to price it.`,
    "permission_error",
    "model_not_priced",
    "model",
    undefined,
    "budget",
  );
}
