/**
 * The key store: virtual keys and tenants in SQLite (`<dataDir>/keys.db`).
 *
 * The gateway, the admin API and `warden keys` (another process) share the file. WAL mode lets
 * readers and a writer work at once, and busy_timeout makes a writer wait for another instead
 * of failing.
 *
 * The gateway looks a key up on every request. {@link KeyStore.lookup} answers from memory and
 * stays exact: it drops its cache whenever `PRAGMA data_version` says another connection (the
 * CLI, a second gateway) committed, and whenever this connection writes. So a revocation,
 * wherever it is made, applies from the next request on.
 *
 * The `spend` table holds each key's and tenant's lifetime spend in micro-dollars. src/budget
 * writes it in batches through this same connection: writes by another connection would change
 * `data_version` and empty the look-up cache on every batch.
 */
import { Database } from "bun:sqlite";
import { chmodSync, existsSync } from "node:fs";
import { GatewayError } from "../errors";
import { migrate } from "./schema";
import { generateKey, lastFour, newKeyId, secretHash } from "./secret";
import type { KeyRecord, KeySettings, Metadata, NewKey, SpendDelta, SpendKind, TenantRecord, TenantSettings, WafPolicy } from "./types";
import { checkSettings, checkTenantId, checkTenantSettings } from "./validate";

/** The key database's file name inside the data directory. */
export const KEYS_DB = "keys.db";

/** What a lookup finds: the key and, if its tenant has a row, the tenant. */
export interface KeyMatch {
  key: KeyRecord;
  tenant: TenantRecord | null;
}

export interface KeyStore {
  readonly path: string;
  /** Creates a key; the secret is returned here and never again. */
  createKey(input: NewKey): { record: KeyRecord; secret: string };
  getKey(id: string): KeyRecord | null;
  /** Oldest first. */
  listKeys(filter?: { tenant?: string }): KeyRecord[];
  /** Changes the given settings; null if there is no such key. */
  updateKey(id: string, changes: KeySettings): KeyRecord | null;
  /** Revokes for good; revoking again keeps the first time. Null if there is no such key. */
  revokeKey(id: string): KeyRecord | null;
  /** A new secret for the same key; the old one stops working at once. Refuses a revoked key (409). */
  rotateKey(id: string): { record: KeyRecord; secret: string } | null;
  /** The key whose secret has this SHA-256, whatever its state (the caller judges it). */
  lookup(secretSha256: Uint8Array): KeyMatch | null;
  /** Creates or replaces a tenant's settings. */
  putTenant(id: string, settings: TenantSettings): TenantRecord;
  getTenant(id: string): TenantRecord | null;
  listTenants(): TenantRecord[];
  /** Lifetime spend of a key or tenant in micro-dollars; 0 if it never spent. */
  spentMicros(kind: SpendKind, id: string): number;
  /** Every key's (or tenant's) spend that is not 0: id → micro-dollars, for listings. */
  listSpend(kind: SpendKind): Map<string, number>;
  /** Adds each delta to its account's spend in one transaction; returns the new totals, in order. */
  addSpend(deltas: readonly SpendDelta[]): number[];
  /**
   * Changes whenever the database may have changed under this connection: the look-up saw
   * another connection's commit, or this one wrote. Caches of spend compare it to know when
   * to read again (src/budget).
   */
  generation(): number;
  close(): void;
}

/** The database could not be opened or is not ours; the message says which file and why. */
export class KeyStoreError extends Error {}

interface KeyRow {
  id: string;
  last4: string;
  tenant: string;
  name: string | null;
  models: string | null;
  rpm: number | null;
  tpm: number | null;
  max_concurrent: number | null;
  max_budget_usd: number | null;
  expires_at: number | null;
  enabled: number;
  metadata: string;
  waf_policy: string;
  created_at: number;
  updated_at: number;
  revoked_at: number | null;
}

