/**
 * Keys and tenants as the admin API and `warden keys` print them: snake_case like the rest of
 * the OpenAI-style API, times as ISO 8601 strings. Never the secret or its hash; only the last
 * four characters, to tell keys apart.
 */
import { KEY_PREFIX } from "./secret";
import type { KeyRecord, TenantRecord } from "./types";

export type KeyStatus = "active" | "disabled" | "expired" | "revoked";

export function keyStatus(k: KeyRecord, now = Date.now()): KeyStatus {
  if (k.revokedAt !== null) return "revoked";
  if (!k.enabled) return "disabled";
  if (k.expiresAt !== null && now >= k.expiresAt) return "expired";
  return "active";
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/**
 * @example
 * keyView(record); // { object: "api_key", id: "key_…", redacted_key: "wdn-…3fPq", status: "active", … }
 */
export function keyView(k: KeyRecord, now = Date.now()) {
  return {
    object: "api_key" as const,
    id: k.id,
    tenant: k.tenant,
    name: k.name,
    redacted_key: `${KEY_PREFIX}…${k.last4}`,
    status: keyStatus(k, now),
    enabled: k.enabled,
    models: k.models,
    rpm: k.rpm,
    tpm: k.tpm,
    max_concurrent: k.maxConcurrent,
    max_budget_usd: k.maxBudgetUsd,
    expires_at: iso(k.expiresAt),
    metadata: k.metadata,
    waf_policy: k.wafPolicy,
    created_at: iso(k.createdAt),
    updated_at: iso(k.updatedAt),
    revoked_at: iso(k.revokedAt),
  };
}

/** A key with its secret: the answer to create and rotate, the only time the secret is shown. */
export function keyWithSecret(k: KeyRecord, secret: string) {
  return { ...keyView(k), key: secret };
}

export function tenantView(t: TenantRecord) {
  return {
    object: "tenant" as const,
    id: t.id,
    rpm: t.rpm,
    tpm: t.tpm,
    max_concurrent: t.maxConcurrent,
    max_budget_usd: t.maxBudgetUsd,
    waf_policy: t.wafPolicy,
    metadata: t.metadata,
    created_at: iso(t.createdAt),
    updated_at: iso(t.updatedAt),
  };
}

export function listOf<T>(data: T[]) {
  return { object: "list" as const, data };
}
