/**
 * End to end: the compiled binary, started alone from an empty directory, in front of the mock
 * upstream, with the official `openai` SDK as the client.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import OpenAI from "openai";
import { startMockUpstream, type MockUpstream } from "../../bench/mock-upstream";
import { startWarden, type Running } from "./binary";
import { apiError } from "./sdk";

let mock: MockUpstream;
let warden: Running;
let client: OpenAI;

beforeAll(async () => {
  mock = await startMockUpstream({ port: 0 });
  warden = await startWarden({
    WARDEN_UPSTREAM_MOCK_URL: mock.url,
    WARDEN_UPSTREAM_MOCK_KEY: "sk-upstream-e2e",
    WARDEN_UPSTREAM_MOCK_MODELS: "mock-gpt,mock-embed",
    WARDEN_UPSTREAM_DEAD_URL: "http://127.0.0.1:1/v1",
    WARDEN_UPSTREAM_DEAD_MODELS: "dead-model",
    WARDEN_MASTER_KEY: "e2e-master-key-0123456789",
  });
  client = new OpenAI({ baseURL: `${warden.url}/v1`, apiKey: "e2e-master-key-0123456789", maxRetries: 0 });
});
afterAll(async () => {
  await warden?.stop();
  await mock?.stop();
});
beforeEach(() => mock.reset());

describe("the binary with the openai SDK", () => {
  test("chat completion", async () => {
    const reply = await client.chat.completions.create({ model: "mock-gpt", messages: [{ role: "user", content: "Hello" }] });
    expect(reply.object).toBe("chat.completion");
    expect(reply.choices[0].message.content).toStartWith("tok0 tok1");
    expect(reply.usage!.completion_tokens).toBe(16);
    const seen = mock.requests.at(-1)!;
    expect(seen.headers.authorization).toBe("Bearer sk-upstream-e2e");
    expect(JSON.stringify(seen.headers)).not.toContain("e2e-master-key");
  });

  test("streaming chat completion, with usage", async () => {
    const stream = await client.chat.completions.create({
      model: "mock-gpt",
      messages: [{ role: "user", content: "Hello" }],
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = "";
    let usage: OpenAI.CompletionUsage | null | undefined;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? "";
      if (chunk.usage) usage = chunk.usage;
    }
    expect(text.split(" ")).toHaveLength(16);
    expect(usage?.completion_tokens).toBe(16);
  });

  test("completions and embeddings", async () => {
    const completion = await client.completions.create({ model: "mock-gpt", prompt: "Say hi" });
    expect(completion.object).toBe("text_completion");
    expect(completion.choices[0].text.length).toBeGreaterThan(0);
    const emb = await client.embeddings.create({ model: "mock-embed", input: ["a", "b"] });
    expect(emb.data).toHaveLength(2);
    expect(emb.data[0].embedding.length).toBeGreaterThan(0);
    expect(typeof emb.data[0].embedding[0]).toBe("number");
  });

  test("models lists only what is configured", async () => {
    const ids: string[] = [];
    for await (const m of client.models.list()) ids.push(m.id);
    expect(ids.sort()).toEqual(["dead-model", "mock-embed", "mock-gpt"]);
    expect((await client.models.retrieve("mock-gpt")).owned_by).toBe("mock");
  });
});


describe("errors reach the SDK as APIErrors with the right status and code", () => {
  test("wrong key → 401", async () => {
    const bad = new OpenAI({ baseURL: `${warden.url}/v1`, apiKey: "wrong", maxRetries: 0 });
    const e = await apiError(bad.chat.completions.create({ model: "mock-gpt", messages: [] }));
    expect(e.status).toBe(401);
    expect(e.code).toBe("invalid_api_key");
    expect(mock.requests).toHaveLength(0);
  });

  test("bad JSON → 400", async () => {
    const res = await fetch(`${warden.url}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: "Bearer e2e-master-key-0123456789", "content-type": "application/json" },
      body: '{"model": "mock-gpt", "messages": [',
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("invalid_json");
  });

  test("unknown model → 404", async () => {
    const e = await apiError(client.chat.completions.create({ model: "gpt-unknown", messages: [{ role: "user", content: "x" }] }));
    expect(e.status).toBe(404);
    expect(e.code).toBe("model_not_found");
  });

  test("upstream 500 → 502", async () => {
    mock.behavior.status = 500;
    const e = await apiError(client.chat.completions.create({ model: "mock-gpt", messages: [{ role: "user", content: "x" }] }));
    expect(e.status).toBe(502);
    expect(e.code).toBe("upstream_error");
  });

  test("upstream down → 502", async () => {
    const e = await apiError(client.chat.completions.create({ model: "dead-model", messages: [{ role: "user", content: "x" }] }));
    expect(e.status).toBe(502);
    expect(e.code).toBe("upstream_unavailable");
  });

  test("upstream reset mid-stream → the SDK's stream throws", async () => {
    mock.behavior.delayMs = 10;
    mock.behavior.resetAfterTokens = 3;
    const stream = await client.chat.completions.create({ model: "mock-gpt", messages: [{ role: "user", content: "x" }], stream: true });
    let tokens = 0;
    const e = await apiError(
      (async () => {
        for await (const chunk of stream) if (chunk.choices[0]?.delta.content) tokens++;
      })(),
    );
    // Tokens written just before the reset may die with the connection; none after it arrive.
    expect(tokens).toBeGreaterThanOrEqual(1);
    expect(tokens).toBeLessThanOrEqual(3);
    expect(e.message).toContain("failed mid-stream");
  });

  test("client abort mid-stream → the upstream sees the abort", async () => {
    mock.behavior.tokens = 500;
    mock.behavior.delayMs = 20;
    const stream = await client.chat.completions.create({ model: "mock-gpt", messages: [{ role: "user", content: "x" }], stream: true });
    let seen = 0;
    for await (const chunk of stream) {
      if (chunk.choices[0]?.delta.content && ++seen === 3) break; // breaking out aborts the SDK's request
    }
    const until = Date.now() + 5000;
    while (mock.aborts === 0 && Date.now() < until) await Bun.sleep(20);
    expect(mock.aborts).toBe(1);
  });

  test("unknown route → 404, not 200", async () => {
    const res = await fetch(`${warden.url}/v2/everything`, { headers: { authorization: "Bearer e2e-master-key-0123456789" } });
    expect(res.status).toBe(404);
  });

  test("the server log never contains the keys", () => {
    expect(warden.log()).not.toContain("e2e-master-key-0123456789");
    expect(warden.log()).not.toContain("sk-upstream-e2e");
  });
});