interface TenantRow {
  id: string;
  rpm: number | null;
  tpm: number | null;
  max_concurrent: number | null;
  max_budget_usd: number | null;
  waf_policy: string;
  metadata: string;
  created_at: number;
  updated_at: number;
}

const KEY_COLUMNS = "id, last4, tenant, name, models, rpm, tpm, max_concurrent, max_budget_usd, expires_at, enabled, metadata, waf_policy, created_at, updated_at, revoked_at";

/** Rows become frozen records: the cached ones are shared by concurrent requests. */
function keyRecord(r: KeyRow): KeyRecord {
  return Object.freeze({
    id: r.id,
    tenant: r.tenant,
    name: r.name,
    models: r.models === null ? null : Object.freeze(JSON.parse(r.models) as string[]),
    rpm: r.rpm,
    tpm: r.tpm,
    maxConcurrent: r.max_concurrent,
    maxBudgetUsd: r.max_budget_usd,
    expiresAt: r.expires_at,
    enabled: r.enabled === 1,
    metadata: Object.freeze(JSON.parse(r.metadata) as Metadata),
    wafPolicy: Object.freeze(JSON.parse(r.waf_policy) as WafPolicy),
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    revokedAt: r.revoked_at,
    last4: r.last4,
  });
}

function tenantRecord(r: TenantRow): TenantRecord {
  return Object.freeze({
    id: r.id,
    rpm: r.rpm,
    tpm: r.tpm,
    maxConcurrent: r.max_concurrent,
    maxBudgetUsd: r.max_budget_usd,
    wafPolicy: Object.freeze(JSON.parse(r.waf_policy) as WafPolicy),
    metadata: Object.freeze(JSON.parse(r.metadata) as Metadata),
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  });
}

/** Settings field → column, with the value as SQLite stores it. */
function settingColumns(s: KeySettings): Record<string, string | number | null> {
  const cols: Record<string, string | number | null> = {};
  if (s.name !== undefined) cols.name = s.name;
  if (s.models !== undefined) cols.models = s.models === null ? null : JSON.stringify(s.models);
  if (s.rpm !== undefined) cols.rpm = s.rpm;
  if (s.tpm !== undefined) cols.tpm = s.tpm;
  if (s.maxConcurrent !== undefined) cols.max_concurrent = s.maxConcurrent;
  if (s.maxBudgetUsd !== undefined) cols.max_budget_usd = s.maxBudgetUsd;
  if (s.expiresAt !== undefined) cols.expires_at = s.expiresAt;
  if (s.enabled !== undefined) cols.enabled = s.enabled ? 1 : 0;
  if (s.metadata !== undefined) cols.metadata = JSON.stringify(s.metadata);
  if (s.wafPolicy !== undefined) cols.waf_policy = JSON.stringify(s.wafPolicy);
  return cols;
}

function openDatabase(path: string): Database {
  let db: Database | undefined;
  try {
    const fresh = !existsSync(path);
    db = new Database(path, { create: true, strict: true });
    // The file holds only hashes, but tenants and limits are nobody else's business either.
    if (fresh) chmodSync(path, 0o600);
    db.run("PRAGMA busy_timeout = 5000");
    db.run("PRAGMA journal_mode = WAL");
    migrate(db);
    return db;
  } catch (e) {
    db?.close();
    throw new KeyStoreError(`cannot open the key database ${path}: ${(e as Error).message}`);
  }
}

/**
 * Opens (creating if needed) the key database at `path`.
 *
 * @example
 * const store = openKeyStore(join(config.dataDir, "keys.db"));
 * const { record, secret } = store.createKey({ tenant: "acme", models: ["gpt-4o-mini"], rpm: 60 });
 * store.lookup(secretHash(secret))?.key.id === record.id; // true
 */
