/**
 * Usage, cost and budgets end to end: the compiled binary, the official `openai` SDK, `warden
 * keys` / `warden tenants` as separate processes on the same data directory.
 *
 * Prices: mock-gpt $100/$100 per million tokens (100 µUSD a token, so amounts are visible);
 * mock-gpt-mini $0/$100, so a request with max_tokens 16 reserves exactly 1600 µUSD and, the
 * mock answering 16 tokens, costs exactly that: counts of served requests are exact.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import OpenAI, { APIError } from "openai";
import { startMockUpstream, type MockUpstream } from "../../bench/mock-upstream";
import { installInTempDir, runOnce, startWarden, type Running } from "./binary";
import { apiError } from "./sdk";

const MASTER = "e2e-budget-master-0123456789";
/** The mock's usage for "hello": 2 prompt tokens (its chars/4 estimate) and 16 completion tokens. */
const HELLO_COST = (2 + 16) * 100;
const MINI_COST = 16 * 100;
let mock: MockUpstream;
let warden: Running;
let dir: string;
let env: Record<string, string>;

async function cli(args: string[]) {
  const r = await runOnce(args, env, 15_000, dir);
  if (r.code !== 0) throw new Error(`warden ${args.join(" ")} exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout);
}
const newKey = (args: string[]): Promise<{ id: string; key: string }> => cli(["keys", "create", ...args]);
const client = (apiKey: string) => new OpenAI({ baseURL: `${warden.url}/v1`, apiKey, maxRetries: 0 });
const ask = (apiKey: string, model = "mock-gpt", extra: Record<string, unknown> = {}) =>
  client(apiKey).chat.completions.create({ model, messages: [{ role: "user", content: "hello" }], max_tokens: 16, ...extra });
/** Asks until refused; returns how many were served and the refusal. */
async function untilRefused(keys: string[], model = "mock-gpt"): Promise<{ served: number; refusal: APIError }> {
  for (let served = 0; served < 100; served++) {
    const e = await ask(keys[served % keys.length], model).then(
      () => undefined,
      (err: APIError) => err,
    );
    if (e !== undefined) return { served, refusal: e };
  }
  throw new Error("never refused");
}
/** Spend is written every WARDEN_SPEND_FLUSH_MS (100 ms here); the CLI reads the database. */
const flushed = () => Bun.sleep(400);

beforeAll(async () => {
  mock = await startMockUpstream({ port: 0 });
  dir = installInTempDir().dir;
  env = {
    WARDEN_MASTER_KEY: MASTER,
    WARDEN_UPSTREAM_MOCK_URL: mock.url,
    WARDEN_UPSTREAM_MOCK_MODELS: "mock-gpt,mock-gpt-mini,mock-embed",
    WARDEN_PRICES: "mock-gpt=100/100,mock-gpt-mini=0/100",
    WARDEN_SPEND_FLUSH_MS: "100",
  };
  warden = await startWarden(env, [], dir);
});
afterAll(async () => {
  await warden?.stop();
  await mock?.stop();
});

describe("budgets", () => {
  test("a key with a tiny budget is served until it is spent, then 429 insufficient_quota; spend shows in warden keys get", async () => {
    const { id, key } = await newKey(["--tenant", "acme", "--budget", "0.01"]);
    const before = mock.requests.length;
    const { served, refusal } = await untilRefused([key]);
    expect(served).toBeGreaterThanOrEqual(3);
    expect(refusal.status).toBe(429);
    expect(refusal.code).toBe("insufficient_quota");
    expect(refusal.type).toBe("insufficient_quota");
    expect(refusal.message).toContain(id);
    expect(refusal.message).toContain("$0.01 budget");
    expect(refusal.message).not.toContain(key);
    expect(refusal.headers?.get("retry-after")).toBeNull();
    expect(mock.requests.length - before).toBe(served);
    await flushed();
    const shown = await cli(["keys", "get", id]);
    expect(shown.max_budget_usd).toBe(0.01);
    expect(shown.spent_usd).toBeCloseTo((served * HELLO_COST) / 1e6, 9);
    expect(shown.spent_usd).toBeLessThanOrEqual(0.01);
    expect(JSON.stringify(shown)).not.toContain(key);
    // Raising the budget lets it continue, from the next request on.
    await cli(["keys", "update", id, "--budget", "1"]);
    expect((await ask(key)).object).toBe("chat.completion");
  });

  test("a tenant budget is shared by two keys", async () => {
    await cli(["tenants", "set", "initech", "--budget", "0.0064"]); // four mini requests
    const a = await newKey(["--tenant", "initech"]);
    const b = await newKey(["--tenant", "initech", "--budget", "5"]);
    const { served, refusal } = await untilRefused([a.key, b.key], "mock-gpt-mini");
    expect(served).toBe(4);
    expect(refusal.code).toBe("insufficient_quota");
    expect(refusal.message).toContain("tenant initech");
    await flushed();
    expect((await cli(["tenants", "get", "initech"])).spent_usd).toBeCloseTo(0.0064, 9);
    expect((await cli(["keys", "get", a.id])).spent_usd).toBeCloseTo(0.0032, 9);
    expect((await cli(["keys", "get", b.id])).spent_usd).toBeCloseTo(0.0032, 9);
  });

  test("concurrent requests do not overshoot: 30 at once on a budget for 7, exactly 7 served", async () => {
    const { id, key } = await newKey(["--tenant", "crowd", "--budget", String((7 * MINI_COST + MINI_COST - 1) / 1e6)]);
    // Each reply waits 300 ms upstream, so every request is reserved before any settles.
    const outcomes = await Promise.all(
      Array.from({ length: 30 }, () =>
        ask(key, "mock-gpt-mini", { mock: { firstByteDelayMs: 300 } }).then(
          () => 200,
          (e: APIError) => `${e.status} ${e.code}`,
        ),
      ),
    );
    expect(outcomes.filter((o) => o === 200).length).toBe(7);
    expect(outcomes.filter((o) => o === "429 insufficient_quota").length).toBe(23);
    await flushed();
    expect((await cli(["keys", "get", id])).spent_usd).toBeCloseTo((7 * MINI_COST) / 1e6, 9);
  });

  test("streams are charged when they end; a budgeted key cannot use an unpriced model; spend is in /metrics", async () => {
    const { id, key } = await newKey(["--tenant", "streamco", "--budget", "1"]);
    const stream = await client(key).chat.completions.create({ model: "mock-gpt", messages: [{ role: "user", content: "hello" }], max_tokens: 16, stream: true, stream_options: { include_usage: true } });
    for await (const _ of stream);
    await flushed();
    expect((await cli(["keys", "get", id])).spent_usd).toBeCloseTo(HELLO_COST / 1e6, 9);

    const e = await apiError(ask(key, "mock-embed"));
    expect(e.status).toBe(403);
    expect(e.code).toBe("model_not_priced");

    const metrics = await (await fetch(`${warden.url}/metrics`)).text();
    expect(metrics).toContain('warden_spend_usd_total{tenant="streamco"} 0.0018');
    expect(metrics).toMatch(/warden_refusals_total\{stage="budget",code="insufficient_quota",rule=""\} [1-9]/);
  });
});

describe("durability", () => {
  test("SIGTERM writes the last spend; kill -9 loses only what was settled since the last write", async () => {
    const slow = { ...env, WARDEN_SPEND_FLUSH_MS: "60000" }; // no timed write during the test
    const own = installInTempDir().dir;
    const run = async (args: string[]) => JSON.parse((await runOnce(args, slow, 15_000, own)).stdout);
    const { id, key } = await run(["keys", "create", "--tenant", "dur", "--budget", "1"]);
    const use = async (w: Running, n: number) => {
      for (let i = 0; i < n; i++) await new OpenAI({ baseURL: `${w.url}/v1`, apiKey: key, maxRetries: 0 }).chat.completions.create({ model: "mock-gpt-mini", messages: [{ role: "user", content: "hi" }], max_tokens: 16 });
    };
    let w = await startWarden(slow, [], own);
    await use(w, 2);
    expect((await run(["keys", "get", id])).spent_usd).toBe(0); // not written yet
    expect(await w.stop(true)).toBe(0);
    expect((await run(["keys", "get", id])).spent_usd).toBeCloseTo((2 * MINI_COST) / 1e6, 9);

    w = await startWarden(slow, [], own);
    await use(w, 3);
    await w.kill9();
    expect((await run(["keys", "get", id])).spent_usd).toBeCloseTo((2 * MINI_COST) / 1e6, 9); // the 3 after the last write are lost

    // Nothing is left reserved by the killed process: the whole rest of the budget is usable.
    await run(["keys", "update", id, "--budget", String((2 * MINI_COST + MINI_COST) / 1e6)]);
    w = await startWarden(slow, [], own);
    await use(w, 1);
    await w.stop();
  }, 60_000);

  test("a bad WARDEN_PRICES stops start-up with exit 2 naming the variable", async () => {
    const r = await runOnce(["serve"], { ...env, WARDEN_PRICES: "mock-gpt=0,10/1" });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("WARDEN_PRICES");
  });
});
