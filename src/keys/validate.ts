/**
 * The rules for key and tenant settings, shared by the admin API and the CLI.
 *
 * The admin API checks shapes with Elysia schemas first (built from the constants here); the
 * key store checks again with {@link checkSettings} before writing, so the CLI and any future
 * caller get the same rules. A broken rule is a 400 `invalid_value` naming the field as the
 * admin API spells it (`max_concurrent`, `waf_policy.pii`, ...).
 */
import { GatewayError } from "../errors";
import type { KeySettings, TenantSettings, WafAction } from "./types";

export const WAF_ACTIONS = ["block", "redact", "flag", "off"] as const satisfies readonly WafAction[];
export const WAF_CATEGORIES = ["injection", "pii", "secret"] as const;
/**
 * Rule ids a policy may name. src/waf will own the list of rules; until then any
 * `<category>.<name>` is accepted.
 */
export const RULE_ID_PATTERN = `^(\\*|(${WAF_CATEGORIES.join("|")})(\\.[a-z0-9_-]{1,64})?)$`;
/** Tenant ids end up in logs, ledger records and rate-limit keys: keep them plain. */
export const TENANT_ID_PATTERN = "^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$";

export const MAX_NAME = 200;
export const MAX_MODELS = 1000;
export const MAX_MODEL_NAME = 256;
export const MAX_METADATA_ENTRIES = 64;
export const MAX_METADATA_KEY = 64;
export const MAX_METADATA_VALUE = 1024;
/** Far above any real rate, low enough to stay an exact integer everywhere. */
export const MAX_LIMIT = 1_000_000_000_000;
/** Budgets are enforced in integer micro-dollars (src/budget): 2^53 µUSD is about $9 billion. */
export const MAX_BUDGET_USD = 1_000_000_000;

const RULE_ID = new RegExp(RULE_ID_PATTERN);
const TENANT_ID = new RegExp(TENANT_ID_PATTERN);

/** A 400 naming the offending field. */
export function invalid(param: string, message: string): GatewayError {
  return new GatewayError(400, message, "invalid_request_error", "invalid_value", param);
}

export function checkTenantId(id: unknown, param = "tenant"): string {
  if (typeof id !== "string" || !TENANT_ID.test(id)) {
    throw invalid(param, `'${param}' must be 1-64 characters of letters, digits, '.', '_', ':' or '-', starting with a letter or digit.`);
  }
  return id;
}

function checkLimit(value: unknown, param: string): void {
  if (value === null || value === undefined) return;
  if (!Number.isSafeInteger(value) || (value as number) < 1 || (value as number) > MAX_LIMIT) {
    throw invalid(param, `'${param}' must be a whole number of at least 1, or null for no limit.`);
  }
}

function checkBudget(value: unknown): void {
  if (value === null || value === undefined) return;
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0 || value > MAX_BUDGET_USD) {
    throw invalid("max_budget_usd", `'max_budget_usd' must be a number of US dollars from 0 to ${MAX_BUDGET_USD}, or null for no cap.`);
  }
}

function checkStringMap(value: unknown, param: string): void {
  if (value === undefined) return;
  if (value === null || typeof value !== "object" || Array.isArray(value)) throw invalid(param, `'${param}' must be an object.`);
  const entries = Object.entries(value);
  if (entries.length > MAX_METADATA_ENTRIES) throw invalid(param, `'${param}' may hold at most ${MAX_METADATA_ENTRIES} entries.`);
  for (const [k, v] of entries) {
    if (k.length === 0 || k.length > MAX_METADATA_KEY) throw invalid(param, `'${param}' keys must be 1-${MAX_METADATA_KEY} characters.`);
    if (typeof v !== "string" || v.length > MAX_METADATA_VALUE) {
      throw invalid(`${param}.${k}`, `'${param}.${k}' must be a string of at most ${MAX_METADATA_VALUE} characters.`);
    }
  }
}

