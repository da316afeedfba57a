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
 * wherever it is made, applies from the next request on. The query itself runs only after a
 * commit by anyone (./commit-watch.ts reads the WAL header from shared memory).
 *
 * Several gateway instances each keep their own file; src/keys/sync.ts copies every key and
 * tenant change between them through Redis, using {@link KeyStore.changedSince} to find this
 * file's changes and {@link KeyStore.applyRemote} to take the others'. For that, every change
 * to a row moves its `updated_at` forward, even two changes within one millisecond.
 *
 * The `spend` table holds each key's and tenant's lifetime spend in micro-dollars. src/budget
 * writes it in batches through this same connection: writes by another connection would change
 * `data_version` and empty the look-up cache on every batch.
 */
import { Database } from "bun:sqlite";
import { chmodSync, existsSync } from "node:fs";
import { GatewayError } from "../errors";
import { watchCommits } from "./commit-watch";
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
  /**
   * Looks for other connections' commits now, as {@link lookup} does on every call (dropping
   * the cache if there was one), and returns {@link generation}. For pollers, such as the
   * replication, that must notice a `warden keys` change while no request comes in.
   */
  refresh(): number;
  /** Every key and tenant row whose `updated_at` is after `ms`, oldest change first, as stored. */
  changedSince(ms: number): SyncRows;
  /**
   * Takes rows from another instance, in one transaction: a row replaces the local one if its
   * `updated_at` is later (ties keep the local row), or is added if there is none. Revocation
   * is final here too: a later row that is not revoked keeps the local revocation, and a row
   * that is revoked revokes the local key whatever its age; either way the merged row is a new
   * local change (its `updated_at` now, and after both), so it is replicated onwards.
   * Malformed rows are skipped and passed to `skipped`. Returns how many rows changed; the
   * look-up sees them on its next call.
   */
  applyRemote(rows: Partial<SyncRows>, skipped?: (table: "keys" | "tenants", id: unknown, reason: string) => void): number;
  close(): void;
}

/**
 * A key's row as replication carries it: the database's columns, with the secret's SHA-256 as
 * 64 lower-case hex digits (never the secret, which is stored nowhere).
 */
export type SyncKeyRow = {
  id: string;
  secret_sha256: string;
  last4: string;
  tenant: string;
  name: string | null;
  /** JSON array of model names, or null. */
  models: string | null;
  rpm: number | null;
  tpm: number | null;
  max_concurrent: number | null;
  max_budget_usd: number | null;
  expires_at: number | null;
  /** 1 or 0. */
  enabled: number;
  /** JSON objects. */
  metadata: string;
  waf_policy: string;
  created_at: number;
  updated_at: number;
  revoked_at: number | null;
};

/** A tenant's row as replication carries it: the database's columns. */
export type SyncTenantRow = {
  id: string;
  rpm: number | null;
  tpm: number | null;
  max_concurrent: number | null;
  max_budget_usd: number | null;
  /** JSON objects. */
  waf_policy: string;
  metadata: string;
  created_at: number;
  updated_at: number;
};

export interface SyncRows {
  keys: SyncKeyRow[];
  tenants: SyncTenantRow[];
}

/** The database could not be opened or is not ours; the message says which file and why. */
export class KeyStoreError extends Error {}

type KeyRow = Omit<SyncKeyRow, "secret_sha256">;
type TenantRow = SyncTenantRow;

const KEY_COLUMNS = "id, last4, tenant, name, models, rpm, tpm, max_concurrent, max_budget_usd, expires_at, enabled, metadata, waf_policy, created_at, updated_at, revoked_at";
const TENANT_COLUMNS = "id, rpm, tpm, max_concurrent, max_budget_usd, waf_policy, metadata, created_at, updated_at";
/** A change's `updated_at`: now, but always after the row's previous one, so no change shares its predecessor's version. */
const NEXT_VERSION = "max($now, updated_at + 1)";

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

/** A remote key row ready to bind: the columns, with the secret's hash as bytes. */
type KeyParams = Omit<SyncKeyRow, "secret_sha256"> & { secret_sha256: Uint8Array };

const HEX_SHA256 = /^[0-9a-fA-F]{64}$/;
const KEY_ID = /^key_[0-9a-f]{16}$/;

