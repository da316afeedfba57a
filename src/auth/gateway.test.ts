/**
 * The auth stage inside the gateway (`app.handle`): who the ledger names, which models a key
 * sees and may use. The upstream is the bundled mock model server; the key store a real file.
 */
import { afterAll, beforeEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startMockUpstream } from "../../bench/mock-upstream";
import { createGateway, type AuditPort } from "../app";
import type { HandOff } from "../audit/record";
import { loadConfig } from "../config";
import { openKeyStore } from "../keys/store";
import { entropy } from "../../test/support/core";

const MASTER = "test-master-key-0123456789";
const dir = mkdtempSync(join(tmpdir(), "warden-auth-gw-"));
const store = openKeyStore(join(dir, "keys.db"));
const mock = await startMockUpstream({ port: 0 });
afterAll(async () => {
  store.close();
  await mock.stop();
  rmSync(dir, { recursive: true, force: true });
});

const records: HandOff[] = [];
const audit: AuditPort = {
  handOff: (r) => {
    records.push(r);
    return undefined;
  },
  query: async () => ({ ok: false, status: 503, message: "no ledger here" }),
};
const env = { WARDEN_UPSTREAM_MOCK_URL: mock.url, WARDEN_UPSTREAM_MOCK_MODELS: "mock-gpt,mock-gpt-mini,mock-embed", WARDEN_MASTER_KEY: MASTER };
const { app } = createGateway(loadConfig(env), { coreVersion: "0.1.0", auditAlive: async () => true, entropy, audit, keys: store });
beforeEach(() => {
  records.length = 0;
});

const chat = (key: string | undefined, model: string) =>
  app.handle(
    new Request("http://localhost/v1/chat/completions", {
      method: "POST",
      headers: { "content-type": "application/json", ...(key ? { authorization: `Bearer ${key}` } : {}) },
      body: JSON.stringify({ model, messages: [{ role: "user", content: "hi" }] }),
    }),
  );
const get = (path: string, key: string) => app.handle(new Request(`http://localhost${path}`, { headers: { "x-api-key": key } }));
const errorOf = async (res: Response) => ((await res.json()) as { error: { code: string; type: string; param: string | null; message: string } }).error;
/** The hand-off is made as the reply goes out; give the microtask a moment. */
async function lastRecord(): Promise<HandOff> {
  for (let i = 0; i < 50 && records.length === 0; i++) await Bun.sleep(2);
  return records.at(-1)!;
}

describe("the audit record names the key and tenant", () => {
  test("a served request carries the key id and tenant (never the secret)", async () => {
    const { record, secret } = store.createKey({ tenant: "acme" });
    const res = await chat(secret, "mock-gpt");
    expect(res.status).toBe(200);
    await res.text();
    const r = await lastRecord();
    expect(r).toMatchObject({ keyId: record.id, tenant: "acme", model: "mock-gpt", status: 200, refusal: null });
    expect(JSON.stringify(r)).not.toContain(secret);
    // The upstream never sees the client's key.
    expect(JSON.stringify(mock.requests.at(-1)!.headers)).not.toContain(secret);
  });

  test("auth refusals keep them null", async () => {
    const res = await chat("wdn-bogus", "mock-gpt");
    expect(res.status).toBe(401);
    expect(await lastRecord()).toMatchObject({ keyId: null, tenant: null, status: 401, refusal: { stage: "auth", code: "invalid_api_key" } });
  });

  test("the master key is recorded as \"master\", with no tenant", async () => {
    const res = await chat(MASTER, "mock-gpt");
    expect(res.status).toBe(200);
    await res.text();
    expect(await lastRecord()).toMatchObject({ keyId: "master", tenant: null });
  });
});

describe("a key limited to some models", () => {
  const limited = store.createKey({ tenant: "globex", models: ["mock-gpt-mini"] });

  test("gets 403 model_not_allowed for another model, recorded with its key", async () => {
    const before = mock.requests.length;
    const res = await chat(limited.secret, "mock-gpt");
    expect(res.status).toBe(403);
    expect(await errorOf(res)).toMatchObject({ type: "permission_error", code: "model_not_allowed", param: "model" });
    expect(mock.requests.length).toBe(before);
    expect(await lastRecord()).toMatchObject({ keyId: limited.record.id, tenant: "globex", status: 403, refusal: { stage: "auth", code: "model_not_allowed" } });
    const ok = await chat(limited.secret, "mock-gpt-mini");
    expect(ok.status).toBe(200);
  });

  test("an unknown model is still 404 model_not_found", async () => {
    expect(await errorOf(await chat(limited.secret, "gpt-9"))).toMatchObject({ code: "model_not_found" });
  });

  test("/v1/models lists only its models; retrieving another is 404", async () => {
    const list = (await (await get("/v1/models", limited.secret)).json()) as { data: { id: string }[] };
    expect(list.data.map((m) => m.id)).toEqual(["mock-gpt-mini"]);
    expect((await get("/v1/models/mock-gpt-mini", limited.secret)).status).toBe(200);
    const other = await get("/v1/models/mock-gpt", limited.secret);
    expect(other.status).toBe(404);
    expect((await errorOf(other)).code).toBe("model_not_found");
  });

  test("keys without a model list, and the master key, see every model", async () => {
    const all = store.createKey({ tenant: "globex" }).secret;
    for (const key of [all, MASTER]) {
      const list = (await (await get("/v1/models", key)).json()) as { data: { id: string }[] };
      expect(list.data.map((m) => m.id)).toEqual(["mock-gpt", "mock-gpt-mini", "mock-embed"]);
    }
  });
});

describe("/v1 routes served by Elysia", () => {
  test("refuse missing, invalid and expired keys before the handler", async () => {
    const expired = store.createKey({ tenant: "acme", expiresAt: Date.now() - 1000 }).secret;
    expect((await errorOf(await app.handle(new Request("http://localhost/v1/models")))).code).toBe("missing_api_key");
    expect((await errorOf(await get("/v1/models", "nope"))).code).toBe("invalid_api_key");
    const res = await get("/v1/models", expired);
    expect(res.status).toBe(401);
    expect((await errorOf(res)).code).toBe("expired_api_key");
  });
});
