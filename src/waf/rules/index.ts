/**
 * The rule registry. Order matters only for reporting: findings come out in rule order within
 * one location. Ids are stable; add rules freely, never rename one (policies name them).
 */
import { INJECTION_RULES } from "./injection";
import { PII_RULES } from "./pii";
import type { Category, Rule } from "./rule";
import { SECRET_RULES } from "./secret";

export type { Category, Hits, Rule } from "./rule";

export const CATEGORIES: readonly Category[] = ["injection", "pii", "secret"];

/** Rules that report matches directly. */
export const MATCH_RULES: readonly Rule[] = [...INJECTION_RULES, ...PII_RULES, ...SECRET_RULES];

/** The entropy-scored rule: found in two passes (candidates, then one batched entropy call). */
export const HIGH_ENTROPY = { id: "secret.high_entropy", category: "secret", label: "secret" } as const satisfies Omit<Rule, "scan">;

/** Every rule id, in reporting order. */
export const RULE_IDS: readonly string[] = [...MATCH_RULES.map((r) => r.id), HIGH_ENTROPY.id];
