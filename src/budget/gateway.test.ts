/**
 * The budget step in the gateway, in-process (`app.handle`) against the mock upstream, on a real
 * key database: reserve before forwarding, settle to the reply's usage (JSON and streams),
 * release on failure, refusals in OpenAI's insufficient_quota shape, concurrency without overshoot.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startMockUpstream, type MockUpstream } from "../../bench/mock-upstream";
import { entropy } from "../../test/support/core";
import { createGateway } from "../app";
import { loadConfig } from "../config";
import { openKeyStore, type KeyStore } from "../keys/store";
import { countPromptTokens, countText } from "../tokens";
import { createBudgetBook } from "./book";
import { costMicros } from "./cost";

const MASTER = "budget-test-master-key-0123";
const GPT = { prompt: 100_000_000, completion: 100_000_000 }; // $100 per million: 100 µUSD a token
let mock: MockUpstream;
let dir: string;
let store: KeyStore;
let book: ReturnType<typeof createBudgetBook>;
let gateway: ReturnType<typeof createGateway>;

beforeAll(async () => {
  mock = await startMockUpstream({ port: 0 });
  dir = mkdtempSync(join(tmpdir(), "warden-budget-gw-"));
  store = openKeyStore(join(dir, "keys.db"));
  book = createBudgetBook(store, { flushMs: 0 });
  const config = loadConfig({
    WARDEN_MASTER_KEY: MASTER,
    WARDEN_UPSTREAM_MOCK_URL: mock.url,
    WARDEN_UPSTREAM_MOCK_MODELS: "mock-gpt,mock-gpt-mini,mock-embed,mock-free",
    WARDEN_PRICES: "mock-gpt=100/100,mock-embed=50/0,mock-free=0/0",
    WARDEN_BUDGET_DEFAULT_MAX_TOKENS: "64",
  });
  gateway = createGateway(config, { coreVersion: "test", auditAlive: async () => true, entropy, keys: store, budget: book });
});
afterAll(async () => {
  book.close();
  store.close();
  await mock.stop();
  rmSync(dir, { recursive: true, force: true });
});

const chat = (key: string, extra: Record<string, unknown> = {}, content = "hello") =>
  gateway.app.handle(
    new Request("http://localhost/v1/chat/completions", {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "mock-gpt", messages: [{ role: "user", content }], max_tokens: 16, ...extra }),
    }),
  );
const errorOf = async (res: Response) => ((await res.json()) as { error: { message: string; type: string; code: string; param: string | null } }).error;
/** What a "hello" request reserves at GPT's price with max_tokens 16: our own prompt count. */
const worstHello = (tenant: string) => costMicros(GPT, countPromptTokens("chat/completions", "mock-gpt", { model: "mock-gpt", messages: [{ role: "user", content: "hello" }] }, tenant), 16);
/** What the mock's usage says a "hello" request cost: its prompt estimate (2) and 16 completion tokens. */
const actualHello = costMicros(GPT, 2, 16);