/**
 * @example
 * checkPolicy({ pii: "redact", "secret.aws_access_key": "block" }); // passes
 * checkPolicy({ pii: "delete" }); // throws 400, param "waf_policy.pii"
 */
export function checkPolicy(value: unknown, param = "waf_policy"): void {
  if (value === undefined) return;
  if (value === null || typeof value !== "object" || Array.isArray(value)) throw invalid(param, `'${param}' must be an object of rule → action.`);
  for (const [rule, action] of Object.entries(value)) {
    if (!RULE_ID.test(rule)) {
      throw invalid(`${param}.${rule}`, `Unknown WAF rule '${rule}': use '*', a category (${WAF_CATEGORIES.join(", ")}) or '<category>.<rule>'.`);
    }
    if (!WAF_ACTIONS.includes(action as WafAction)) {
      throw invalid(`${param}.${rule}`, `WAF action for '${rule}' must be one of ${WAF_ACTIONS.join(", ")}.`);
    }
  }
}

function checkModels(value: unknown): void {
  if (value === null || value === undefined) return;
  if (!Array.isArray(value) || value.length > MAX_MODELS) throw invalid("models", `'models' must be a list of at most ${MAX_MODELS} model names, or null for every model.`);
  const seen = new Set<string>();
  for (const m of value) {
    if (typeof m !== "string" || m.length === 0 || m.length > MAX_MODEL_NAME) {
      throw invalid("models", `Every model name must be a string of 1-${MAX_MODEL_NAME} characters.`);
    }
    if (seen.has(m)) throw invalid("models", `'models' lists '${m}' twice.`);
    seen.add(m);
  }
}

function checkTime(value: unknown, param: string): void {
  if (value === null || value === undefined) return;
  if (!Number.isSafeInteger(value) || (value as number) < 0) throw invalid(param, `'${param}' must be a date and time.`);
}

function checkLimits(s: TenantSettings): void {
  checkLimit(s.rpm, "rpm");
  checkLimit(s.tpm, "tpm");
  checkLimit(s.maxConcurrent, "max_concurrent");
  checkBudget(s.maxBudgetUsd);
  checkStringMap(s.metadata, "metadata");
  checkPolicy(s.wafPolicy);
}

/** Throws a 400 for the first broken rule in a key's settings. */
export function checkSettings(s: KeySettings): void {
  if (s.name !== undefined && s.name !== null && (typeof s.name !== "string" || s.name.length > MAX_NAME)) {
    throw invalid("name", `'name' must be a string of at most ${MAX_NAME} characters.`);
  }
  if (s.enabled !== undefined && typeof s.enabled !== "boolean") throw invalid("enabled", "'enabled' must be true or false.");
  checkModels(s.models);
  checkTime(s.expiresAt, "expires_at");
  checkLimits(s);
}

/** Throws a 400 for the first broken rule in a tenant's settings. */
export function checkTenantSettings(s: TenantSettings): void {
  checkLimits(s);
}

const DURATION = /^(\d{1,6})([mhdw])$/;
const UNIT_MS = { m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const;

/**
 * An expiry as operators type it: a duration from `now` (`90m`, `12h`, `30d`, `4w`), a date
 * (`2026-12-31`, which is 00:00 UTC that day) or an ISO 8601 date and time with its zone (a
 * time without one would depend on the server's time zone). Undefined if it is none of these.
 *
 * @example
 * parseExpiry("30d", Date.UTC(2026, 0, 1)); // Date.UTC(2026, 0, 31)
 * parseExpiry("2026-12-31T18:00:00+01:00"); // Date.UTC(2026, 11, 31, 17)
 */
export function parseExpiry(text: string, now = Date.now()): number | undefined {
  const d = DURATION.exec(text);
  if (d) return now + Number(d[1]) * UNIT_MS[d[2] as keyof typeof UNIT_MS];
  if (!/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2}))?$/.test(text)) return undefined;
  const ms = Date.parse(text);
  return Number.isNaN(ms) ? undefined : ms;
}
