/**
 * The key database's schema and its migrations, versioned with `PRAGMA user_version`.
 *
 * To change the schema, append a migration; never edit one that has shipped. A database from a
 * newer Warden (a higher version than we know) is refused rather than guessed at.
 */
import type { Database } from "bun:sqlite";

const MIGRATIONS: readonly string[] = [
  // 1: keys and tenants. Times are ms since the epoch; JSON columns hold the maps and lists.
  `CREATE TABLE keys (
     id             TEXT PRIMARY KEY,
     secret_sha256  BLOB NOT NULL UNIQUE,
     last4          TEXT NOT NULL,
     tenant         TEXT NOT NULL,
     name           TEXT,
     models         TEXT,              -- JSON array of model names; NULL = every model
     rpm            INTEGER,
     tpm            INTEGER,
     max_concurrent INTEGER,
     max_budget_usd REAL,
     expires_at     INTEGER,           -- NULL = never
     enabled        INTEGER NOT NULL DEFAULT 1,
     metadata       TEXT NOT NULL DEFAULT '{}',
     waf_policy     TEXT NOT NULL DEFAULT '{}',
     created_at     INTEGER NOT NULL,
     updated_at     INTEGER NOT NULL,
     revoked_at     INTEGER
   ) STRICT;
   CREATE INDEX keys_by_tenant ON keys (tenant, created_at);
   CREATE TABLE tenants (
     id             TEXT PRIMARY KEY,
     rpm            INTEGER,
     tpm            INTEGER,
     max_concurrent INTEGER,
     max_budget_usd REAL,
     waf_policy     TEXT NOT NULL DEFAULT '{}',
     metadata       TEXT NOT NULL DEFAULT '{}',
     created_at     INTEGER NOT NULL,
     updated_at     INTEGER NOT NULL
   ) STRICT;`,
  // 2: lifetime spend per key and per tenant, in integer micro-dollars (src/budget). Its own
  // table, not columns on keys: it changes on every request, and a tenant need not have a row.
  `CREATE TABLE spend (
     kind           TEXT NOT NULL CHECK (kind IN ('key', 'tenant')),
     id             TEXT NOT NULL,
     spent_micros   INTEGER NOT NULL DEFAULT 0 CHECK (spent_micros >= 0),
     updated_at     INTEGER NOT NULL,
     PRIMARY KEY (kind, id)
   ) STRICT, WITHOUT ROWID;`,
];

export const SCHEMA_VERSION = MIGRATIONS.length;

/**
 * Brings `db` up to {@link SCHEMA_VERSION}. Each step runs in one immediate transaction, so two
 * processes opening a new database at once do not both create the tables.
 *
 * @example
 * migrate(new Database(path)); // throws if the file is from a newer Warden
 */
export function migrate(db: Database): void {
  for (;;) {
    const step = db.transaction(() => {
      const version = (db.query("PRAGMA user_version").get() as { user_version: number }).user_version;
      if (version > SCHEMA_VERSION) {
        throw new Error(`it has schema version ${version}, newer than this Warden understands (${SCHEMA_VERSION}); use a newer Warden`);
      }
      if (version === SCHEMA_VERSION) return false;
      db.run(MIGRATIONS[version]);
      db.run(`PRAGMA user_version = ${version + 1}`);
      return true;
    });
    if (!step.immediate()) return;
  }
}
