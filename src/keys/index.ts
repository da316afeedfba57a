/**
 * Virtual keys and tenants: format (secret), storage (store), rules (validate) and how they are
 * shown (view). The auth stage, the admin API and `warden keys` build on these.
 */
export { KEY_PATTERN, generateKey, isWellFormed, secretHash } from "./secret";
export { KEYS_DB, openKeyStore, KeyStoreError, type KeyMatch, type KeyStore, type SyncKeyRow, type SyncRows, type SyncTenantRow } from "./store";
export { startKeySync, type KeySync, type KeySyncOptions, type KeySyncStatus } from "./sync";
export type { KeyRecord, KeySettings, NewKey, SpendDelta, SpendKind, TenantRecord, TenantSettings, WafAction, WafPolicy } from "./types";
export { keyView, keyWithSecret, tenantView, listOf, shownKey, shownKeys, shownTenant, shownTenants } from "./view";
export { parseExpiry } from "./validate";
