/** The key store's replication rows: changedSince on one file, applyRemote on another. */
import { afterEach, beforeEach, describe, expect, setSystemTime, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { secretHash } from "./secret";
import { openKeyStore, type KeyStore, type SyncKeyRow, type SyncTenantRow } from "./store";

let dir: string;
let a: KeyStore;
let b: KeyStore;
const opened: KeyStore[] = [];

function open(name: string): KeyStore {
  const s = openKeyStore(join(dir, name));
  opened.push(s);
  return s;
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "warden-sync-rows-"));
  a = open("a.db");
  b = open("b.db");
});
afterEach(() => {
  setSystemTime();
  for (const s of opened.splice(0)) s.close();
  rmSync(dir, { recursive: true, force: true });
});

const keyRow = (s: KeyStore, id: string): SyncKeyRow => s.changedSince(-1).keys.find((k) => k.id === id)!;
const tenantRow = (s: KeyStore, id: string): SyncTenantRow => s.changedSince(-1).tenants.find((t) => t.id === id)!;

describe("changedSince", () => {
  test("returns the raw rows changed after the given time, the secret's hash as lower-case hex", () => {
    const { record, secret } = a.createKey({ tenant: "acme", models: ["m"], rpm: 5, metadata: { team: "x" } });
    a.putTenant("acme", { tpm: 9, wafPolicy: { pii: "block" } });
    const rows = a.changedSince(record.updatedAt - 1);
    expect(rows.keys).toEqual([
      {
        id: record.id,
        secret_sha256: secretHash(secret).toString("hex"),
        last4: secret.slice(-4),
        tenant: "acme",
        name: null,
        models: '["m"]',
        rpm: 5,
        tpm: null,
        max_concurrent: null,
        max_budget_usd: null,
        expires_at: null,
        enabled: 1,
        metadata: '{"team":"x"}',
        waf_policy: "{}",
        created_at: record.createdAt,
        updated_at: record.updatedAt,
        revoked_at: null,
      },
    ]);
    expect(rows.keys[0].secret_sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.stringify(rows)).not.toContain(secret);
    expect(rows.tenants).toEqual([expect.objectContaining({ id: "acme", tpm: 9, waf_policy: '{"pii":"block"}', metadata: "{}" })]);
    const latest = Math.max(rows.keys[0].updated_at, rows.tenants[0].updated_at);
    expect(a.changedSince(latest)).toEqual({ keys: [], tenants: [] });
  });

  test("every kind of change moves updated_at forward, even within one millisecond", () => {
    setSystemTime(new Date(Date.UTC(2030, 0, 1)));
    const { record } = a.createKey({ tenant: "acme" });
    const other = a.createKey({ tenant: "acme" }).record;
    const t0 = record.updatedAt;
    const updated = a.updateKey(record.id, { rpm: 3 })!;
    expect(updated.updatedAt).toBeGreaterThan(t0);
    const rotated = a.rotateKey(record.id)!.record;
    expect(rotated.updatedAt).toBeGreaterThan(updated.updatedAt);
    const revoked = a.revokeKey(record.id)!;
    expect(revoked.updatedAt).toBeGreaterThan(rotated.updatedAt);
    // Revoking again changes nothing, so there is nothing new to replicate.
    expect(a.revokeKey(record.id)!.updatedAt).toBe(revoked.updatedAt);
    const first = a.putTenant("acme", { rpm: 1 });
    expect(a.putTenant("acme", { rpm: 2 }).updatedAt).toBeGreaterThan(first.updatedAt);
    // Each change is a row version of its own: a reader at the previous version sees it.
    expect(a.changedSince(rotated.updatedAt).keys.map((k) => k.id)).toEqual([record.id]);
    expect(a.getKey(other.id)!.updatedAt).toBe(t0);
  });

  test("refresh notices another connection's commit without a look-up", () => {
    const g = a.refresh();
    expect(a.refresh()).toBe(g);
    const cli = openKeyStore(a.path);
    opened.push(cli);
    cli.createKey({ tenant: "acme" });
    expect(a.refresh()).toBeGreaterThan(g);
    expect(a.generation()).toBe(a.refresh());
  });
});

