/** The HTTP surface in-process (`app.handle`), no upstream traffic needed. */
import { describe, expect, test } from "bun:test";
import { createGateway } from "./app";
import { loadConfig } from "./config";
import { entropy } from "../test/support/core";

const KEY = "test-master-key-0123456789";
const env = {
  WARDEN_UPSTREAM_A_URL: "http://127.0.0.1:1/v1",
  WARDEN_UPSTREAM_A_MODELS: "gpt-4o-mini,meta-llama/Llama-3.1-8B",
  WARDEN_MAX_BODY_BYTES: "2048",
};
const app = createGateway(loadConfig(env), { coreVersion: "0.1.0", auditAlive: async () => true, entropy }).app;
const locked = createGateway(loadConfig({ ...env, WARDEN_MASTER_KEY: KEY }), { coreVersion: "0.1.0", auditAlive: async () => true, entropy }).app;

function post(path: string, body: string, headers: Record<string, string> = {}) {
  return new Request(`http://localhost${path}`, { method: "POST", body, headers: { "content-type": "application/json", ...headers } });
}

async function error(res: Response) {
  return ((await res.json()) as { error: { message: string; type: string; param: string | null; code: string } }).error;
}

describe("routes", () => {
  test("health and readiness", async () => {
    expect(await (await app.handle(new Request("http://localhost/health"))).json()).toEqual({ status: "ok" });
    const ready = await app.handle(new Request("http://localhost/ready"));
    expect(ready.status).toBe(200);
    const noUpstream = createGateway(loadConfig({}), { coreVersion: "0.1.0", auditAlive: async () => true, entropy }).app;
    expect((await noUpstream.handle(new Request("http://localhost/ready"))).status).toBe(503);
    const deadWorker = createGateway(loadConfig(env), { coreVersion: "0.1.0", auditAlive: async () => false, entropy }).app;
    const res = await deadWorker.handle(new Request("http://localhost/ready"));
    expect(res.status).toBe(503);
    expect(((await res.json()) as { checks: Record<string, boolean> }).checks.audit_worker).toBe(false);
  });

  test("unknown routes and wrong methods are 404 in the OpenAI shape, never 200", async () => {
    for (const req of [new Request("http://localhost/nope"), new Request("http://localhost/v1/chat/completions"), post("/v1/unknown", "{}")]) {
      const res = await app.handle(req);
      expect(res.status).toBe(404);
      expect((await error(res)).code).toBe("unknown_url");
    }
  });

  test("/v1/models lists only the configured models; ids may contain slashes", async () => {
    const list = (await (await app.handle(new Request("http://localhost/v1/models"))).json()) as { data: { id: string; object: string }[] };
    expect(list.data.map((m) => m.id)).toEqual(["gpt-4o-mini", "meta-llama/Llama-3.1-8B"]);
    const one = await app.handle(new Request("http://localhost/v1/models/meta-llama/Llama-3.1-8B"));
    expect(((await one.json()) as { id: string }).id).toBe("meta-llama/Llama-3.1-8B");
    const missing = await app.handle(new Request("http://localhost/v1/models/gpt-9"));
    expect(missing.status).toBe(404);
    expect((await error(missing)).code).toBe("model_not_found");
    expect((await app.handle(new Request("http://localhost/v1/models/bad%zz"))).status).toBe(404);
  });
});

describe("request errors", () => {
  test.each([
    { label: "bad JSON", body: "{not json", status: 400, code: "invalid_json", param: null },
    { label: "a JSON array", body: "[1,2]", status: 400, code: "invalid_json", param: null },
    { label: "no model", body: '{"messages":[]}', status: 400, code: "missing_required_parameter", param: "model" },
    { label: "stream not boolean", body: '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hi"}],"stream":"yes"}', status: 400, code: "invalid_type", param: "stream" },
    { label: "unknown model", body: '{"model":"gpt-9","messages":[{"role":"user","content":"Hi"}]}', status: 404, code: "model_not_found", param: "model" },
    { label: "body over the cap", body: JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: "x".repeat(4096) }] }), status: 413, code: "request_too_large", param: null },
  ])("$label → $status $code", async ({ body, status, code, param }) => {
    const res = await app.handle(post("/v1/chat/completions", body));
    expect(res.status).toBe(status);
    const e = await error(res);
    expect(e.code).toBe(code);
    expect(e.param).toBe(param);
    expect(e.type).toBe("invalid_request_error");
    expect(res.headers.get("x-request-id")).toMatch(/^req_/);
  });

  test("embeddings cannot be streamed", async () => {
    const res = await app.handle(post("/v1/embeddings", '{"model":"gpt-4o-mini","input":"x","stream":true}'));
    expect(res.status).toBe(400);
  });
});

describe("auth with a master key", () => {
  test("runs before the body is looked at", async () => {
    const res = await locked.handle(post("/v1/chat/completions", "{not json"));
    expect(res.status).toBe(401);
    expect((await error(res)).code).toBe("missing_api_key");
    const wrong = await locked.handle(post("/v1/chat/completions", "{}", { authorization: "Bearer nope" }));
    expect((await error(wrong)).code).toBe("invalid_api_key");
    expect((await locked.handle(new Request("http://localhost/v1/models"))).status).toBe(401);
  });

  test("the right key passes; health stays open", async () => {
    const res = await locked.handle(new Request("http://localhost/v1/models", { headers: { authorization: `Bearer ${KEY}` } }));
    expect(res.status).toBe(200);
    expect((await locked.handle(post("/v1/chat/completions", "{bad", { "x-api-key": KEY }))).status).toBe(400);
    expect((await locked.handle(new Request("http://localhost/health"))).status).toBe(200);
  });
});

describe("strict audit mode", () => {
  // The ledger's own failure modes (ENOSPC, EIO, read-only) are produced and classified in the
  // Rust tests; here the port reports "not durable" and we check what the client gets.
  const notDurable = { handOff: () => Promise.resolve(false), query: async () => ({ ok: false as const, status: 503, message: "down" }) };

  test("a refusal whose record cannot be made durable is answered 503 audit_unavailable", async () => {
    const strict = createGateway(loadConfig({ ...env, WARDEN_AUDIT_MODE: "strict" }), { coreVersion: "0.1.0", auditAlive: async () => true, entropy, audit: notDurable }).app;
    const res = await strict.handle(post("/v1/chat/completions", "{bad"));
    expect(res.status).toBe(503);
    expect((await error(res)).code).toBe("audit_unavailable");
  });

  test("in async mode the same failure does not touch the reply", async () => {
    const relaxed = createGateway(loadConfig(env), { coreVersion: "0.1.0", auditAlive: async () => true, entropy, audit: { ...notDurable, handOff: () => undefined } }).app;
    expect((await relaxed.handle(post("/v1/chat/completions", "{bad"))).status).toBe(400);
  });
});