export function openKeyStore(path: string): KeyStore {
  const db = openDatabase(path);

  const selectKey = db.query<KeyRow, [string]>(`SELECT ${KEY_COLUMNS} FROM keys WHERE id = ?`);
  const selectByHash = db.query<KeyRow, [Uint8Array]>(`SELECT ${KEY_COLUMNS} FROM keys WHERE secret_sha256 = ?`);
  const selectAll = db.query<KeyRow, []>(`SELECT ${KEY_COLUMNS} FROM keys ORDER BY created_at, id`);
  const selectByTenant = db.query<KeyRow, [string]>(`SELECT ${KEY_COLUMNS} FROM keys WHERE tenant = ? ORDER BY created_at, id`);
  const insertKey = db.query(
    `INSERT INTO keys (id, secret_sha256, last4, tenant, name, models, rpm, tpm, max_concurrent, max_budget_usd, expires_at, enabled, metadata, waf_policy, created_at, updated_at)
     VALUES ($id, $hash, $last4, $tenant, $name, $models, $rpm, $tpm, $max_concurrent, $max_budget_usd, $expires_at, $enabled, $metadata, $waf_policy, $now, $now)`,
  );
  const revoke = db.query<KeyRow, [number, number, string]>(
    `UPDATE keys SET revoked_at = coalesce(revoked_at, ?1), updated_at = ?2 WHERE id = ?3 RETURNING ${KEY_COLUMNS}`,
  );
  const rotate = db.query<KeyRow, [Uint8Array, string, number, string]>(
    `UPDATE keys SET secret_sha256 = ?1, last4 = ?2, updated_at = ?3 WHERE id = ?4 AND revoked_at IS NULL RETURNING ${KEY_COLUMNS}`,
  );
  const selectTenant = db.query<TenantRow, [string]>("SELECT * FROM tenants WHERE id = ?");
  const selectTenants = db.query<TenantRow, []>("SELECT * FROM tenants ORDER BY id");
  const upsertTenant = db.query<TenantRow, Record<string, string | number | null>>(
    `INSERT INTO tenants (id, rpm, tpm, max_concurrent, max_budget_usd, waf_policy, metadata, created_at, updated_at)
     VALUES ($id, $rpm, $tpm, $max_concurrent, $max_budget_usd, $waf_policy, $metadata, $now, $now)
     ON CONFLICT (id) DO UPDATE SET rpm = $rpm, tpm = $tpm, max_concurrent = $max_concurrent, max_budget_usd = $max_budget_usd,
       waf_policy = $waf_policy, metadata = $metadata, updated_at = $now
     RETURNING *`,
  );
  const dataVersion = db.query<{ data_version: number }, []>("PRAGMA data_version");
  const selectSpend = db.query<{ spent_micros: number }, [string, string]>("SELECT spent_micros FROM spend WHERE kind = ?1 AND id = ?2");
  const selectSpends = db.query<{ id: string; spent_micros: number }, [string]>("SELECT id, spent_micros FROM spend WHERE kind = ?1 AND spent_micros > 0");
  const upsertSpend = db.query<{ spent_micros: number }, [string, string, number, number]>(
    `INSERT INTO spend (kind, id, spent_micros, updated_at) VALUES (?1, ?2, ?3, ?4)
     ON CONFLICT (kind, id) DO UPDATE SET spent_micros = spent_micros + ?3, updated_at = ?4
     RETURNING spent_micros`,
  );
  // One transaction per batch: the budget book writes every account's settled spend at once.
  const addSpend = db.transaction((deltas: readonly SpendDelta[]) => {
    const now = Date.now();
    return deltas.map((d) => upsertSpend.get(d.kind, d.id, d.micros, now)!.spent_micros);
  });

  // Look-up cache: secret hash (latin1 string) → match. Only keys that exist are cached, so
  // guessing cannot grow it; any commit anywhere empties it.
  const cache = new Map<string, KeyMatch>();
  let seenVersion = -1;
  let generation = 0;
  const written = () => {
    cache.clear();
    generation++;
  };

  function lookup(hash: Uint8Array): KeyMatch | null {
    const version = dataVersion.get()!.data_version;
    if (version !== seenVersion) {
      cache.clear();
      seenVersion = version;
      generation++;
    }
    const id = Buffer.from(hash.buffer, hash.byteOffset, hash.byteLength).toString("latin1");
    const hit = cache.get(id);
    if (hit !== undefined) return hit;
    const row = selectByHash.get(hash);
    if (row === null) return null;
    const tenant = selectTenant.get(row.tenant);
    const match = Object.freeze({ key: keyRecord(row), tenant: tenant === null ? null : tenantRecord(tenant) });
    cache.set(id, match);
    return match;
  }

  function createKey(input: NewKey): { record: KeyRecord; secret: string } {
    checkTenantId(input.tenant);
    checkSettings(input);
    const secret = generateKey();
    const id = newKeyId();
    insertKey.run({
      id,
      hash: secretHash(secret),
      last4: lastFour(secret),
      tenant: input.tenant,
      name: null,
      models: null,
      rpm: null,
      tpm: null,
      max_concurrent: null,
      max_budget_usd: null,
      expires_at: null,
      enabled: 1,
      metadata: "{}",
      waf_policy: "{}",
      ...settingColumns(input),
      now: Date.now(),
    });
    written();
    return { record: keyRecord(selectKey.get(id)!), secret };
  }

  function updateKey(id: string, changes: KeySettings): KeyRecord | null {
    checkSettings(changes);
    const cols = settingColumns(changes);
    const names = Object.keys(cols);
    // Column names come from settingColumns, never from the caller.
    const sets = [...names.map((n) => `${n} = $${n}`), "updated_at = $now"].join(", ");
    const row = db.query<KeyRow, Record<string, string | number | null>>(`UPDATE keys SET ${sets} WHERE id = $id RETURNING ${KEY_COLUMNS}`).get({ ...cols, now: Date.now(), id });
    written();
    return row === null ? null : keyRecord(row);
  }

  function revokeKey(id: string): KeyRecord | null {
    const now = Date.now();
    const row = revoke.get(now, now, id);
    written();
    return row === null ? null : keyRecord(row);
  }

  function rotateKey(id: string): { record: KeyRecord; secret: string } | null {
    const secret = generateKey();
    const row = rotate.get(secretHash(secret), lastFour(secret), Date.now(), id);
    written();
    if (row !== null) return { record: keyRecord(row), secret };
    if (selectKey.get(id) === null) return null;
    throw new GatewayError(409, `Key ${id} is revoked and cannot be rotated; create a new key.`, "invalid_request_error", "key_revoked");
  }

  function putTenant(id: string, s: TenantSettings): TenantRecord {
    checkTenantId(id, "id");
    checkTenantSettings(s);
    const row = upsertTenant.get({
      id,
      rpm: s.rpm ?? null,
      tpm: s.tpm ?? null,
      max_concurrent: s.maxConcurrent ?? null,
      max_budget_usd: s.maxBudgetUsd ?? null,
      waf_policy: JSON.stringify(s.wafPolicy ?? {}),
      metadata: JSON.stringify(s.metadata ?? {}),
      now: Date.now(),
    })!;
    written();
    return tenantRecord(row);
  }

  return {
    path,
    createKey,
    getKey: (id) => {
      const row = selectKey.get(id);
      return row === null ? null : keyRecord(row);
    },
    listKeys: (filter = {}) => (filter.tenant === undefined ? selectAll.all() : selectByTenant.all(filter.tenant)).map(keyRecord),
    updateKey,
    revokeKey,
    rotateKey,
    lookup,
    putTenant,
    getTenant: (id) => {
      const row = selectTenant.get(id);
      return row === null ? null : tenantRecord(row);
    },
    listTenants: () => selectTenants.all().map(tenantRecord),
    spentMicros: (kind, id) => selectSpend.get(kind, id)?.spent_micros ?? 0,
    listSpend: (kind) => new Map(selectSpends.all(kind).map((r) => [r.id, r.spent_micros])),
    addSpend: (deltas) => (deltas.length === 0 ? [] : addSpend.immediate(deltas)),
    generation: () => generation,
    close: () => db.close(),
  };
}