function idOf(raw: unknown): unknown {
  return typeof raw === "object" && raw !== null ? (raw as { id?: unknown }).id : undefined;
}

const isTime = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
const isTimeOrNull = (v: unknown): v is number | null => v === null || isTime(v);
const isNumberOrNull = (v: unknown): v is number | null => v === null || typeof v === "number";

/** The JSON text of a column, parsed; throws naming the column (never its content) if it is not JSON. */
function parsedJson(text: unknown, column: string): unknown {
  if (typeof text !== "string") throw new Error(`${column} is not a string`);
  try {
    return JSON.parse(text);
  } catch {
    throw new Error(`${column} is not JSON`);
  }
}

/**
 * The same rules as a local write, since a row from Redis is as untrusted as a request: the
 * look-up parses these columns on every cache miss and must never meet one it cannot read.
 * Returns the row to bind, or why it is refused.
 */
function keyParams(raw: unknown): KeyParams | string {
  if (typeof raw !== "object" || raw === null) return "not an object";
  const r = raw as Record<keyof SyncKeyRow, unknown>;
  if (typeof r.id !== "string" || !KEY_ID.test(r.id)) return "id is not a key id";
  if (typeof r.secret_sha256 !== "string" || !HEX_SHA256.test(r.secret_sha256)) return "secret_sha256 is not 64 hex digits";
  if (typeof r.last4 !== "string" || r.last4.length > 16) return "last4 is not a short string";
  if (r.enabled !== 0 && r.enabled !== 1) return "enabled is not 0 or 1";
  if (!isTime(r.created_at) || !isTime(r.updated_at) || !isTimeOrNull(r.revoked_at)) return "a time is not a whole number of ms";
  if (!isNumberOrNull(r.rpm) || !isNumberOrNull(r.tpm) || !isNumberOrNull(r.max_concurrent) || !isNumberOrNull(r.max_budget_usd) || !isNumberOrNull(r.expires_at)) {
    return "a limit is not a number or null";
  }
  try {
    checkTenantId(r.tenant);
    checkSettings({
      name: r.name as string | null,
      models: r.models === null ? null : (parsedJson(r.models, "models") as string[]),
      rpm: r.rpm,
      tpm: r.tpm,
      maxConcurrent: r.max_concurrent,
      maxBudgetUsd: r.max_budget_usd,
      expiresAt: r.expires_at,
      metadata: parsedJson(r.metadata, "metadata") as Metadata,
      wafPolicy: parsedJson(r.waf_policy, "waf_policy") as WafPolicy,
    });
  } catch (e) {
    return (e as Error).message;
  }
  const row = r as unknown as SyncKeyRow;
  return {
    id: row.id,
    secret_sha256: Buffer.from(row.secret_sha256, "hex"),
    last4: row.last4,
    tenant: row.tenant,
    name: row.name,
    models: row.models,
    rpm: row.rpm,
    tpm: row.tpm,
    max_concurrent: row.max_concurrent,
    max_budget_usd: row.max_budget_usd,
    expires_at: row.expires_at,
    enabled: row.enabled,
    metadata: row.metadata,
    waf_policy: row.waf_policy,
    created_at: row.created_at,
    updated_at: row.updated_at,
    revoked_at: row.revoked_at,
  };
}

