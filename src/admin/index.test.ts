/** The admin API in-process (`app.handle`), on a real key database. */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createGateway } from "../app";
import { loadConfig } from "../config";
import { isWellFormed, secretHash } from "../keys/secret";
import { openKeyStore } from "../keys/store";
import { entropy } from "../../test/support/core";

const MASTER = "admin-master-key-0123456789";
const dir = mkdtempSync(join(tmpdir(), "warden-admin-"));
const store = openKeyStore(join(dir, "keys.db"));
afterAll(() => {
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

const env = { WARDEN_UPSTREAM_A_URL: "http://127.0.0.1:1/v1", WARDEN_UPSTREAM_A_MODELS: "gpt-4o-mini,gpt-4o", WARDEN_MASTER_KEY: MASTER };
const deps = { coreVersion: "0.1.0", auditAlive: async () => true, entropy, keys: store };
const { app } = createGateway(loadConfig(env), deps);

interface Err {
  error: { message: string; type: string; param: string | null; code: string | null };
}
interface KeyJson {
  id: string;
  key?: string;
  tenant: string;
  status: string;
  [field: string]: unknown;
}

function call(method: string, path: string, body?: unknown, key: string | null = MASTER, raw?: string) {
  const headers: Record<string, string> = {};
  if (key !== null) headers.authorization = `Bearer ${key}`;
  if (body !== undefined || raw !== undefined) headers["content-type"] = "application/json";
  return app.handle(new Request(`http://localhost${path}`, { method, headers, body: raw ?? (body === undefined ? undefined : JSON.stringify(body)) }));
}
async function ok<T = KeyJson>(res: Promise<Response>, status = 200): Promise<T> {
  const r = await res;
  const text = await r.text();
  expect({ status: r.status, text }).toMatchObject({ status });
  return JSON.parse(text) as T;
}
async function fails(res: Promise<Response>, status: number): Promise<Err["error"]> {
  const r = await res;
  expect(r.status).toBe(status);
  const body = (await r.json()) as Err;
  // Only the OpenAI error shape, never Elysia's validation details.
  expect(Object.keys(body)).toEqual(["error"]);
  expect(Object.keys(body.error).sort()).toEqual(["code", "message", "param", "type"]);
  return body.error;
}
const useKey = (key: string) => app.handle(new Request("http://localhost/v1/models", { headers: { authorization: `Bearer ${key}` } }));

describe("who may use the admin API", () => {
  test("without WARDEN_MASTER_KEY it is off: 404 admin_disabled, whatever the key", async () => {
    const { app: open } = createGateway(loadConfig({ ...env, WARDEN_MASTER_KEY: "" }), deps);
    for (const path of ["/admin/keys", "/admin/tenants", "/admin"]) {
      const res = await open.handle(new Request(`http://localhost${path}`, { headers: { authorization: `Bearer ${MASTER}` } }));
      expect(res.status).toBe(404);
      expect(((await res.json()) as Err).error.code).toBe("admin_disabled");
    }
  });

  test("missing or wrong key → 401; a virtual key → 403; checked before the body is parsed", async () => {
    expect((await fails(call("GET", "/admin/keys", undefined, null), 401)).code).toBe("missing_api_key");
    expect((await fails(call("GET", "/admin/keys", undefined, "wrong-key"), 401)).code).toBe("invalid_api_key");
    expect((await fails(call("POST", "/admin/keys", undefined, null, "{not json"), 401)).code).toBe("missing_api_key");
    const { secret } = store.createKey({ tenant: "acme" });
    const e = await fails(call("GET", "/admin/keys", undefined, secret), 403);
    expect(e).toMatchObject({ type: "permission_error", code: "admin_key_required" });
    expect((await call("GET", "/admin/keys", undefined, null)).headers.get("content-type")).toContain("application/json");
  });

  test("x-api-key works too; unknown admin URLs are 404, not 200", async () => {
    const res = await app.handle(new Request("http://localhost/admin/tenants", { headers: { "x-api-key": MASTER } }));
    expect(res.status).toBe(200);
    expect((await fails(call("GET", "/admin/nothing"), 404)).code).toBe("unknown_url");
    expect((await fails(call("DELETE", "/admin/keys"), 404)).code).toBe("unknown_url");
    expect((await fails(call("GET", "/administrator"), 404)).code).toBe("unknown_url");
  });
});

describe("keys", () => {
  test("replies that hold a secret are not to be cached", async () => {
    const res = await call("POST", "/admin/keys", { tenant: "acme" });
    expect(res.headers.get("cache-control")).toBe("no-store");
    const { id } = (await res.json()) as KeyJson;
    expect((await call("POST", `/admin/keys/${id}/rotate`)).headers.get("cache-control")).toBe("no-store");
  });

  test("create → 201 with the secret once; the key works at once", async () => {
    const created = await ok(call("POST", "/admin/keys", { tenant: "acme", name: "ci", models: ["gpt-4o-mini"], rpm: 60, expires_at: "2099-01-01", metadata: { team: "data" }, waf_policy: { pii: "redact" } }), 201);
    expect(created).toMatchObject({
      object: "api_key",
      tenant: "acme",
      name: "ci",
      status: "active",
      enabled: true,
      models: ["gpt-4o-mini"],
      rpm: 60,
      tpm: null,
      max_concurrent: null,
      max_budget_usd: null,
      expires_at: "2099-01-01T00:00:00.000Z",
      metadata: { team: "data" },
      waf_policy: { pii: "redact" },
      revoked_at: null,
    });
    expect(isWellFormed(created.key!)).toBe(true);
    expect(created.redacted_key).toBe(`wdn-…${created.key!.slice(-4)}`);
    expect((await useKey(created.key!)).status).toBe(200);
  });

  test("list and get never show a secret or its hash; ?tenant= filters", async () => {
    const a = await ok(call("POST", "/admin/keys", { tenant: "list-a" }), 201);
    const b = await ok(call("POST", "/admin/keys", { tenant: "list-b" }), 201);
    const all = await ok<{ object: string; data: KeyJson[] }>(call("GET", "/admin/keys"));
    expect(all.object).toBe("list");
    expect(all.data.map((k) => k.id)).toEqual(expect.arrayContaining([a.id, b.id]));
    const text = JSON.stringify(all);
    for (const k of [a, b]) {
      expect(text).not.toContain(k.key!);
      expect(text).not.toContain(secretHash(k.key!).toString("hex"));
      expect(text).not.toContain(secretHash(k.key!).toString("base64"));
    }
    expect(all.data.every((k) => !("key" in k) && !("secret_sha256" in k))).toBe(true);
    const onlyA = await ok<{ data: KeyJson[] }>(call("GET", "/admin/keys?tenant=list-a"));
    expect(onlyA.data.map((k) => k.id)).toEqual([a.id]);
    const one = await ok(call("GET", `/admin/keys/${b.id}`));
    expect(one).toMatchObject({ id: b.id, tenant: "list-b" });
    expect("key" in one).toBe(false);
    expect((await fails(call("GET", "/admin/keys/key_0000000000000000"), 404)).code).toBe("key_not_found");
  });

  test("patch changes what it names, and applies from the next request", async () => {
    const k = await ok(call("POST", "/admin/keys", { tenant: "acme", rpm: 5 }), 201);
    const patched = await ok(call("PATCH", `/admin/keys/${k.id}`, { rpm: null, tpm: 1000, name: "renamed", enabled: false, expires_at: null }));
    expect(patched).toMatchObject({ id: k.id, tenant: "acme", rpm: null, tpm: 1000, name: "renamed", enabled: false, status: "disabled" });
    expect((await useKey(k.key!)).status).toBe(401);
    await ok(call("PATCH", `/admin/keys/${k.id}`, { enabled: true }));
    expect((await useKey(k.key!)).status).toBe(200);
    await ok(call("PATCH", `/admin/keys/${k.id}`, { expires_at: "2000-01-01T00:00:00Z" }));
    const expired = await useKey(k.key!);
    expect(((await expired.json()) as Err).error.code).toBe("expired_api_key");
    expect((await fails(call("PATCH", "/admin/keys/key_0000000000000000", { rpm: 1 }), 404)).code).toBe("key_not_found");
  });

  test("revoke: 401 from the next request; revoking again keeps the time; rotate then refuses (409)", async () => {
    const k = await ok(call("POST", "/admin/keys", { tenant: "acme" }), 201);
    const revoked = await ok(call("POST", `/admin/keys/${k.id}/revoke`));
    expect(revoked.status).toBe("revoked");
    expect(revoked.revoked_at).toEqual(expect.any(String));
    const res = await useKey(k.key!);
    expect(res.status).toBe(401);
    expect(((await res.json()) as Err).error.code).toBe("invalid_api_key");
    expect((await ok(call("POST", `/admin/keys/${k.id}/revoke`))).revoked_at).toBe(revoked.revoked_at);
    expect((await fails(call("POST", `/admin/keys/${k.id}/rotate`), 409)).code).toBe("key_revoked");
    expect((await fails(call("POST", "/admin/keys/key_0000000000000000/revoke"), 404)).code).toBe("key_not_found");
  });

  test("rotate: a new secret, the old one invalid at once, settings kept", async () => {
    const k = await ok(call("POST", "/admin/keys", { tenant: "acme", rpm: 9 }), 201);
    const rotated = await ok(call("POST", `/admin/keys/${k.id}/rotate`));
    expect(rotated).toMatchObject({ id: k.id, rpm: 9 });
    expect(rotated.key).not.toBe(k.key);
    expect(isWellFormed(rotated.key!)).toBe(true);
    expect((await useKey(k.key!)).status).toBe(401);
    expect((await useKey(rotated.key!)).status).toBe(200);
  });
});

describe("validation: 400 in the OpenAI shape, naming the field", () => {
  test.each([
    { label: "a limit below 1", body: { tenant: "acme", rpm: 0 }, param: "rpm", code: "invalid_value" },
    { label: "a fractional limit", body: { tenant: "acme", max_concurrent: 1.5 }, param: "max_concurrent", code: "invalid_value" },
    { label: "a negative budget", body: { tenant: "acme", max_budget_usd: -1 }, param: "max_budget_usd", code: "invalid_value" },
    { label: "a bad tenant id", body: { tenant: "a b" }, param: "tenant", code: "invalid_value" },
    { label: "no tenant", body: { rpm: 5 }, param: "tenant", code: "missing_required_parameter" },
    { label: "an unknown field", body: { tenant: "acme", max_concurent: 5 }, param: "max_concurent", code: "unknown_parameter" },
    { label: "a non-string metadata value", body: { tenant: "acme", metadata: { a: 1 } }, param: "metadata.a", code: "invalid_value" },
    { label: "an unknown WAF action", body: { tenant: "acme", waf_policy: { pii: "shred" } }, param: "waf_policy.pii", code: "invalid_value" },
    { label: "an unknown WAF rule", body: { tenant: "acme", waf_policy: { sqli: "block" } }, param: "waf_policy.sqli", code: "invalid_value" },
    { label: "models not a list", body: { tenant: "acme", models: "gpt-4o" }, param: "models", code: "invalid_value" },
    { label: "a repeated model", body: { tenant: "acme", models: ["a", "a"] }, param: "models", code: "invalid_value" },
    { label: "an unreadable expiry", body: { tenant: "acme", expires_at: "next tuesday" }, param: "expires_at", code: "invalid_value" },
    { label: "enabled not a boolean", body: { tenant: "acme", enabled: "yes" }, param: "enabled", code: "invalid_value" },
  ] as { label: string; body: unknown; param: string; code: string }[])("create with $label → param $param", async ({ body, param, code }) => {
    const before = store.listKeys().length;
    const e = await fails(call("POST", "/admin/keys", body), 400);
    expect(e).toMatchObject({ type: "invalid_request_error", param, code });
    expect(e.message).toContain(param.split(".")[0]);
    expect(store.listKeys().length).toBe(before);
  });

  test("a key's tenant cannot be changed; bad JSON and non-objects are 400", async () => {
    const k = await ok(call("POST", "/admin/keys", { tenant: "acme" }), 201);
    expect(await fails(call("PATCH", `/admin/keys/${k.id}`, { tenant: "other" }), 400)).toMatchObject({ param: "tenant", code: "unknown_parameter" });
    expect((await fails(call("POST", "/admin/keys", undefined, MASTER, "{not json"), 400)).code).toBe("invalid_body");
    for (const body of [[1, 2], "text", null]) expect((await fails(call("POST", "/admin/keys", body), 400)).code).toBe("invalid_body");
    expect((await fails(call("GET", "/admin/keys?tenant=a%20b"), 400)).param).toBe("tenant");
  });
});

describe("tenants", () => {
  test("put creates then replaces; list; get; 404 for an unknown one", async () => {
    const first = await ok(call("PUT", "/admin/tenants/acme", { rpm: 100, waf_policy: { "*": "flag" }, metadata: { tier: "gold" } }));
    expect(first).toMatchObject({ object: "tenant", id: "acme", rpm: 100, tpm: null, waf_policy: { "*": "flag" }, metadata: { tier: "gold" } });
    const second = await ok(call("PUT", "/admin/tenants/acme", { tpm: 5000 }));
    expect(second).toMatchObject({ id: "acme", rpm: null, tpm: 5000, waf_policy: {}, metadata: {}, created_at: first.created_at });
    const list = await ok<{ data: { id: string }[] }>(call("GET", "/admin/tenants"));
    expect(list.data.map((t) => t.id)).toContain("acme");
    expect(await ok(call("GET", "/admin/tenants/acme"))).toEqual(second);
    expect((await fails(call("GET", "/admin/tenants/nobody"), 404)).code).toBe("tenant_not_found");
  });

  test("a key sees its tenant's row from the next request", async () => {
    const k = await ok(call("POST", "/admin/keys", { tenant: "initech" }), 201);
    expect(store.lookup(secretHash(k.key!))?.tenant).toBeNull();
    await ok(call("PUT", "/admin/tenants/initech", { max_concurrent: 2 }));
    expect(store.lookup(secretHash(k.key!))?.tenant?.maxConcurrent).toBe(2);
  });

  test("validation names the field; a bad id is refused", async () => {
    expect(await fails(call("PUT", "/admin/tenants/acme", { tpm: -5 }), 400)).toMatchObject({ param: "tpm" });
    expect(await fails(call("PUT", "/admin/tenants/acme", { tenant: "x" }), 400)).toMatchObject({ param: "tenant", code: "unknown_parameter" });
    expect(await fails(call("PUT", "/admin/tenants/bad%20id", {}), 400)).toMatchObject({ param: "id" });
  });
});
