/**
 * Keys and tenants as the rest of the gateway sees them.
 *
 * Times are milliseconds since the epoch; `null` limits mean "no limit at this level".
 * Records handed out by the key store's look-up are frozen and shared between requests: read
 * them, never change them.
 */

export type WafAction = "block" | "redact" | "flag" | "off";

/**
 * Per-key or per-tenant WAF overrides: rule id or category → action.
 * Keys are `*`, a category (`injection`, `pii`, `secret`) or `<category>.<rule>`.
 */
export type WafPolicy = Readonly<Record<string, WafAction>>;

export type Metadata = Readonly<Record<string, string>>;

export interface Limits {
  /** Requests per minute. */
  rpm: number | null;
  /** Tokens per minute. */
  tpm: number | null;
  /** Requests in flight at once. */
  maxConcurrent: number | null;
  /** Spend cap in US dollars. */
  maxBudgetUsd: number | null;
}

export interface KeyRecord extends Limits {
  /** Public id (`key_` + 16 hex digits): what logs, errors and the ledger name. */
  id: string;
  tenant: string;
  name: string | null;
  /** Models this key may use; null means every configured model. */
  models: readonly string[] | null;
  expiresAt: number | null;
  enabled: boolean;
  metadata: Metadata;
  wafPolicy: WafPolicy;
  createdAt: number;
  updatedAt: number;
  revokedAt: number | null;
  /** Last four characters of the secret, to tell keys apart in listings. */
  last4: string;
}

export interface TenantRecord extends Limits {
  id: string;
  wafPolicy: WafPolicy;
  metadata: Metadata;
  createdAt: number;
  updatedAt: number;
}

/** What may be set on a key; absent fields keep their default (create) or value (update). */
export interface KeySettings extends Partial<Limits> {
  name?: string | null;
  models?: readonly string[] | null;
  expiresAt?: number | null;
  enabled?: boolean;
  metadata?: Metadata;
  wafPolicy?: WafPolicy;
}

export interface NewKey extends KeySettings {
  tenant: string;
}

/** A tenant is written whole (PUT semantics): absent limits become null, absent maps empty. */
export interface TenantSettings extends Partial<Limits> {
  metadata?: Metadata;
  wafPolicy?: WafPolicy;
}

/** Whose spend: a key's own, or its tenant's (shared by the tenant's keys). */
export type SpendKind = "key" | "tenant";

/** Spend to add to one account, in micro-dollars (a whole number, at least 0). */
export interface SpendDelta {
  kind: SpendKind;
  id: string;
  micros: number;
}