describe("budget enforcement", () => {
  test("a key is served until its budget is spent, then refused 429 insufficient_quota naming the key and budget, never the secret", async () => {
    const { record, secret } = store.createKey({ tenant: "solo", maxBudgetUsd: 0.01 });
    const before = mock.requests.length;
    let served = 0;
    let res: Response;
    while ((res = await chat(secret)).status === 200) {
      await res.arrayBuffer();
      served++;
      expect(served).toBeLessThan(100);
    }
    // Served while spent + worst case fitted in $0.01; charged what the usage said.
    expect(served).toBe(Math.floor((10_000 - worstHello("solo")) / actualHello) + 1);
    expect(book.spent(book.account("key", record.id, null))).toBe(served * actualHello);
    expect(res.status).toBe(429);
    expect(res.headers.get("retry-after")).toBeNull();
    const e = await errorOf(res);
    expect(e).toMatchObject({ type: "insufficient_quota", code: "insufficient_quota", param: null });
    expect(e.message).toContain(record.id);
    expect(e.message).toContain("$0.01 budget");
    expect(e.message).not.toContain(secret);
    expect(mock.requests.length - before).toBe(served); // the refused request never left
    // The database has it after a flush, and the CLI's views read it from there.
    book.flush();
    expect(store.spentMicros("key", record.id)).toBe(served * actualHello);
    expect(store.spentMicros("tenant", "solo")).toBe(served * actualHello);
    const admin = await gateway.app.handle(new Request(`http://localhost/admin/keys/${record.id}`, { headers: { authorization: `Bearer ${MASTER}` } }));
    expect(await admin.json()).toMatchObject({ id: record.id, max_budget_usd: 0.01, spent_usd: (served * actualHello) / 1e6 });
  });

  test("a request whose worst case alone is over the budget is refused up front; a smaller max_tokens passes", async () => {
    const { secret } = store.createKey({ tenant: "solo2", maxBudgetUsd: 0.003 }); // 3000 µUSD: 30 tokens
    const big = await chat(secret, { max_tokens: 100 });
    expect(big.status).toBe(429);
    expect((await errorOf(big)).message).toContain("lower max_tokens");
    // Without max_tokens the default cap (64 here) applies: still too much.
    expect((await chat(secret, { max_tokens: undefined })).status).toBe(429);
    const small = await chat(secret, { max_tokens: 16 });
    expect(small.status).toBe(200);
  });

  test("a tenant budget is shared by its keys", async () => {
    store.putTenant("shared", { maxBudgetUsd: 0.008 });
    const a = store.createKey({ tenant: "shared" });
    const b = store.createKey({ tenant: "shared" });
    const statuses: number[] = [];
    for (let i = 0; i < 10; i++) {
      const res = await chat(i % 2 ? b.secret : a.secret);
      statuses.push(res.status);
      if (res.status === 429) {
        const e = await errorOf(res);
        expect(e.message).toContain("tenant shared");
        break;
      }
      await res.arrayBuffer();
    }
    const served = statuses.filter((s) => s === 200).length;
    expect(statuses.at(-1)).toBe(429);
    expect(served).toBe(Math.floor((8_000 - worstHello("shared")) / actualHello) + 1);
    expect(book.spent(book.account("tenant", "shared", null))).toBe(served * actualHello);
    expect(book.spent(book.account("key", a.record.id, null)) + book.spent(book.account("key", b.record.id, null))).toBe(served * actualHello);
  });

  test("concurrent requests do not overshoot: exactly as many as fit are served", async () => {
    const worst = worstHello("crowd");
    const fits = 7;
    const { record, secret } = store.createKey({ tenant: "crowd", maxBudgetUsd: (fits * worst + worst - 1) / 1e6 });
    // Every reply takes 100 ms, so all 40 requests are reserved before the first one settles.
    const replies = await Promise.all(Array.from({ length: 40 }, () => chat(secret, { mock: { firstByteDelayMs: 100 } })));
    const statuses = replies.map((r) => r.status);
    await Promise.all(replies.map((r) => r.arrayBuffer()));
    expect(statuses.filter((s) => s === 200).length).toBe(fits);
    expect(statuses.filter((s) => s === 429).length).toBe(40 - fits);
    expect(book.spent(book.account("key", record.id, null))).toBe(fits * actualHello);
  });

  test("streams settle when they end: from the usage chunk (Warden asks for it), or counted when there is none", async () => {
    const { record, secret } = store.createKey({ tenant: "streamer", maxBudgetUsd: 1 });
    const account = book.account("key", record.id, null);
    const withUsage = await chat(secret, { stream: true, stream_options: { include_usage: true } });
    expect(withUsage.status).toBe(200);
    expect(book.spent(account)).toBe(0); // not before the stream has ended
    await withUsage.text();
    await Bun.sleep(10);
    expect(book.spent(account)).toBe(actualHello);

    // The client did not ask for usage, Warden did: the same charge.
    await (await chat(secret, { stream: true })).text();
    await Bun.sleep(10);
    expect(book.spent(account)).toBe(2 * actualHello);

    // Cut before its usage came: what reached the client is counted.
    const without = await chat(secret, { stream: true, mock: { resetAfterTokens: 5 } });
    const text = await without.text();
    await Bun.sleep(10);
    const content = [...text.matchAll(/"content":"([^"]*)"/g)].map((m) => m[1]).join("");
    expect(content).toStartWith("tok0 tok1");
    const prompt = countPromptTokens("chat/completions", "mock-gpt", { model: "mock-gpt", messages: [{ role: "user", content: "hello" }] }, "streamer");
    expect(book.spent(account)).toBe(2 * actualHello + costMicros(GPT, prompt, countText("mock-gpt", content)));
  });

  test("a request that fails upstream is released and costs nothing", async () => {
    const worst = worstHello("unlucky");
    const { record, secret } = store.createKey({ tenant: "unlucky", maxBudgetUsd: worst / 1e6 });
    for (let i = 0; i < 3; i++) {
      const res = await chat(secret, { mock: { status: 500 } });
      expect(res.status).toBe(502);
      await res.arrayBuffer();
    }
    expect(book.spent(book.account("key", record.id, null))).toBe(0);
    expect((await chat(secret)).status).toBe(200); // the whole budget is still there
  });

  test("unpriced models: refused 403 model_not_priced with a budget, served for free without; unknown models stay 404", async () => {
    const budgeted = store.createKey({ tenant: "p1", maxBudgetUsd: 1 });
    const res = await chat(budgeted.secret, { model: "mock-gpt-mini" });
    expect(res.status).toBe(403);
    const e = await errorOf(res);
    expect(e).toMatchObject({ code: "model_not_priced", param: "model" });
    expect(e.message).toContain(budgeted.record.id);
    expect((await chat(budgeted.secret, { model: "no-such-model" })).status).toBe(404);

    store.putTenant("p2", { maxBudgetUsd: 1 }); // a tenant budget applies to its keys as well
    const viaTenant = store.createKey({ tenant: "p2" });
    expect((await errorOf(await chat(viaTenant.secret, { model: "mock-gpt-mini" }))).message).toContain("tenant p2");

    const open = store.createKey({ tenant: "p3" });
    expect((await chat(open.secret, { model: "mock-gpt-mini" })).status).toBe(200);
    expect(book.spent(book.account("key", open.record.id, null))).toBe(0);
  });

  test("free models stay usable once the budget is spent; spend without a budget is still counted", async () => {
    const capped = store.createKey({ tenant: "f1", maxBudgetUsd: 0 });
    expect((await chat(capped.secret)).status).toBe(429);
    expect((await chat(capped.secret, { model: "mock-free" })).status).toBe(200);
    const open = store.createKey({ tenant: "f2" });
    await (await chat(open.secret)).arrayBuffer();
    expect(book.spent(book.account("key", open.record.id, null))).toBe(actualHello);
  });

  test("embeddings cost their prompt tokens only", async () => {
    const { record, secret } = store.createKey({ tenant: "emb", maxBudgetUsd: 1 });
    const res = await gateway.app.handle(
      new Request("http://localhost/v1/embeddings", {
        method: "POST",
        headers: { authorization: `Bearer ${secret}`, "content-type": "application/json" },
        body: JSON.stringify({ model: "mock-embed", input: "twelve chars" }),
      }),
    );
    expect(res.status).toBe(200);
    expect(book.spent(book.account("key", record.id, null))).toBe(costMicros({ prompt: 50_000_000, completion: 0 }, 3, 0)); // the mock: 12 chars / 4
  });

  test("the master key is never charged; spend shows in warden_spend_usd_total by tenant", async () => {
    expect((await chat(MASTER, { max_tokens: 100_000 })).status).toBe(200);
    const text = await gateway.metrics.exposition();
    expect(text).toMatch(/warden_spend_usd_total\{tenant="solo"\} 0\.0\d+/);
    expect(text).not.toMatch(/warden_spend_usd_total\{tenant=""\}/);
    expect(text).toMatch(/warden_refusals_total\{stage="budget",code="insufficient_quota",rule=""\} \d+/);
  });
});
