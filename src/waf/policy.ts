/**
 * WAF policy: which action each rule takes.
 *
 * A policy maps keys to actions. A key is a rule id (`pii.email`), a category (`pii`) or `*`;
 * for a given rule the most specific key present wins. Layers (global default < env <
 * tenant < key) are combined with {@link mergePolicies}, where a later layer overrides what an
 * earlier one said about every rule its keys cover.
 */
import { CATEGORIES, RULE_IDS, type Category } from "./rules";

export type WafAction = "block" | "redact" | "flag" | "off";
export type WafPolicy = Record<string, WafAction>;

export const ACTIONS: readonly WafAction[] = ["block", "redact", "flag", "off"];

/**
 * Block injections (forwarding them is the harm), redact secrets (the request still works and
 * the credential never leaves), flag PII (names, emails and phone numbers are often the very
 * point of a request, e.g. "draft a reply to anna@…"; redacting them by default would break
 * ordinary use, so operators opt in per rule).
 */
export const DEFAULT_POLICY: Readonly<WafPolicy> = Object.freeze({ injection: "block", secret: "redact", pii: "flag" });

const RULE_SET: ReadonlySet<string> = new Set(RULE_IDS);
const CATEGORY_SET: ReadonlySet<string> = new Set(CATEGORIES);

/** 0 for `*`, 1 for a category, 2 for a rule id. */
function specificity(key: string): number {
  return key === "*" ? 0 : key.includes(".") ? 2 : 1;
}

/** Does `key` (a rule id, category or `*`) speak for rule `rule`? */
function covers(key: string, rule: string): boolean {
  if (key === "*" || key === rule) return true;
  return rule.length > key.length && rule.startsWith(key) && rule[key.length] === ".";
}

/**
 * Parses the env form `"injection=block,pii.email=redact,secret=flag"`. Blank entries and spaces
 * around names are ignored; an empty string is an empty policy. Throws an Error naming the bad
 * entry for an unknown rule id or category, an unknown action, or a malformed entry.
 *
 * @example
 * parsePolicy("injection=block, pii.email=redact"); // { injection: "block", "pii.email": "redact" }
 */
export function parsePolicy(text: string): WafPolicy {
  const policy: WafPolicy = {};
  for (const raw of text.split(",")) {
    const entry = raw.trim();
    if (entry === "") continue;
    const eq = entry.indexOf("=");
    if (eq < 0) throw new Error(`WAF policy entry "${entry}" is not of the form key=action`);
    const key = entry.slice(0, eq).trim();
    const action = entry.slice(eq + 1).trim();
    if (key !== "*" && !RULE_SET.has(key) && !CATEGORY_SET.has(key)) {
      throw new Error(
        `WAF policy entry "${entry}": unknown rule or category "${key}" (categories: ${CATEGORIES.join(", ")}; rules: ${RULE_IDS.join(", ")})`,
      );
    }
    if (!(ACTIONS as readonly string[]).includes(action)) {
      throw new Error(`WAF policy entry "${entry}": unknown action "${action}" (expected one of ${ACTIONS.join(", ")})`);
    }
    if (Object.hasOwn(policy, key) && policy[key] !== action) {
      throw new Error(`WAF policy entry "${entry}": "${key}" is already set to ${policy[key]}`);
    }
    policy[key] = action as WafAction;
  }
  return policy;
}

/**
 * Combines policy layers; later layers win. A layer's key overrides everything earlier layers
 * said about the rules that key covers, so a key-level `pii=off` also silences a global
 * `pii.email=redact`, and `*=flag` in a layer replaces all earlier settings. Within one layer the
 * most specific key wins as usual. Undefined layers are skipped.
 *
 * @example
 * mergePolicies(DEFAULT_POLICY, { "pii.email": "redact" }, { pii: "off" }); // { injection: "block", secret: "redact", pii: "off" }
 */
export function mergePolicies(...layers: (WafPolicy | undefined)[]): WafPolicy {
  const merged: WafPolicy = {};
  for (const layer of layers) {
    if (layer === undefined) continue;
    // Least specific first, so a layer's own specific keys survive its general ones.
    const keys = Object.keys(layer).sort((a, b) => specificity(a) - specificity(b));
    for (const key of keys) {
      for (const earlier of Object.keys(merged)) {
        if (earlier !== key && specificity(earlier) > specificity(key) && covers(key, earlier) && !Object.hasOwn(layer, earlier)) {
          delete merged[earlier];
        }
      }
      merged[key] = layer[key]!;
    }
  }
  return merged;
}

/**
 * The action for one rule under `policy`: its id, else its category, else `*`, else `off`
 * (a rule nobody asked for costs nothing; callers merge {@link DEFAULT_POLICY} as the base).
 *
 * @example
 * actionFor({ pii: "flag", "pii.email": "redact" }, "pii.email", "pii"); // "redact"
 */
export function actionFor(policy: WafPolicy, rule: string, category: Category): WafAction {
  return policy[rule] ?? policy[category] ?? policy["*"] ?? "off";
}