describe("applyRemote", () => {
  test("round trip: created, updated, rotated and revoked keys look up the same on the other store", () => {
    const plain = a.createKey({ tenant: "acme" });
    const full = a.createKey({
      tenant: "globex",
      name: "batch",
      models: ["gpt-4o-mini"],
      rpm: 60,
      tpm: 1000,
      maxConcurrent: 2,
      maxBudgetUsd: 12.5,
      expiresAt: Date.UTC(2031, 0, 1),
      metadata: { team: "data" },
      wafPolicy: { pii: "redact" },
    });
    const toRotate = a.createKey({ tenant: "acme" });
    const toRevoke = a.createKey({ tenant: "acme" });
    a.putTenant("acme", { rpm: 100, metadata: { tier: "gold" } });
    a.updateKey(plain.record.id, { enabled: false, rpm: 7 });
    const rotated = a.rotateKey(toRotate.record.id)!;
    a.revokeKey(toRevoke.record.id);

    expect(b.applyRemote(a.changedSince(-1))).toBe(5);
    const secrets = [plain.secret, full.secret, toRotate.secret, rotated.secret, toRevoke.secret];
    for (const s of secrets) expect(b.lookup(secretHash(s))).toEqual(a.lookup(secretHash(s)));
    expect(b.lookup(secretHash(toRotate.secret))).toBeNull();
    expect(b.lookup(secretHash(rotated.secret))!.key.id).toBe(toRotate.record.id);
    expect(b.lookup(secretHash(toRevoke.secret))!.key.revokedAt).not.toBeNull();
    expect(b.lookup(secretHash(plain.secret))!.tenant?.rpm).toBe(100);
    expect(b.changedSince(-1)).toEqual(a.changedSince(-1));
    // Replaying changes nothing.
    expect(b.applyRemote(a.changedSince(-1))).toBe(0);
  });

  test("a remote revocation or rotation applies from the very next look-up (the cache is dropped)", () => {
    const { record, secret } = a.createKey({ tenant: "acme" });
    const other = a.createKey({ tenant: "acme" });
    b.applyRemote(a.changedSince(-1));
    const hash = secretHash(secret);
    expect(b.lookup(hash)!.key.revokedAt).toBeNull(); // now cached
    expect(b.lookup(secretHash(other.secret))).not.toBeNull();
    const g = b.generation();
    a.revokeKey(record.id);
    const rotated = a.rotateKey(other.record.id)!;
    expect(b.applyRemote(a.changedSince(-1))).toBe(2);
    expect(b.generation()).toBeGreaterThan(g);
    expect(b.lookup(hash)!.key.revokedAt).not.toBeNull();
    expect(b.lookup(secretHash(other.secret))).toBeNull();
    expect(b.lookup(secretHash(rotated.secret))!.key.id).toBe(other.record.id);
  });

  test("the later updated_at wins; a tie or an older row keeps the local one", () => {
    const { record } = a.createKey({ tenant: "acme", rpm: 1 });
    a.putTenant("acme", { rpm: 1 });
    b.applyRemote(a.changedSince(-1));
    const k = keyRow(b, record.id);
    const t = tenantRow(b, "acme");
    const g = b.generation();

    expect(b.applyRemote({ keys: [{ ...k, rpm: 2, updated_at: k.updated_at - 1 }], tenants: [{ ...t, rpm: 2, updated_at: t.updated_at - 1 }] })).toBe(0);
    expect(b.applyRemote({ keys: [{ ...k, rpm: 3 }], tenants: [{ ...t, rpm: 3 }] })).toBe(0);
    expect(b.generation()).toBe(g);
    expect(b.getKey(record.id)!.rpm).toBe(1);
    expect(b.getTenant("acme")!.rpm).toBe(1);

    expect(b.applyRemote({ keys: [{ ...k, rpm: 4, updated_at: k.updated_at + 1 }], tenants: [{ ...t, rpm: 4, updated_at: t.updated_at + 1 }] })).toBe(2);
    expect(b.getKey(record.id)).toMatchObject({ rpm: 4, updatedAt: k.updated_at + 1 });
    expect(b.getTenant("acme")).toMatchObject({ rpm: 4, updatedAt: t.updated_at + 1 });
  });

  test("a revocation is never undone by a later edit made before it arrived, and revokes an older row", () => {
    const { record } = a.createKey({ tenant: "acme", rpm: 1 });
    b.applyRemote(a.changedSince(-1));
    const before = keyRow(a, record.id);
    const revoked = a.revokeKey(record.id)!;
    // B edits the key before A's revocation reaches it; B's edit is later.
    const edit = { ...before, rpm: 9, updated_at: revoked.updatedAt + 5 };
    expect(a.applyRemote({ keys: [edit] })).toBe(1);
    const merged = a.getKey(record.id)!;
    expect(merged).toMatchObject({ rpm: 9, revokedAt: revoked.revokedAt });
    // A new version, so A sends the merge on and B takes it over its own edit.
    expect(merged.updatedAt).toBeGreaterThan(edit.updated_at);
    // The other way round: an older revoked row revokes a key that is not, as a newer version.
    setSystemTime(new Date(Date.UTC(2020, 0, 1))); // even with the clock behind
    const local = b.updateKey(record.id, { rpm: 8 })!;
    expect(b.applyRemote({ keys: [{ ...keyRow(a, record.id), updated_at: local.updatedAt - 1 }] })).toBe(1);
    expect(b.getKey(record.id)).toMatchObject({ rpm: 8, revokedAt: revoked.revokedAt, updatedAt: local.updatedAt + 1 });
  });

  test("malformed rows are skipped, with the reason, and the good rows around them are applied", () => {
    const { record, secret } = a.createKey({ tenant: "acme" });
    const clash = a.createKey({ tenant: "acme" }).record;
    a.putTenant("acme", {});
    const good = keyRow(a, record.id);
    const t = tenantRow(a, "acme");
    const hex = good.secret_sha256;
    const bad: unknown[] = [
      null,
      "row",
      42,
      [],
      { ...good, id: undefined },
      { ...good, id: "key_../../etc" },
      { ...good, id: "key_aaaaaaaaaaaaaaa1", secret_sha256: hex.slice(1) },
      { ...good, id: "key_aaaaaaaaaaaaaaa2", secret_sha256: `${hex.slice(1)}g` },
      { ...good, id: "key_aaaaaaaaaaaaaaa3", secret_sha256: secret },
      { ...good, id: "key_aaaaaaaaaaaaaaa4", secret_sha256: Array.from({ length: 32 }, () => 1) },
      { ...good, id: "key_aaaaaaaaaaaaaaa5", enabled: true },
      { ...good, id: "key_aaaaaaaaaaaaaaa6", rpm: "5" },
      { ...good, id: "key_aaaaaaaaaaaaaaa7", rpm: 1.5 },
      { ...good, id: "key_aaaaaaaaaaaaaaa8", models: "[not json" },
      { ...good, id: "key_aaaaaaaaaaaaaaa9", models: '"gpt"' },
      { ...good, id: "key_aaaaaaaaaaaaaab0", metadata: '{"k":1}' },
      { ...good, id: "key_aaaaaaaaaaaaaab1", waf_policy: '{"pii":"delete"}' },
      { ...good, id: "key_aaaaaaaaaaaaaab2", waf_policy: null },
      { ...good, id: "key_aaaaaaaaaaaaaab3", tenant: "has space" },
      { ...good, id: "key_aaaaaaaaaaaaaab4", updated_at: "1" },
      { ...good, id: "key_aaaaaaaaaaaaaab5", updated_at: -1 },
      { ...good, id: "key_aaaaaaaaaaaaaab6", revoked_at: 1.5 },
      { ...good, id: "key_aaaaaaaaaaaaaab7", name: 5 },
      // Well-formed, but its hash is another key's: the database's unique index refuses it.
      { ...keyRow(a, clash.id), id: "key_aaaaaaaaaaaaaab8", secret_sha256: hex },
    ];
    const badTenants: unknown[] = [{ ...t, id: "bad id" }, { ...t, rpm: 0 }, { ...t, metadata: "{" }, { ...t, created_at: null }];
    const skipped: { table: string; id: unknown; reason: string }[] = [];
    const changed = b.applyRemote(
      { keys: [...bad.slice(0, 12), good, ...bad.slice(12)] as SyncKeyRow[], tenants: [...badTenants, t] as SyncTenantRow[] },
      (table, id, reason) => void skipped.push({ table, id, reason }),
    );
    expect(changed).toBe(2);
    expect(skipped.filter((s) => s.table === "keys")).toHaveLength(bad.length);
    expect(skipped.filter((s) => s.table === "tenants")).toHaveLength(badTenants.length);
    for (const s of skipped) {
      expect(s.reason.length).toBeGreaterThan(0);
      expect(s.reason).not.toContain(hex);
      expect(s.reason).not.toContain(secret);
    }
    expect(b.listKeys().map((k) => k.id)).toEqual([record.id]);
    expect(b.lookup(secretHash(secret))).toEqual(a.lookup(secretHash(secret)));
    expect(b.listTenants().map((x) => x.id)).toEqual(["acme"]);
    // Not a list at all, or nothing: no change, no error.
    expect(b.applyRemote({ keys: "rows" as never, tenants: { id: "x" } as never })).toBe(0);
    expect(b.applyRemote({})).toBe(0);
  });
});