function tenantParams(raw: unknown): SyncTenantRow | string {
  if (typeof raw !== "object" || raw === null) return "not an object";
  const r = raw as Record<keyof SyncTenantRow, unknown>;
  if (!isTime(r.created_at) || !isTime(r.updated_at)) return "a time is not a whole number of ms";
  if (!isNumberOrNull(r.rpm) || !isNumberOrNull(r.tpm) || !isNumberOrNull(r.max_concurrent) || !isNumberOrNull(r.max_budget_usd)) {
    return "a limit is not a number or null";
  }
  try {
    checkTenantId(r.id, "id");
    checkTenantSettings({
      rpm: r.rpm,
      tpm: r.tpm,
      maxConcurrent: r.max_concurrent,
      maxBudgetUsd: r.max_budget_usd,
      metadata: parsedJson(r.metadata, "metadata") as Metadata,
      wafPolicy: parsedJson(r.waf_policy, "waf_policy") as WafPolicy,
    });
  } catch (e) {
    return (e as Error).message;
  }
  const row = r as unknown as SyncTenantRow;
  return {
    id: row.id,
    rpm: row.rpm,
    tpm: row.tpm,
    max_concurrent: row.max_concurrent,
    max_budget_usd: row.max_budget_usd,
    waf_policy: row.waf_policy,
    metadata: row.metadata,
    created_at: row.created_at,
    updated_at: row.updated_at,
  };
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
  // Revoking a revoked key changes nothing, so it keeps its version (and is not replicated again).
  const revoke = db.query<KeyRow, { now: number; id: string }>(
    `UPDATE keys SET revoked_at = coalesce(revoked_at, $now), updated_at = CASE WHEN revoked_at IS NULL THEN ${NEXT_VERSION} ELSE updated_at END
     WHERE id = $id RETURNING ${KEY_COLUMNS}`,
  );
  const rotate = db.query<KeyRow, { hash: Uint8Array; last4: string; now: number; id: string }>(
    `UPDATE keys SET secret_sha256 = $hash, last4 = $last4, updated_at = ${NEXT_VERSION} WHERE id = $id AND revoked_at IS NULL RETURNING ${KEY_COLUMNS}`,
  );
  const selectTenant = db.query<TenantRow, [string]>(`SELECT ${TENANT_COLUMNS} FROM tenants WHERE id = ?`);
  const selectTenants = db.query<TenantRow, []>(`SELECT ${TENANT_COLUMNS} FROM tenants ORDER BY id`);
  const upsertTenant = db.query<TenantRow, Record<string, string | number | null>>(
    `INSERT INTO tenants (id, rpm, tpm, max_concurrent, max_budget_usd, waf_policy, metadata, created_at, updated_at)
     VALUES ($id, $rpm, $tpm, $max_concurrent, $max_budget_usd, $waf_policy, $metadata, $now, $now)
     ON CONFLICT (id) DO UPDATE SET rpm = $rpm, tpm = $tpm, max_concurrent = $max_concurrent, max_budget_usd = $max_budget_usd,
       waf_policy = $waf_policy, metadata = $metadata, updated_at = ${NEXT_VERSION}
     RETURNING ${TENANT_COLUMNS}`,
  );
  const keysSince = db.query<SyncKeyRow, [number]>(
    `SELECT ${KEY_COLUMNS}, lower(hex(secret_sha256)) AS secret_sha256 FROM keys WHERE updated_at > ? ORDER BY updated_at, id`,
  );
  const tenantsSince = db.query<SyncTenantRow, [number]>(`SELECT ${TENANT_COLUMNS} FROM tenants WHERE updated_at > ? ORDER BY updated_at, id`);
  const keyVersion = db.query<{ updated_at: number; revoked_at: number | null }, [string]>("SELECT updated_at, revoked_at FROM keys WHERE id = ?");
  const tenantVersion = db.query<{ updated_at: number }, [string]>("SELECT updated_at FROM tenants WHERE id = ?");
  const putKeyRow = db.query<null, KeyParams>(
    `INSERT INTO keys (${KEY_COLUMNS}, secret_sha256)
     VALUES ($id, $last4, $tenant, $name, $models, $rpm, $tpm, $max_concurrent, $max_budget_usd, $expires_at, $enabled, $metadata, $waf_policy, $created_at, $updated_at, $revoked_at, $secret_sha256)
     ON CONFLICT (id) DO UPDATE SET secret_sha256 = $secret_sha256, last4 = $last4, tenant = $tenant, name = $name, models = $models, rpm = $rpm, tpm = $tpm,
       max_concurrent = $max_concurrent, max_budget_usd = $max_budget_usd, expires_at = $expires_at, enabled = $enabled, metadata = $metadata,
       waf_policy = $waf_policy, created_at = $created_at, updated_at = $updated_at, revoked_at = $revoked_at`,
  );
  const revokeFrom = db.query<null, { revoked_at: number; now: number; id: string }>(
    `UPDATE keys SET revoked_at = $revoked_at, updated_at = ${NEXT_VERSION} WHERE id = $id AND revoked_at IS NULL`,
  );
  const putTenantRow = db.query<null, SyncTenantRow>(
    `INSERT INTO tenants (${TENANT_COLUMNS})
     VALUES ($id, $rpm, $tpm, $max_concurrent, $max_budget_usd, $waf_policy, $metadata, $created_at, $updated_at)
     ON CONFLICT (id) DO UPDATE SET rpm = $rpm, tpm = $tpm, max_concurrent = $max_concurrent, max_budget_usd = $max_budget_usd,
       waf_policy = $waf_policy, metadata = $metadata, created_at = $created_at, updated_at = $updated_at`,
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
  // Skips the data_version query while no connection has committed (./commit-watch.ts).
  const commits = watchCommits(path);
  let seenVersion = -1;
  let generation = 0;
  const written = () => {
    cache.clear();
    generation++;
  };

  function refresh(): number {
    if (!commits.changed()) return generation;
    const version = dataVersion.get()!.data_version;
    if (version !== seenVersion) {
      cache.clear();
      seenVersion = version;
      generation++;
    }
    return generation;
  }

  function lookup(hash: Uint8Array): KeyMatch | null {
    refresh();
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
    const sets = [...names.map((n) => `${n} = $${n}`), `updated_at = ${NEXT_VERSION}`].join(", ");
    const row = db.query<KeyRow, Record<string, string | number | null>>(`UPDATE keys SET ${sets} WHERE id = $id RETURNING ${KEY_COLUMNS}`).get({ ...cols, now: Date.now(), id });
    written();
    return row === null ? null : keyRecord(row);
  }

  function revokeKey(id: string): KeyRecord | null {
    const row = revoke.get({ now: Date.now(), id });
    written();
    return row === null ? null : keyRecord(row);
  }

  function rotateKey(id: string): { record: KeyRecord; secret: string } | null {
    const secret = generateKey();
    const row = rotate.get({ hash: secretHash(secret), last4: lastFour(secret), now: Date.now(), id });
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

  /**
   * One remote key row; true if the local row changed. A merge (revocation kept or taken) is a
   * change made here and now, stamped like a local write, so the replication sends it on.
   */
  function applyKeyRow(r: KeyParams): boolean {
    const local = keyVersion.get(r.id);
    if (local === null || r.updated_at > local.updated_at) {
      // Revocation is final: a later edit made elsewhere before the revocation arrived keeps it.
      const keep = local !== null && local.revoked_at !== null && r.revoked_at === null;
      putKeyRow.run(keep ? { ...r, revoked_at: local.revoked_at, updated_at: Math.max(Date.now(), r.updated_at + 1) } : r);
      return true;
    }
    if (r.revoked_at === null || local.revoked_at !== null) return false;
    revokeFrom.run({ revoked_at: r.revoked_at, now: Date.now(), id: r.id });
    return true;
  }

  function applyTenantRow(r: SyncTenantRow): boolean {
    const local = tenantVersion.get(r.id);
    if (local !== null && r.updated_at <= local.updated_at) return false;
    putTenantRow.run(r);
    return true;
  }

  type Skipped = (table: "keys" | "tenants", id: unknown, reason: string) => void;
  const applyRows = db.transaction((rows: Partial<SyncRows>, skipped: Skipped) => {
    let changed = 0;
    for (const [table, list, check, apply] of [
      ["keys", rows.keys, keyParams, applyKeyRow],
      ["tenants", rows.tenants, tenantParams, applyTenantRow],
    ] as const) {
      if (!Array.isArray(list)) continue;
      for (const raw of list as unknown[]) {
        const checked = check(raw);
        if (typeof checked === "string") {
          skipped(table, idOf(raw), checked);
          continue;
        }
        try {
          // A failed statement undoes only itself, not the rows before it.
          if (apply(checked as KeyParams & SyncTenantRow)) changed++;
        } catch (e) {
          skipped(table, checked.id, (e as Error).message);
        }
      }
    }
    return changed;
  });

  function applyRemote(rows: Partial<SyncRows>, skipped: Skipped = () => {}): number {
    const changed = applyRows.immediate(rows, skipped);
    if (changed > 0) written();
    return changed;
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
    refresh,
    changedSince: (ms) => ({ keys: keysSince.all(ms), tenants: tenantsSince.all(ms) }),
    applyRemote,
    close: () => {
      commits.close();
      db.close();
    },
  };
}
