/**
 * Several instances behind a load balancer (issue #8), as users run them: a real redis-server,
 * three compiled Warden binaries (each alone in its own directory, with its own ledger origin),
 * and HAProxy running deploy/haproxy.cfg with free ports put in, all on loopback.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { startMockUpstream, type MockUpstream } from "../../bench/mock-upstream";
import { startRedis, type RedisServer } from "../setup/redis";
import { runOnce, startWarden, type Running } from "./binary";

const MASTER = "e2e-cluster-master-key-0123456789";
const HAPROXY = ["/usr/sbin/haproxy", "/usr/bin/haproxy"].find((p) => Bun.file(p).size > 0);
const admin = { authorization: `Bearer ${MASTER}`, "content-type": "application/json" };

let redis: RedisServer;
let mock: MockUpstream;
let root: string;
const wardens: (Running | undefined)[] = [];
let haproxy: Bun.Subprocess | undefined;
let front: string;

function instanceEnv(i: number, extra: Record<string, string> = {}): Record<string, string> {
  return {
    WARDEN_MASTER_KEY: MASTER,
    WARDEN_UPSTREAM_MOCK_URL: mock.url,
    WARDEN_UPSTREAM_MOCK_MODELS: "mock-gpt",
    WARDEN_REDIS_URL: redis.url,
    WARDEN_DATA_DIR: join(root, `w${i}`, "data"),
    WARDEN_LEDGER_ORIGIN: `cluster.test/warden-${i}`,
    WARDEN_AUDIT_MODE: "strict", // an acknowledged reply is a durable record, even on the instance we kill
    WARDEN_CHECKPOINT_INTERVAL_MS: "200",
    WARDEN_PRICES: "mock-gpt=0/1000", // $0.001 per completion token: 10 tokens cost exactly $0.01
    // Instance 3 refuses when Redis is away; 1 and 2 serve unenforced (the default).
    WARDEN_REDIS_FAILURE: i === 3 ? "closed" : "open",
    ...extra,
  };
}

async function freePort(): Promise<number> {
  const s = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = s.port;
  s.stop(true);
  return port;
}

/** deploy/haproxy.cfg with its ports replaced: the file the README shows is the one tested. */
async function startHaproxy(): Promise<string> {
  const port = await freePort();
  let cfg = readFileSync(resolve(import.meta.dir, "../../deploy/haproxy.cfg"), "utf8").replace("127.0.0.1:8080", `127.0.0.1:${port}`);
  wardens.forEach((w, i) => (cfg = cfg.replace(`127.0.0.1:808${i + 1}`, new URL(w!.url).host)));
  const file = join(root, "haproxy.cfg");
  writeFileSync(file, cfg);
  haproxy = Bun.spawn([HAPROXY!, "-db", "-f", file], { stdout: "ignore", stderr: "pipe" });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    const ok = await fetch(`${url}/health`).then((r) => r.ok, () => false);
    if (ok) return url;
    await Bun.sleep(50);
  }
  haproxy.kill();
  throw new Error(`haproxy did not come up: ${await new Response(haproxy.stderr as ReadableStream).text()}`);
}

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), "warden-cluster-"));
  redis = await startRedis();
  mock = await startMockUpstream({ port: 0, record: false });
  for (let i = 1; i <= 3; i++) wardens.push(await startWarden(instanceEnv(i), [], mkdtempSync(join(root, `bin${i}-`))));
  front = await startHaproxy();
}, 60_000);

afterAll(async () => {
  haproxy?.kill();
  for (const w of wardens) await w?.stop(true).catch(() => 0);
  await mock?.stop();
  await redis?.stop();
  rmSync(root, { recursive: true, force: true });
});

async function createKey(via: string, body: Record<string, unknown>): Promise<{ id: string; key: string }> {
  const res = await fetch(`${via}/admin/keys`, { method: "POST", headers: admin, body: JSON.stringify(body) });
  expect(res.status).toBe(201);
  return (await res.json()) as { id: string; key: string };
}

