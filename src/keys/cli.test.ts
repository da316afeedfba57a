/** `warden keys` / `warden tenants` in-process, on real database files. */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runKeysCli } from "./cli";
import { isWellFormed, secretHash } from "./secret";
import { openKeyStore } from "./store";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "warden-keys-cli-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function run(args: string[], env: Record<string, string | undefined> = {}) {
  let out = "";
  let err = "";
  const code = runKeysCli(args, { env, out: (t) => (out += t), err: (t) => (err += t) });
  return { code, out, err, json: () => JSON.parse(out) };
}
const inDir = (args: string[]) => run([...args, "--data-dir", dir]);

describe("warden keys", () => {
  test("create prints the key once as JSON, warns on stderr, and the store finds it", () => {
    const r = inDir(["keys", "create", "--tenant", "acme", "--name", "ci", "--models", "gpt-4o-mini, gpt-4o", "--rpm", "60", "--tpm", "1000", "--max-concurrent", "2", "--budget", "12.50", "--expires", "2030-06-01", "--metadata", "team=data", "--metadata", "env=prod", "--policy", "pii=redact", "--policy=secret.aws=block"]);
    expect(r.code).toBe(0);
    const key = r.json();
    expect(key).toMatchObject({
      tenant: "acme",
      name: "ci",
      models: ["gpt-4o-mini", "gpt-4o"],
      rpm: 60,
      tpm: 1000,
      max_concurrent: 2,
      max_budget_usd: 12.5,
      expires_at: "2030-06-01T00:00:00.000Z",
      metadata: { team: "data", env: "prod" },
      waf_policy: { pii: "redact", "secret.aws": "block" },
      status: "active",
    });
    expect(isWellFormed(key.key)).toBe(true);
    expect(r.err).toContain("only time");
    expect(r.err).not.toContain(key.key);
    const store = openKeyStore(join(dir, "keys.db"));
    expect(store.lookup(secretHash(key.key))?.key.id).toBe(key.id);
    store.close();
  });

  test("get, list and tenants show spend in dollars from the key database; a budget above $1e9 is refused", () => {
    const a = inDir(["keys", "create", "--tenant", "acme", "--budget", "0.05"]).json();
    const b = inDir(["keys", "create", "--tenant", "acme"]).json();
    expect(a.spent_usd).toBe(0);
    inDir(["tenants", "set", "acme", "--budget", "1"]);
    const store = openKeyStore(join(dir, "keys.db"));
    store.addSpend([{ kind: "key", id: a.id, micros: 12_345 }, { kind: "tenant", id: "acme", micros: 12_345 }]);
    store.close();
    expect(inDir(["keys", "get", a.id]).json()).toMatchObject({ max_budget_usd: 0.05, spent_usd: 0.012345 });
    const listed = inDir(["keys", "list"]).json().data;
    expect(listed.map((k: { id: string; spent_usd: number }) => [k.id, k.spent_usd])).toEqual([[a.id, 0.012345], [b.id, 0]]);
    expect(inDir(["tenants", "get", "acme"]).json()).toMatchObject({ max_budget_usd: 1, spent_usd: 0.012345 });
    expect(inDir(["tenants", "list"]).json().data[0].spent_usd).toBe(0.012345);
    const tooBig = inDir(["keys", "create", "--tenant", "acme", "--budget", "1000000001"]);
    expect(tooBig.code).toBe(2);
    expect(tooBig.err).toContain("max_budget_usd");
  });

  test("a relative expiry counts from now", () => {
    const before = Date.now();
    const key = inDir(["keys", "create", "--tenant", "acme", "--expires", "30d"]).json();
    const at = Date.parse(key.expires_at);
    expect(at - before).toBeGreaterThanOrEqual(30 * 86_400_000 - 1000);
    expect(at - before).toBeLessThanOrEqual(30 * 86_400_000 + 5000);
  });

  test("list, get, update, revoke, rotate", () => {
    const a = inDir(["keys", "create", "--tenant", "acme"]).json();
    const b = inDir(["keys", "create", "--tenant", "globex"]).json();
    const list = inDir(["keys", "list"]);
    expect(list.json().data.map((k: { id: string }) => k.id).sort()).toEqual([a.id, b.id].sort());
    expect(list.out).not.toContain(a.key);
    expect(inDir(["keys", "list", "--tenant", "globex"]).json().data.map((k: { id: string }) => k.id)).toEqual([b.id]);
    expect(inDir(["keys", "get", a.id]).json()).toMatchObject({ id: a.id, tenant: "acme" });

    const updated = inDir(["keys", "update", a.id, "--rpm", "5", "--disable", "--models", "m1"]).json();
    expect(updated).toMatchObject({ rpm: 5, enabled: false, status: "disabled", models: ["m1"] });
    expect(inDir(["keys", "update", a.id, "--rpm", "none", "--enable", "--models", "all", "--expires", "never"]).json()).toMatchObject({ rpm: null, enabled: true, models: null, expires_at: null });

    const rotated = inDir(["keys", "rotate", a.id]);
    expect(rotated.code).toBe(0);
    expect(rotated.json().key).not.toBe(a.key);
    expect(rotated.err).toContain("only time");

    expect(inDir(["keys", "revoke", a.id]).json().status).toBe("revoked");
    const again = inDir(["keys", "rotate", a.id]);
    expect(again.code).toBe(1);
    expect(again.err).toContain("revoked");
  });

  test("unknown key ids exit 1", () => {
    inDir(["keys", "create", "--tenant", "acme"]);
    for (const sub of ["get", "revoke", "rotate"]) {
      const r = inDir(["keys", sub, "key_0000000000000000"]);
      expect(r.code).toBe(1);
      expect(r.err).toContain("no key with id key_0000000000000000");
      expect(r.out).toBe("");
    }
    expect(inDir(["keys", "update", "key_0000000000000000", "--rpm", "1"]).code).toBe(1);
  });

  test.each([
    [["keys"], "needs a subcommand"],
    [["keys", "frob"], "unknown subcommand"],
    [["keys", "create"], "needs --tenant"],
    [["keys", "create", "--tenant", "acme", "--rpm", "lots"], "--rpm needs a whole number"],
    [["keys", "create", "--tenant", "acme", "--budget", "$5"], "--budget"],
    [["keys", "create", "--tenant", "acme", "--expires", "soon"], "--expires"],
    [["keys", "create", "--tenant", "acme", "--metadata", "novalue"], "KEY=VALUE"],
    [["keys", "create", "--tenant", "acme", "--bogus", "1"], "unknown option --bogus"],
    [["keys", "create", "--tenant", "acme", "--rpm"], "--rpm needs a value"],
    [["keys", "create", "--tenant", "acme", "--rpm", "1", "--rpm", "2"], "given twice"],
    [["keys", "get"], "exactly one id"],
    [["keys", "update", "key_x"], "at least one setting"],
    [["keys", "update", "key_x", "--enable", "--disable"], "contradict"],
    [["keys", "create", "--tenant", "bad tenant"], "tenant"],
    [["keys", "create", "--tenant", "acme", "--policy", "pii=shred"], "waf_policy.pii"],
    [["keys", "create", "--tenant", "acme", "--rpm", "0"], "rpm"],
  ])("usage error %j exits 2 (%s)", (args, message) => {
    if (args[1] === "update") inDir(["keys", "create", "--tenant", "acme"]); // the database must exist
    const r = args.length > 2 ? inDir(args) : run(args);
    expect(r.code).toBe(2);
    expect(r.err).toContain(message);
    expect(r.out).toBe("");
  });

  test("only create makes a database; other commands refuse a missing one (exit 1)", () => {
    const elsewhere = join(dir, "nope");
    const r = run(["keys", "list", "--data-dir", elsewhere]);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`no key database at ${join(elsewhere, "keys.db")}`);
    expect(existsSync(elsewhere)).toBe(false);
    const created = run(["keys", "create", "--tenant", "acme", "--data-dir", elsewhere]);
    expect(created.code).toBe(0);
    expect(created.err).toContain(`creating a new key database at ${join(elsewhere, "keys.db")}`);
    expect(existsSync(join(elsewhere, "keys.db"))).toBe(true);
    expect(run(["keys", "create", "--tenant", "acme", "--data-dir", elsewhere]).err).not.toContain("creating a new key database");
  });

  test("finds the database the way serve does: WARDEN_DATA_DIR, env file, --env-file", () => {
    const fromEnv = join(dir, "from-env");
    expect(run(["keys", "create", "--tenant", "acme"], { WARDEN_DATA_DIR: fromEnv }).code).toBe(0);
    expect(existsSync(join(fromEnv, "keys.db"))).toBe(true);

    const fromFile = join(dir, "from-file");
    const envFile = join(dir, "warden.env");
    writeFileSync(envFile, `WARDEN_DATA_DIR=${fromFile}\n`);
    expect(run(["keys", "create", "--tenant", "acme", "--env-file", envFile]).code).toBe(0);
    expect(run(["keys", "list"], { WARDEN_ENV_FILE: envFile }).json().data).toHaveLength(1);

    const bad = run(["keys", "list"], { WARDEN_PORT: "eighty" });
    expect(bad.code).toBe(2);
    expect(bad.err).toContain("configuration error: WARDEN_PORT");
  });
});

describe("warden tenants", () => {
  test("set, list, get; unknown tenant exits 1", () => {
    const set = inDir(["tenants", "set", "acme", "--rpm", "100", "--policy", "*=flag", "--metadata", "tier=gold"]);
    expect(set.code).toBe(0);
    expect(set.json()).toMatchObject({ object: "tenant", id: "acme", rpm: 100, waf_policy: { "*": "flag" }, metadata: { tier: "gold" } });
    expect(inDir(["tenants", "list"]).json().data.map((t: { id: string }) => t.id)).toEqual(["acme"]);
    expect(inDir(["tenants", "get", "acme"]).json().rpm).toBe(100);
    expect(inDir(["tenants", "get", "nobody"]).code).toBe(1);
    expect(inDir(["tenants", "set", "acme", "--name", "x"]).code).toBe(2);
  });
});
