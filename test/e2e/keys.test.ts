/**
 * Virtual keys end to end: the compiled binary serving, `warden keys` run as separate processes
 * on the same data directory, the official `openai` SDK as the client, and the admin API.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import OpenAI from "openai";
import { startMockUpstream, type MockUpstream } from "../../bench/mock-upstream";
import { installInTempDir, runOnce, startWarden, type Running } from "./binary";
import { apiError } from "./sdk";

const MASTER = "e2e-keys-master-0123456789";
let mock: MockUpstream;
let warden: Running;
let dir: string;
let env: Record<string, string>;
const secrets: string[] = [];

interface KeyJson {
  id: string;
  key: string;
  tenant: string;
  status: string;
}

/** `warden <args>` as its own process, in the gateway's directory with the gateway's environment. */
async function cli(args: string[]) {
  const r = await runOnce(args, env, 15_000, dir);
  return { ...r, json: () => JSON.parse(r.stdout) };
}
async function createKey(args: string[]): Promise<KeyJson> {
  const r = await cli(["keys", "create", ...args]);
  expect(r.code).toBe(0);
  expect(r.stderr).toContain("only time");
  const key = r.json() as KeyJson;
  secrets.push(key.key);
  return key;
}
const client = (apiKey: string) => new OpenAI({ baseURL: `${warden.url}/v1`, apiKey, maxRetries: 0 });
const hello = (apiKey: string, model = "mock-gpt") => client(apiKey).chat.completions.create({ model, messages: [{ role: "user", content: "Hello" }] });

beforeAll(async () => {
  mock = await startMockUpstream({ port: 0 });
  dir = installInTempDir().dir;
  env = { WARDEN_MASTER_KEY: MASTER, WARDEN_UPSTREAM_MOCK_URL: mock.url, WARDEN_UPSTREAM_MOCK_MODELS: "mock-gpt,mock-gpt-mini", WARDEN_CHECKPOINT_INTERVAL_MS: "200" };
  // A key made before the gateway starts, in the data directory serve will use (./warden-data).
  await createKey(["--tenant", "acme", "--name", "first"]);
  warden = await startWarden(env, [], dir);
});
afterAll(async () => {
  await warden?.stop();
  await mock?.stop();
});

