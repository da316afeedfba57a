/**
 * Keys and tenants as the admin API and `warden keys` print them: snake_case like the rest of
 * the OpenAI-style API, times as ISO 8601 strings. Never the secret or its hash; only the last
 * four characters, to tell keys apart.
 *
 * `spent_usd` is the lifetime spend the key database holds (src/budget writes it in batches,
 * every WARDEN_SPEND_FLUSH_MS), in dollars with micro-dollar precision.
 */
import { KEY_PREFIX } from "./secret";
import type { KeyStore } from "./store";
import type { KeyRecord, TenantRecord } from "./types";

export type KeyStatus = "active" | "disabled" | "expired" | "revoked";

export function keyStatus(k: KeyRecord, now = Date.now()): KeyStatus {
  if (k.revokedAt !== null) return "revoked";
  if (!k.enabled) return "disabled";
  if (k.expiresAt !== null && now >= k.expiresAt) return "expired";
  return "active";
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

const usd = (micros: number) => micros / 1_000_000;

/**
 * @example
 * keyView(record, store.spentMicros("key", record.id)); // { object: "api_key", id: "key_…", redacted_key: "wdn-…3fPq", status: "active", … }
 */
export function keyView(k: KeyRecord, spentMicros = 0, now = Date.now()) {
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
    spent_usd: usd(spentMicros),
    expires_at: iso(k.expiresAt),
    metadata: k.metadata,
    waf_policy: k.wafPolicy,
    created_at: iso(k.createdAt),
    updated_at: iso(k.updatedAt),
    revoked_at: iso(k.revokedAt),
  };
}

/** A key with its secret: the answer to create and rotate, the only time the secret is shown. */
export function keyWithSecret(k: KeyRecord, secret: string, spentMicros = 0) {
  return { ...keyView(k, spentMicros), key: secret };
}

export function tenantView(t: TenantRecord, spentMicros = 0) {
  return {
    object: "tenant" as const,
    id: t.id,
    rpm: t.rpm,
    tpm: t.tpm,
    max_concurrent: t.maxConcurrent,
    max_budget_usd: t.maxBudgetUsd,
    spent_usd: usd(spentMicros),
    waf_policy: t.wafPolicy,
    metadata: t.metadata,
    created_at: iso(t.createdAt),
    updated_at: iso(t.updatedAt),
  };
}

export function listOf<T>(data: T[]) {
  return { object: "list" as const, data };
}

/** Where the views read spend from: the key store. */
type SpendSource = Pick<KeyStore, "spentMicros" | "listSpend">;

/**
 * Views with their spend, as the admin API and `warden keys` print them.
 *
 * @example
 * shownKey(store, store.getKey(id)!); // { …, max_budget_usd: 5, spent_usd: 0.0123, … }
 */
export function shownKey(store: SpendSource, k: KeyRecord) {
  return keyView(k, store.spentMicros("key", k.id));
}

/** A list of keys with their spend, read in one query. */
export function shownKeys(store: SpendSource, keys: KeyRecord[]) {
  const spend = store.listSpend("key");
  return listOf(keys.map((k) => keyView(k, spend.get(k.id) ?? 0)));
}

export function shownTenant(store: SpendSource, t: TenantRecord) {
  return tenantView(t, store.spentMicros("tenant", t.id));
}

export function shownTenants(store: SpendSource, tenants: TenantRecord[]) {
  const spend = store.listSpend("tenant");
  return listOf(tenants.map((t) => tenantView(t, spend.get(t.id) ?? 0)));
}