function chat(base: string, key: string, extra: Record<string, unknown> = {}): Promise<Response> {
  return fetch(`${base}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify({ model: "mock-gpt", messages: [{ role: "user", content: "hi" }], ...extra }),
  });
}

/** Polls until `ok` holds; returns the milliseconds it took, or throws after `withinMs`. */
async function within(withinMs: number, ok: () => Promise<boolean>): Promise<number> {
  const t0 = performance.now();
  while (!(await ok())) {
    if (performance.now() - t0 > withinMs) throw new Error(`not within ${withinMs} ms`);
    await Bun.sleep(10);
  }
  return performance.now() - t0;
}

describe.skipIf(HAPROXY === undefined)("three instances behind HAProxy, sharing Redis", () => {
  test("a key made on one instance works on all; its request limit holds across them within 5 %", async () => {
    const { key } = await createKey(wardens[0]!.url, { tenant: "limits", rpm: 120 });
    // Key changes reach the other instances through Redis within a second.
    await within(1000, async () => (await Promise.all(wardens.slice(1).map((w) => chat(w!.url, key)))).every((r) => r.status === 200));
    let ok = 2; // the two requests above
    let limited = 0;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        for (let i = 0; i < 40; i++) {
          const res = await chat(front, key);
          await res.arrayBuffer();
          if (res.status === 200) ok++;
          else if (res.status === 429) limited++;
        }
      }),
    );
    const seconds = (performance.now() - t0) / 1000;
    // A burst of 120, plus what refills while the 320 requests run (2 per second).
    const allowed = 120 + Math.floor(seconds * 2);
    console.log(`limit across 3 instances: ${ok} served of 320 at rpm 120 in ${seconds.toFixed(2)} s (allowance ${allowed}), ${limited} refused`);
    expect(ok + limited).toBe(322);
    expect(Math.abs(ok - allowed) / allowed).toBeLessThanOrEqual(0.05);
  });

  test("a key revoked on one instance is refused by the others within 1 s", async () => {
    const { id, key } = await createKey(wardens[1]!.url, { tenant: "revocation" });
    await within(1000, async () => (await Promise.all(wardens.map((w) => chat(w!.url, key)))).every((r) => r.status === 200));
    const res = await fetch(`${wardens[1]!.url}/admin/keys/${id}/revoke`, { method: "POST", headers: admin });
    expect(res.status).toBe(200);
    const took = await within(1000, async () => (await Promise.all([wardens[0], wardens[2]].map((w) => chat(w!.url, key)))).every((r) => r.status === 401));
    console.log(`revocation reached the other instances in ${took.toFixed(0)} ms`);
  });

  test("a budget is reserved atomically across instances: exactly what it covers is served", async () => {
    // $0.05 covers five requests of 10 completion tokens (the worst case equals the actual cost).
    const { key } = await createKey(wardens[0]!.url, { tenant: "budget", max_budget_usd: 0.05 });
    await within(1000, async () => (await Promise.all(wardens.slice(1).map((w) => fetch(`${w!.url}/v1/models`, { headers: { authorization: `Bearer ${key}` } })))).every((r) => r.status === 200));
    const replies = await Promise.all(Array.from({ length: 15 }, () => chat(front, key, { max_tokens: 10 })));
    const statuses = replies.map((r) => r.status).sort();
    expect(statuses.filter((s) => s === 200).length).toBe(5);
    expect(statuses.filter((s) => s === 429).length).toBe(10);
    const refused = replies.find((r) => r.status === 429)!;
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe("insufficient_quota");
  });

  test("Redis stopped mid-load: fail-open instances serve unenforced, the fail-closed one refuses clearly; both recover", async () => {
    const { key } = await createKey(wardens[0]!.url, { tenant: "outage", rpm: 100_000 });
    await within(1000, async () => (await Promise.all(wardens.map((w) => chat(w!.url, key)))).every((r) => r.status === 200));
    // Load on an open instance (1) and on the closed one (3) while Redis goes away and comes back.
    const seen = [new Map<string, number>(), new Map<string, number>()];
    let stop = false;
    const load = [0, 2].map(async (i, slot) => {
      while (!stop) {
        const res = await chat(wardens[i]!.url, key);
        const body = (await res.json()) as { error?: { code: string } };
        const what = res.status === 200 ? "200" : `${res.status} ${body.error?.code}`;
        seen[slot].set(what, (seen[slot].get(what) ?? 0) + 1);
      }
    });
    await Bun.sleep(200);
    await redis.kill();
    await Bun.sleep(500);
    await redis.restart();
    // Back in service within a couple of seconds of Redis' return.
    await within(5000, async () => (await chat(wardens[2]!.url, key)).status === 200);
    stop = true;
    await Promise.all(load);
    console.log(`Redis outage: open instance ${JSON.stringify(Object.fromEntries(seen[0]))}, closed instance ${JSON.stringify(Object.fromEntries(seen[1]))}`);
    expect([...seen[0].keys()]).toEqual(["200"]);
    expect([...seen[1].keys()].sort()).toEqual(["200", "503 rate_limiter_unavailable"]);
  });

  test("one instance killed under load: the others' ledgers lose nothing, the killed one recovers its own", async () => {
    const { key } = await createKey(wardens[0]!.url, { tenant: "crash", rpm: 1_000_000 });
    await within(1000, async () => (await Promise.all(wardens.map((w) => chat(w!.url, key)))).every((r) => r.status === 200));
    const acknowledged: string[] = [];
    let failed = 0;
    let stop = false;
    const load = Array.from({ length: 8 }, async () => {
      while (!stop) {
        try {
          const res = await chat(front, key);
          await res.arrayBuffer();
          if (res.status === 200) acknowledged.push(res.headers.get("x-request-id")!);
          else failed++;
        } catch {
          failed++;
        }
      }
    });
    await Bun.sleep(700);
    await wardens[2]!.kill9();
    await Bun.sleep(1500);
    stop = true;
    await Promise.all(load);
    console.log(`under load: ${acknowledged.length} acknowledged, ${failed} failed while instance 3 died`);
    expect(acknowledged.length).toBeGreaterThan(100);

    // Restart the killed one in its own directory: its ledger opens on its own.
    const dir3 = wardens[2]!.dir;
    wardens[2] = await startWarden(instanceEnv(3), [], dir3);
    await Bun.sleep(600); // a checkpoint every 200 ms: let each cover everything written
    const ids = new Set<string>();
    for (const w of wardens) {
      const size = Number((await (await fetch(`${w!.url}/v1/audit/checkpoint`, { headers: admin })).text()).split("\n")[1]);
      for (let seq = 0; seq < size; seq++) {
        const leaf = await (await fetch(`${w!.url}/v1/audit/records/${seq}`, { headers: admin })).text();
        ids.add(JSON.parse(leaf).request_id);
      }
    }
    const missing = acknowledged.filter((id) => !ids.has(id));
    expect(missing).toEqual([]);

    // An auditor verifies all three ledgers in one run.
    for (const w of wardens) await w!.stop(true);
    const dirs = [1, 2, 3].flatMap((i) => ["--data-dir", join(root, `w${i}`, "data")]);
    const verified = await runOnce(["verify", ...dirs], {}, 60_000);
    expect(verified.code).toBe(0);
    expect(verified.stdout.match(/ledger OK/g)?.length).toBe(3);
    for (let i = 0; i < 3; i++) wardens[i] = undefined;
  }, 60_000);
});