describe("warden keys with the gateway running", () => {
  test("a created key works with the openai SDK; revoked from another process, the next request is 401", async () => {
    const key = await createKey(["--tenant", "acme", "--rpm", "100"]);
    const reply = await hello(key.key);
    expect(reply.choices[0].message.content).toStartWith("tok0");
    expect(JSON.stringify(mock.requests.at(-1)!.headers)).not.toContain(key.key);

    const revoked = await cli(["keys", "revoke", key.id]);
    expect(revoked.code).toBe(0);
    expect(revoked.json().status).toBe("revoked");
    const e = await apiError(hello(key.key));
    expect(e.status).toBe(401);
    expect(e.code).toBe("invalid_api_key");
  });

  test("the key made before start-up works too, and the ledger names its id and tenant, never the secret", async () => {
    const first = (await cli(["keys", "list", "--tenant", "acme"])).json().data.find((k: { name: string }) => k.name === "first");
    const secret = secrets[0];
    await hello(secret);
    // The ledger is written in the background: walk it from the start until the record shows up.
    let leaf = "";
    for (let seq = 0, tries = 0; !leaf.includes(first.id) && tries < 200; ) {
      const res = await fetch(`${warden.url}/v1/audit/records/${seq}`, { headers: { authorization: `Bearer ${MASTER}` } });
      if (res.ok) {
        leaf = await res.text();
        seq++;
      } else {
        await res.body?.cancel();
        tries++;
        await Bun.sleep(50);
      }
    }
    const record = JSON.parse(leaf);
    expect(record).toMatchObject({ key_id: first.id, tenant: "acme", status: 200 });
    expect(leaf).not.toContain(secret);
  }, 20_000);

  test("a tenant's key reads only its tenant's ledger records and proofs; the master key reads all", async () => {
    const acme = await createKey(["--tenant", "acme"]);
    const initech = await createKey(["--tenant", "initech"]);
    await hello(acme.key);
    await hello(initech.key);
    const get = (path: string, key: string) => fetch(`${warden.url}${path}`, { headers: { authorization: `Bearer ${key}` } });
    // Wait for both records, reading as the master key.
    const seqOf = new Map<string, number>();
    for (let seq = 0, tries = 0; seqOf.size < 2 && tries < 200; ) {
      const res = await get(`/v1/audit/records/${seq}`, MASTER);
      if (!res.ok) {
        await res.body?.cancel();
        tries++;
        await Bun.sleep(50);
        continue;
      }
      const r = await res.json();
      if (r.key_id === acme.id || r.key_id === initech.id) seqOf.set(r.key_id, seq);
      seq++;
    }
    const [own, other] = [seqOf.get(acme.id)!, seqOf.get(initech.id)!];
    expect(own).toBeNumber();
    expect(other).toBeNumber();

    expect((await (await get(`/v1/audit/records/${own}`, acme.key)).json()).tenant).toBe("acme");
    const refused = await get(`/v1/audit/records/${other}`, acme.key);
    expect(refused.status).toBe(403);
    expect((await refused.json()).error).toMatchObject({ code: "record_not_visible", param: "seq" });

    // Checkpoints are signed every 200 ms here (env): wait for one that covers both records.
    let size = 0;
    for (let tries = 0; size <= Math.max(own, other) && tries < 100; tries++) {
      const cp = await get("/v1/audit/checkpoint", acme.key);
      if (cp.status === 200) size = Number((await cp.text()).split("\n")[1]);
      else await cp.body?.cancel();
      if (size <= Math.max(own, other)) await Bun.sleep(100);
    }
    expect(size).toBeGreaterThan(Math.max(own, other));
    expect((await get(`/v1/audit/proof/inclusion?seq=${own}&size=${size}`, acme.key)).status).toBe(200);
    expect((await get(`/v1/audit/proof/inclusion?seq=${other}&size=${size}`, acme.key)).status).toBe(403);
    expect((await get(`/v1/audit/records/${other}`, MASTER)).status).toBe(200);
    expect((await get(`/v1/audit/records/${own}`, "wdn-not-a-real-key")).status).toBe(401);
  }, 30_000);

  test("a key limited to one model gets 403 for another, and /v1/models lists only its model", async () => {
    const key = await createKey(["--tenant", "globex", "--models", "mock-gpt-mini"]);
    const e = await apiError(hello(key.key, "mock-gpt"));
    expect(e.status).toBe(403);
    expect(e.code).toBe("model_not_allowed");
    expect((await hello(key.key, "mock-gpt-mini")).object).toBe("chat.completion");
    const ids: string[] = [];
    for await (const m of client(key.key).models.list()) ids.push(m.id);
    expect(ids).toEqual(["mock-gpt-mini"]);
  });

  test("an expired key gets 401 expired_api_key", async () => {
    const key = await createKey(["--tenant", "acme", "--expires", "2000-01-01"]);
    expect(key.status).toBe("expired");
    const e = await apiError(hello(key.key));
    expect(e.status).toBe(401);
    expect(e.code).toBe("expired_api_key");
  });

  test("a key disabled by update stops working; rotation gives a new secret and retires the old", async () => {
    const key = await createKey(["--tenant", "acme"]);
    expect((await cli(["keys", "update", key.id, "--disable"])).code).toBe(0);
    expect((await apiError(hello(key.key))).code).toBe("invalid_api_key");
    expect((await cli(["keys", "update", key.id, "--enable"])).code).toBe(0);
    const rotated = await cli(["keys", "rotate", key.id]);
    expect(rotated.code).toBe(0);
    const fresh = rotated.json().key as string;
    secrets.push(fresh);
    expect((await apiError(hello(key.key))).status).toBe(401);
    expect((await hello(fresh)).object).toBe("chat.completion");
  });

  test("an unknown key id exits 1; a bad flag exits 2", async () => {
    expect((await cli(["keys", "revoke", "key_0000000000000000"])).code).toBe(1);
    expect((await cli(["keys", "create", "--tenant", "acme", "--rpm", "many"])).code).toBe(2);
  });
});

describe("the admin API over HTTP", () => {
  const admin = (method: string, path: string, body?: unknown, key = MASTER) =>
    fetch(`${warden.url}/admin${path}`, {
      method,
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });

  test("the master key creates a key that works; listings never show secrets", async () => {
    const res = await admin("POST", "/keys", { tenant: "initech", models: ["mock-gpt"], rpm: 60 });
    expect(res.status).toBe(201);
    const key = (await res.json()) as KeyJson;
    secrets.push(key.key);
    expect((await hello(key.key)).object).toBe("chat.completion");
    const list = await (await admin("GET", "/keys?tenant=initech")).text();
    expect(list).toContain(key.id);
    expect(list).not.toContain(key.key);
    // The CLI sees what the API made, and the other way round.
    expect((await cli(["keys", "get", key.id])).json().tenant).toBe("initech");
  });

  test("a virtual key may not use it (403); a bad body is a 400 naming the field", async () => {
    expect((await admin("GET", "/keys", undefined, secrets.at(-1))).status).toBe(403);
    const bad = await admin("POST", "/keys", { tenant: "initech", rpm: -1 });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { param: string } }).error.param).toBe("rpm");
  });
});

describe("start-up", () => {
  test("a key database that cannot be opened stops serve with exit 1 and says which file", async () => {
    const data = join(dir, "broken-data");
    mkdirSync(data, { recursive: true });
    writeFileSync(join(data, "keys.db"), "not a database ".repeat(1000));
    const r = await runOnce(["serve"], { WARDEN_DATA_DIR: data, WARDEN_PORT: "0" }, 15_000, dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`cannot open the key database ${join(data, "keys.db")}`);
  });

  test("no secret ever reached the server log", () => {
    expect(secrets.length).toBeGreaterThan(5);
    for (const s of secrets) expect(warden.log()).not.toContain(s);
    expect(warden.log()).not.toContain(MASTER);
  });
});
