/** The key store on real SQLite files in a temporary directory. */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SCHEMA_VERSION } from "./schema";
import { isWellFormed, secretHash } from "./secret";
import { KeyStoreError, openKeyStore, type KeyStore } from "./store";

let dir: string;
let path: string;
let store: KeyStore;
const opened: KeyStore[] = [];

function open(): KeyStore {
  const s = openKeyStore(path);
  opened.push(s);
  return s;
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "warden-keys-"));
  path = join(dir, "keys.db");
  store = open();
});
afterEach(() => {
  for (const s of opened.splice(0)) s.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("the database", () => {
  test("is a WAL-mode SQLite file with a versioned schema, readable only by its owner", () => {
    const db = new Database(path, { readonly: true });
    expect((db.query("PRAGMA journal_mode").get() as { journal_mode: string }).journal_mode).toBe("wal");
    expect((db.query("PRAGMA user_version").get() as { user_version: number }).user_version).toBe(SCHEMA_VERSION);
    db.close();
    expect(statSync(path).mode & 0o777).toBe(0o600);
  });

  test("stores the secret only as its SHA-256", () => {
    const { secret } = store.createKey({ tenant: "acme" });
    for (const file of [path, `${path}-wal`]) expect(readFileSync(file).includes(Buffer.from(secret))).toBe(false);
    const db = new Database(path, { readonly: true });
    const row = db.query("SELECT secret_sha256 FROM keys").get() as { secret_sha256: Uint8Array };
    expect(Buffer.from(row.secret_sha256).equals(secretHash(secret))).toBe(true);
    db.close();
  });

  test("a file from a newer Warden, or not a database at all, is refused with a clear error", () => {
    const db = new Database(path);
    db.run(`PRAGMA user_version = ${SCHEMA_VERSION + 1}`);
    db.close();
    expect(() => openKeyStore(path)).toThrow(KeyStoreError);
    expect(() => openKeyStore(path)).toThrow(/newer than this Warden/);
    const junk = join(dir, "junk.db");
    writeFileSync(junk, "this is not a database, just text that is long enough".repeat(100));
    expect(() => openKeyStore(junk)).toThrow(new RegExp(`cannot open the key database ${junk}`));
    expect(() => openKeyStore(join(dir, "missing-dir", "keys.db"))).toThrow(KeyStoreError);
  });

  test("reopening keeps the data (migrations run once)", () => {
    const { record } = store.createKey({ tenant: "acme", name: "ci" });
    store.close();
    opened.splice(0);
    store = open();
    expect(store.getKey(record.id)?.name).toBe("ci");
  });
});

describe("keys", () => {
  test("create: defaults, a well-formed secret shown once, last four characters kept", () => {
    const { record, secret } = store.createKey({ tenant: "acme" });
    expect(isWellFormed(secret)).toBe(true);
    expect(record).toMatchObject({
      tenant: "acme",
      name: null,
      models: null,
      rpm: null,
      tpm: null,
      maxConcurrent: null,
      maxBudgetUsd: null,
      expiresAt: null,
      enabled: true,
      metadata: {},
      wafPolicy: {},
      revokedAt: null,
      last4: secret.slice(-4),
    });
    expect(record.id).toMatch(/^key_[0-9a-f]{16}$/);
    expect(JSON.stringify(record)).not.toContain(secret);
    expect(store.getKey(record.id)).toEqual(record);
  });

  test("create with every setting, then read it back", () => {
    const settings = {
      tenant: "acme",
      name: "batch jobs",
      models: ["gpt-4o-mini", "meta-llama/Llama-3.1-8B"],
      rpm: 60,
      tpm: 100_000,
      maxConcurrent: 4,
      maxBudgetUsd: 12.5,
      expiresAt: Date.UTC(2030, 0, 1),
      enabled: false,
      metadata: { team: "data", cost_center: "42" },
      wafPolicy: { pii: "redact", "secret.aws_access_key": "block", "*": "flag" } as const,
    };
    const { record } = store.createKey(settings);
    const { tenant, ...rest } = settings;
    expect(record).toMatchObject({ tenant, ...rest });
    expect(store.getKey(record.id)).toEqual(record);
  });

  test.each([
    [{ tenant: "" }, "tenant"],
    [{ tenant: "has space" }, "tenant"],
    [{ tenant: "acme", rpm: 0 }, "rpm"],
    [{ tenant: "acme", tpm: 1.5 }, "tpm"],
    [{ tenant: "acme", maxConcurrent: -1 }, "max_concurrent"],
    [{ tenant: "acme", maxBudgetUsd: -0.01 }, "max_budget_usd"],
    [{ tenant: "acme", models: ["a", "a"] }, "models"],
    [{ tenant: "acme", models: [""] }, "models"],
    [{ tenant: "acme", metadata: { k: 1 } }, "metadata.k"],
    [{ tenant: "acme", wafPolicy: { pii: "delete" } }, "waf_policy.pii"],
    [{ tenant: "acme", wafPolicy: { sql: "block" } }, "waf_policy.sql"],
    [{ tenant: "acme", name: "x".repeat(201) }, "name"],
  ] as [Record<string, unknown>, string][])("create refuses %o naming %s", (input, param) => {
    expect(() => store.createKey(input as never)).toThrow(expect.objectContaining({ status: 400, code: "invalid_value", param }));
    expect(store.listKeys()).toEqual([]);
  });

  test("list, all or by tenant", () => {
    const a = store.createKey({ tenant: "acme" }).record;
    const b = store.createKey({ tenant: "globex" }).record;
    const c = store.createKey({ tenant: "acme" }).record;
    expect(store.listKeys().map((k) => k.id).sort()).toEqual([a.id, b.id, c.id].sort());
    expect(store.listKeys({ tenant: "acme" }).map((k) => k.id).sort()).toEqual([a.id, c.id].sort());
    expect(store.listKeys({ tenant: "nobody" })).toEqual([]);
  });

  test("update changes only the given settings; null clears; unknown ids give null", () => {
    const { record } = store.createKey({ tenant: "acme", rpm: 10, name: "old", models: ["a"] });
    const updated = store.updateKey(record.id, { rpm: null, tpm: 500, name: "new", enabled: false });
    expect(updated).toMatchObject({ rpm: null, tpm: 500, name: "new", enabled: false, models: ["a"], tenant: "acme" });
    expect(updated!.updatedAt).toBeGreaterThanOrEqual(record.updatedAt);
    expect(store.updateKey(record.id, { models: null })!.models).toBeNull();
    expect(store.updateKey("key_0000000000000000", { rpm: 1 })).toBeNull();
    expect(() => store.updateKey(record.id, { rpm: 0 })).toThrow(expect.objectContaining({ param: "rpm" }));
  });

  test("revoke is final and idempotent", () => {
    const { record } = store.createKey({ tenant: "acme" });
    const revoked = store.revokeKey(record.id)!;
    expect(revoked.revokedAt).not.toBeNull();
    expect(store.revokeKey(record.id)!.revokedAt).toBe(revoked.revokedAt);
    expect(store.revokeKey("key_0000000000000000")).toBeNull();
    expect(() => store.rotateKey(record.id)).toThrow(expect.objectContaining({ status: 409, code: "key_revoked" }));
  });

  test("rotate: a new secret for the same key and settings; the old secret finds nothing", () => {
    const { record, secret } = store.createKey({ tenant: "acme", rpm: 7 });
    const rotated = store.rotateKey(record.id)!;
    expect(rotated.secret).not.toBe(secret);
    expect(isWellFormed(rotated.secret)).toBe(true);
    expect(rotated.record).toMatchObject({ id: record.id, rpm: 7, last4: rotated.secret.slice(-4) });
    expect(store.lookup(secretHash(secret))).toBeNull();
    expect(store.lookup(secretHash(rotated.secret))?.key.id).toBe(record.id);
    expect(store.rotateKey("key_0000000000000000")).toBeNull();
  });
});

describe("lookup", () => {
  test("finds a key by the hash of its secret, with its tenant's row if there is one", () => {
    const { record, secret } = store.createKey({ tenant: "acme" });
    expect(store.lookup(secretHash(secret))).toEqual({ key: record, tenant: null });
    const tenant = store.putTenant("acme", { rpm: 100 });
    expect(store.lookup(secretHash(secret))).toEqual({ key: record, tenant });
    expect(store.lookup(secretHash("wdn-unknown"))).toBeNull();
  });

  test("records handed out are frozen, so one request cannot change another's view", () => {
    const { secret } = store.createKey({ tenant: "acme", models: ["a"], metadata: { k: "v" } });
    const { key } = store.lookup(secretHash(secret))!;
    expect(Object.isFrozen(key)).toBe(true);
    expect(Object.isFrozen(key.models)).toBe(true);
    expect(Object.isFrozen(key.metadata)).toBe(true);
  });

  test("a change made through this connection shows on the next lookup", () => {
    const { record, secret } = store.createKey({ tenant: "acme" });
    const hash = secretHash(secret);
    expect(store.lookup(hash)!.key.revokedAt).toBeNull();
    store.revokeKey(record.id);
    expect(store.lookup(hash)!.key.revokedAt).not.toBeNull();
  });

  test("a change made by another connection (the CLI, another process) shows on the next lookup", () => {
    const { record, secret } = store.createKey({ tenant: "acme", rpm: 1 });
    const hash = secretHash(secret);
    expect(store.lookup(hash)!.key.rpm).toBe(1); // now cached
    const other = open();
    other.updateKey(record.id, { rpm: 2 });
    expect(store.lookup(hash)!.key.rpm).toBe(2);
    other.putTenant("acme", { tpm: 9 });
    expect(store.lookup(hash)!.tenant?.tpm).toBe(9);
    other.revokeKey(record.id);
    expect(store.lookup(hash)!.key.revokedAt).not.toBeNull();
    const rotated = other.rotateKey(store.createKey({ tenant: "acme" }).record.id)!;
    expect(store.lookup(secretHash(rotated.secret))).not.toBeNull();
  });

  test("a write from a separate OS process shows on the next lookup", async () => {
    const { record, secret } = store.createKey({ tenant: "acme" });
    const hash = secretHash(secret);
    expect(store.lookup(hash)!.key.enabled).toBe(true);
    const script = `import { openKeyStore } from ${JSON.stringify(join(import.meta.dir, "store.ts"))}; openKeyStore(${JSON.stringify(path)}).updateKey(${JSON.stringify(record.id)}, { enabled: false });`;
    const proc = Bun.spawn([process.execPath, "-e", script], { stderr: "pipe" });
    expect(await proc.exited).toBe(0);
    expect(store.lookup(hash)!.key.enabled).toBe(false);
  });
});

describe("tenants", () => {
  test("put creates and then replaces whole; list and get", () => {
    const first = store.putTenant("acme", { rpm: 100, tpm: 1000, wafPolicy: { pii: "block" }, metadata: { tier: "gold" } });
    expect(first).toMatchObject({ id: "acme", rpm: 100, tpm: 1000, maxConcurrent: null, maxBudgetUsd: null, wafPolicy: { pii: "block" }, metadata: { tier: "gold" } });
    const second = store.putTenant("acme", { maxConcurrent: 3 });
    expect(second).toMatchObject({ id: "acme", rpm: null, tpm: null, maxConcurrent: 3, wafPolicy: {}, metadata: {} });
    expect(second.createdAt).toBe(first.createdAt);
    store.putTenant("globex", {});
    expect(store.listTenants().map((t) => t.id)).toEqual(["acme", "globex"]);
    expect(store.getTenant("acme")).toEqual(second);
    expect(store.getTenant("nobody")).toBeNull();
  });

  test("refuses bad ids and settings", () => {
    expect(() => store.putTenant("bad id", {})).toThrow(expect.objectContaining({ status: 400, param: "id" }));
    expect(() => store.putTenant("acme", { rpm: 0 })).toThrow(expect.objectContaining({ status: 400, param: "rpm" }));
    expect(() => store.putTenant("acme", { wafPolicy: { "pii.email": "shout" as never } })).toThrow(expect.objectContaining({ param: "waf_policy.pii.email" }));
    expect(store.listTenants()).toEqual([]);
  });
});

describe("spend", () => {
  test("a database from before the spend table (schema 1) gains it on open, keys kept", () => {
    const { record } = store.createKey({ tenant: "acme", maxBudgetUsd: 5 });
    store.close();
    opened.splice(0);
    const db = new Database(path);
    db.run("DROP TABLE spend");
    db.run("PRAGMA user_version = 1");
    db.close();
    store = open();
    expect(store.getKey(record.id)?.maxBudgetUsd).toBe(5);
    expect(store.spentMicros("key", record.id)).toBe(0);
    store.addSpend([{ kind: "key", id: record.id, micros: 12 }]);
    expect(store.spentMicros("key", record.id)).toBe(12);
  });

  test("addSpend adds in one transaction and returns the totals; listSpend by kind; integers only", () => {
    expect(store.addSpend([])).toEqual([]);
    expect(store.addSpend([{ kind: "key", id: "key_a", micros: 5 }, { kind: "tenant", id: "acme", micros: 5 }])).toEqual([5, 5]);
    expect(store.addSpend([{ kind: "key", id: "key_a", micros: 2 ** 40 }, { kind: "key", id: "key_b", micros: 1 }])).toEqual([2 ** 40 + 5, 1]);
    expect(store.listSpend("key")).toEqual(new Map([["key_a", 2 ** 40 + 5], ["key_b", 1]]));
    expect(store.listSpend("tenant")).toEqual(new Map([["acme", 5]]));
    expect(store.spentMicros("tenant", "nobody")).toBe(0);
    // A bad row anywhere in the batch writes none of it.
    expect(() => store.addSpend([{ kind: "key", id: "key_a", micros: 1 }, { kind: "key", id: "key_a", micros: 1.5 }])).toThrow();
    expect(() => store.addSpend([{ kind: "key", id: "key_c", micros: -1 }])).toThrow();
    expect(() => store.addSpend([{ kind: "team" as never, id: "x", micros: 1 }])).toThrow();
    expect(store.spentMicros("key", "key_a")).toBe(2 ** 40 + 5);
    expect(store.spentMicros("key", "key_c")).toBe(0);
  });

  test("generation changes when another connection commits (seen by the look-up) or this one writes keys", () => {
    const { secret } = store.createKey({ tenant: "acme" });
    const hash = secretHash(secret);
    store.lookup(hash);
    const g = store.generation();
    store.lookup(hash);
    store.addSpend([{ kind: "key", id: "key_a", micros: 1 }]); // its own spend writes do not count
    expect(store.generation()).toBe(g);
    open().addSpend([{ kind: "key", id: "key_a", micros: 1 }]);
    expect(store.generation()).toBe(g);
    store.lookup(hash);
    expect(store.generation()).toBeGreaterThan(g);
    const g2 = store.generation();
    store.putTenant("acme", {});
    expect(store.generation()).toBeGreaterThan(g2);
  });
});
