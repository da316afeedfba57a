/**
 * Request bodies of the admin API: their Elysia schemas, their translation into key-store
 * settings, and how a schema failure becomes a 400 in the OpenAI shape naming the field.
 *
 * Unknown fields are refused (the app runs Elysia with `normalize: false`), so a misspelt
 * `max_concurent` is an error instead of a silently ignored limit.
 */
import { t } from "elysia";
import { ValueErrorType } from "@sinclair/typebox/errors";
import { GatewayError } from "../errors";
import type { KeySettings, NewKey, TenantSettings } from "../keys/types";
import {
  MAX_BUDGET_USD,
  MAX_LIMIT,
  MAX_METADATA_ENTRIES,
  MAX_METADATA_KEY,
  MAX_METADATA_VALUE,
  MAX_MODEL_NAME,
  MAX_MODELS,
  MAX_NAME,
  RULE_ID_PATTERN,
  TENANT_ID_PATTERN,
  WAF_ACTIONS,
  WAF_CATEGORIES,
  invalid,
  parseExpiry,
} from "../keys/validate";

const limit = t.Nullable(t.Integer({ minimum: 1, maximum: MAX_LIMIT }));
const budget = t.Nullable(t.Number({ minimum: 0, maximum: MAX_BUDGET_USD }));
const metadata = t.Record(t.String({ minLength: 1, maxLength: MAX_METADATA_KEY }), t.String({ maxLength: MAX_METADATA_VALUE }), { maxProperties: MAX_METADATA_ENTRIES });
const policy = t.Record(t.String({ pattern: RULE_ID_PATTERN }), t.UnionEnum(WAF_ACTIONS), { additionalProperties: false });

const keySettings = {
  name: t.Optional(t.Nullable(t.String({ maxLength: MAX_NAME }))),
  models: t.Optional(t.Nullable(t.Array(t.String({ minLength: 1, maxLength: MAX_MODEL_NAME }), { maxItems: MAX_MODELS }))),
  rpm: t.Optional(limit),
  tpm: t.Optional(limit),
  max_concurrent: t.Optional(limit),
  max_budget_usd: t.Optional(budget),
  expires_at: t.Optional(t.Nullable(t.String())),
  enabled: t.Optional(t.Boolean()),
  metadata: t.Optional(metadata),
  waf_policy: t.Optional(policy),
};

export const CreateKeyBody = t.Object({ tenant: t.String({ pattern: TENANT_ID_PATTERN }), ...keySettings }, { additionalProperties: false });
/** The tenant is not among them: it is fixed when the key is made (quotas and ledger hang on it). */
export const UpdateKeyBody = t.Object(keySettings, { additionalProperties: false });
export const TenantBody = t.Object(
  {
    rpm: t.Optional(limit),
    tpm: t.Optional(limit),
    max_concurrent: t.Optional(limit),
    max_budget_usd: t.Optional(budget),
    waf_policy: t.Optional(policy),
    metadata: t.Optional(metadata),
  },
  { additionalProperties: false },
);
export const ListKeysQuery = t.Object({ tenant: t.Optional(t.String({ pattern: TENANT_ID_PATTERN })) }, { additionalProperties: false });

/** What each field must be, for error messages (Elysia's own, like "Expected union value", say little). */
const FIELD_HELP: Record<string, string> = {
  tenant: "a tenant id: 1-64 letters, digits, '.', '_', ':' or '-', starting with a letter or digit",
  name: `a string of at most ${MAX_NAME} characters, or null`,
  models: `a list of at most ${MAX_MODELS} model names, or null for every model`,
  rpm: "a whole number of at least 1, or null for no limit",
  tpm: "a whole number of at least 1, or null for no limit",
  max_concurrent: "a whole number of at least 1, or null for no limit",
  max_budget_usd: `a number of US dollars from 0 to ${MAX_BUDGET_USD}, or null for no cap`,
  expires_at: "an ISO 8601 date-time with its zone, a date (00:00 UTC), a duration such as 30d, or null for never",
  enabled: "true or false",
  metadata: `an object of at most ${MAX_METADATA_ENTRIES} string values (keys 1-${MAX_METADATA_KEY} characters, values at most ${MAX_METADATA_VALUE})`,
  waf_policy: `an object of rule → action: rules '*', ${WAF_CATEGORIES.join(", ")} or '<category>.<rule>'; actions ${WAF_ACTIONS.join(", ")}`,
};

function expiry(value: string | null | undefined): number | null | undefined {
  if (value === null || value === undefined) return value;
  const ms = parseExpiry(value);
  if (ms === undefined) throw invalid("expires_at", `'expires_at' must be ${FIELD_HELP.expires_at}.`);
  return ms;
}

/** API body (snake_case) → key-store settings; absent fields stay absent. */
export function keySettingsOf(body: typeof UpdateKeyBody.static): KeySettings {
  const s: KeySettings = {};
  if (body.name !== undefined) s.name = body.name;
  if (body.models !== undefined) s.models = body.models;
  if (body.rpm !== undefined) s.rpm = body.rpm;
  if (body.tpm !== undefined) s.tpm = body.tpm;
  if (body.max_concurrent !== undefined) s.maxConcurrent = body.max_concurrent;
  if (body.max_budget_usd !== undefined) s.maxBudgetUsd = body.max_budget_usd;
  if (body.expires_at !== undefined) s.expiresAt = expiry(body.expires_at);
  if (body.enabled !== undefined) s.enabled = body.enabled;
  if (body.metadata !== undefined) s.metadata = body.metadata;
  if (body.waf_policy !== undefined) s.wafPolicy = body.waf_policy;
  return s;
}

export function newKeyOf(body: typeof CreateKeyBody.static): NewKey {
  return { tenant: body.tenant, ...keySettingsOf(body) };
}

export function tenantSettingsOf(body: typeof TenantBody.static): TenantSettings {
  return {
    rpm: body.rpm,
    tpm: body.tpm,
    maxConcurrent: body.max_concurrent,
    maxBudgetUsd: body.max_budget_usd,
    wafPolicy: body.waf_policy,
    metadata: body.metadata,
  };
}

/** `/metadata/a~1b` (a JSON pointer) → `metadata.a/b`. */
function paramOf(pointer: string): string {
  return pointer
    .split("/")
    .slice(1)
    .map((s) => s.replaceAll("~1", "/").replaceAll("~0", "~"))
    .join(".");
}

/**
 * Elysia's VALIDATION error → 400 in the OpenAI shape, naming the first bad field in `param`.
 * Elysia's own answer (the schema, the value) never reaches the client.
 *
 * @example
 * .onError(({ code, error }) => code === "VALIDATION" ? validationError(error).toResponse() : undefined)
 */
export function validationError(error: { valueError?: { path: string; type: number; value: unknown } }): GatewayError {
  const first = error.valueError;
  const param = first ? paramOf(first.path) : "";
  // (The admin parser already refuses bodies that are not JSON objects.)
  if (param === "") return new GatewayError(400, "The request body must be a JSON object.", "invalid_request_error", "invalid_body");
  const top = param.split(".")[0];
  if (first!.type === ValueErrorType.ObjectAdditionalProperties && param === top) {
    return new GatewayError(400, `Unrecognized request argument supplied: ${param}`, "invalid_request_error", "unknown_parameter", param);
  }
  if (first!.value === undefined && param === top) {
    return new GatewayError(400, `Missing required parameter: '${param}'.`, "invalid_request_error", "missing_required_parameter", param);
  }
  const help = FIELD_HELP[top];
  return invalid(param, help ? `Invalid value for '${param}': '${top}' must be ${help}.` : `Invalid value for '${param}'.`);
}
