/**
 * Routing on real sockets: a listening gateway (every stage) in front of several mock upstreams
 * as real servers, driven by the official `openai` SDK where a client's view matters.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import OpenAI from "openai";
import { createGateway, listen } from "../app";
import { loadConfig } from "../config";
import { startMockUpstream, type MockUpstream } from "../../bench/mock-upstream";
import { entropy } from "../../test/support/core";

let a: MockUpstream;
let b: MockUpstream;
const running: (() => Promise<void>)[] = [];

beforeAll(async () => {
  a = await startMockUpstream({ port: 0 });
  b = await startMockUpstream({ port: 0 });
});
afterAll(async () => {
  await a.stop();
  await b.stop();
});
afterEach(async () => {
  a.reset();
  b.reset();
  while (running.length > 0) await running.pop()!();
});

/** A gateway on a real port with `env`; returns its base URL and a scrape of /metrics. */
function gateway(env: Record<string, string>) {
  const config = loadConfig({ WARDEN_LOG_LEVEL: "error", ...env });
  const g = createGateway(config, { coreVersion: "test", auditAlive: async () => true, entropy });
  const server = listen(g, { hostname: "127.0.0.1", port: 0, idleTimeout: 10, maxRequestBodySize: config.maxBodyBytes });
  running.push(() => server.stop(true));
  const base = `http://127.0.0.1:${server.port}`;
  return {
    base,
    client: new OpenAI({ baseURL: `${base}/v1`, apiKey: "unused", maxRetries: 0 }),
    scrape: async () => (await g.metrics.exposition()).split("\n"),
  };
}

const upstream = (name: string, url: string, models: string, extra: Record<string, string> = {}) => ({
  [`WARDEN_UPSTREAM_${name}_URL`]: url,
  [`WARDEN_UPSTREAM_${name}_MODELS`]: models,
  ...Object.fromEntries(Object.entries(extra).map(([k, v]) => [`WARDEN_UPSTREAM_${name}_${k}`, v])),
});

function chat(base: string, body: Record<string, unknown> = {}) {
  return fetch(`${base}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: "mock-gpt", messages: [{ role: "user", content: "hi" }], ...body }),
  });
}

const chatsTo = (m: MockUpstream) => m.requests.filter((r) => r.path.endsWith("/chat/completions")).length;
const metric = (lines: string[], prefix: string) => lines.find((l) => l.startsWith(prefix));

describe("spreading load", () => {
  test("weights 3:1 give three requests to one upstream for each to the other", async () => {
    const g = gateway({ ...upstream("A", a.url, "mock-gpt", { WEIGHT: "3" }), ...upstream("B", b.url, "mock-gpt") });
    for (let i = 0; i < 40; i++) expect((await chat(g.base)).status).toBe(200);
    expect([chatsTo(a), chatsTo(b)]).toEqual([30, 10]);
  });

  test("least-inflight sends new requests away from the upstream busy with slow ones", async () => {
    const g = gateway({ ...upstream("A", a.url, "mock-gpt"), ...upstream("B", b.url, "mock-gpt"), WARDEN_ROUTING_STRATEGY: "least-inflight" });
    a.behavior.firstByteDelayMs = 1500; // a holds every request it gets
    const pending: Promise<Response>[] = [];
    for (let i = 0; i < 10; i++) {
      pending.push(chat(g.base));
      // The next request is routed only once this one reached an upstream (and is in flight there).
      while (chatsTo(a) + chatsTo(b) < i + 1) await Bun.sleep(2);
    }
    // Ties go either way; once a holds one request it gets no more. Round-robin would give it 5.
    expect(chatsTo(a)).toBeLessThanOrEqual(1);
    expect(chatsTo(b)).toBeGreaterThanOrEqual(9);
    for (const res of await Promise.all(pending)) expect(res.status).toBe(200);
  });

  test("the latency strategy prefers the upstream that answers faster", async () => {
    const g = gateway({ ...upstream("A", a.url, "mock-gpt"), ...upstream("B", b.url, "mock-gpt"), WARDEN_ROUTING_STRATEGY: "latency" });
    a.behavior.firstByteDelayMs = 40;
    for (let i = 0; i < 60; i++) expect((await chat(g.base)).status).toBe(200);
    expect(chatsTo(b)).toBeGreaterThan(50); // a is measured once, then only when exploring (1 in 20)
  });
});

describe("failures the client never sees", () => {
  test("an unreachable upstream: the request goes to the other one at once", async () => {
    const g = gateway({ ...upstream("A", "http://127.0.0.1:1/v1", "mock-gpt"), ...upstream("B", b.url, "mock-gpt") });
    const res = await chat(g.base);
    expect(res.status).toBe(200);
    expect(res.headers.get("x-warden-attempts")).toBe("2");
    const m = await g.scrape();
    expect(metric(m, 'warden_upstream_retries_total{upstream="a",code="upstream_unavailable"}')).toEndWith(" 1");
  });

  test("a 500 is retried on the other upstream; a 400 is the client's to fix and is not", async () => {
    const g = gateway({ ...upstream("A", a.url, "mock-gpt"), ...upstream("B", b.url, "mock-gpt") });
    a.behavior.status = 500;
    const res = await g.client.chat.completions.create({ model: "mock-gpt", messages: [{ role: "user", content: "hi" }] });
    expect(res.choices[0].message.content).toContain("tok0");
    expect([chatsTo(a), chatsTo(b)]).toEqual([1, 1]);
    a.behavior.status = 400;
    b.behavior.status = 400;
    const bad = await chat(g.base);
    expect(bad.status).toBe(400);
    expect(chatsTo(a) + chatsTo(b)).toBe(3); // one more, not two
  });

  test("a stream whose first event does not come in time is retried elsewhere; the client gets one whole stream", async () => {
    const g = gateway({ ...upstream("A", a.url, "mock-gpt"), ...upstream("B", b.url, "mock-gpt"), WARDEN_FIRST_BYTE_TIMEOUT_MS: "300" });
    a.behavior.firstEventDelayMs = 2000;
    const stream = await g.client.chat.completions.create({ model: "mock-gpt", messages: [{ role: "user", content: "hi" }], stream: true });
    let text = "";
    for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? "";
    expect(text).toBe(Array.from({ length: 16 }, (_, i) => `tok${i}`).join(" "));
    expect([chatsTo(a), chatsTo(b)]).toEqual([1, 1]);
    await Bun.sleep(50);
    expect(a.aborts).toBe(1); // the stalled upstream request was cancelled
  });

  test("an upstream that cannot even accept a connection is given up after the connect timeout", async () => {
    const hole = await blackhole();
    try {
      const g = gateway({
        ...upstream("A", `http://127.0.0.1:${hole.port}/v1`, "mock-gpt"),
        ...upstream("B", b.url, "mock-gpt"),
        WARDEN_CONNECT_TIMEOUT_MS: "200",
        WARDEN_FIRST_BYTE_TIMEOUT_MS: "20000",
      });
      const t0 = performance.now();
      const res = await chat(g.base);
      const took = performance.now() - t0;
      expect(res.status).toBe(200);
      expect(res.headers.get("x-warden-attempts")).toBe("2");
      expect(took).toBeLessThan(1500); // 200 ms of silence, a 200 ms probe, one 100 ms sweep
      const m = await g.scrape();
      expect(metric(m, 'warden_upstream_errors_total{upstream="a",code="upstream_connect_timeout"}')).toEndWith(" 1");
    } finally {
      hole.close();
    }
  });
});

describe("failures the client does see", () => {
  test("never retried once the client has bytes: a stream cut mid-way ends in an error event", async () => {
    const g = gateway({ ...upstream("A", a.url, "mock-gpt"), ...upstream("B", b.url, "mock-gpt") });
    a.behavior.resetAfterTokens = 3;
    const res = await chat(g.base, { stream: true });
    expect(res.status).toBe(200);
    expect(await res.text()).toContain("upstream_stream_interrupted");
    expect([chatsTo(a), chatsTo(b)]).toEqual([1, 0]);
  });

  test("one upstream and no fallback: retried with backoff, then the last error, and never cooled down", async () => {
    const g = gateway({ ...upstream("A", a.url, "mock-gpt"), WARDEN_RETRIES: "2", WARDEN_COOLDOWN_FAILURES: "1" });
    a.behavior.status = 503;
    const res = await chat(g.base);
    expect(res.status).toBe(502);
    expect(chatsTo(a)).toBe(3);
    a.behavior.status = 0;
    expect((await chat(g.base)).status).toBe(200);
  });
});

describe("cooldowns", () => {
  test("a failing upstream leaves rotation after three failures, then one trial brings it back", async () => {
    const g = gateway({
      ...upstream("A", a.url, "mock-gpt"),
      ...upstream("B", b.url, "mock-gpt"),
      WARDEN_RETRIES: "1",
      WARDEN_COOLDOWN_FAILURES: "3",
      WARDEN_COOLDOWN_MS: "400",
    });
    a.behavior.status = 500;
    for (let i = 0; i < 10; i++) expect((await chat(g.base)).status).toBe(200);
    expect(chatsTo(a)).toBe(3); // then cooling down: b takes everything
    let m = await g.scrape();
    expect(metric(m, 'warden_upstream_available{upstream="a",model="mock-gpt"}')).toEndWith(" 0");
    expect(metric(m, 'warden_upstream_cooldowns_total{upstream="a",model="mock-gpt"}')).toEndWith(" 1");
    a.behavior.status = 0;
    await Bun.sleep(450);
    for (let i = 0; i < 4; i++) expect((await chat(g.base)).status).toBe(200);
    expect(chatsTo(a)).toBeGreaterThanOrEqual(5); // the trial, then its share again
    m = await g.scrape();
    expect(metric(m, 'warden_upstream_available{upstream="a",model="mock-gpt"}')).toEndWith(" 1");
  });
});

describe("fallbacks", () => {
  test("to another model when every deployment of the first failed, at that model's name upstream", async () => {
    const g = gateway({
      ...upstream("A", a.url, "primary=mock-gpt"),
      ...upstream("B", b.url, "backup=mock-gpt-mini"),
      WARDEN_MODEL_P_NAME: "primary",
      WARDEN_MODEL_P_FALLBACKS: "backup",
      WARDEN_RETRIES: "0",
    });
    a.behavior.status = 503;
    const res = await g.client.chat.completions.create({ model: "primary", messages: [{ role: "user", content: "hi" }] });
    expect(res.model).toBe("mock-gpt-mini");
    expect(JSON.parse(a.requests[0].body).model).toBe("mock-gpt");
    expect(JSON.parse(b.requests[0].body).model).toBe("mock-gpt-mini");
    const m = await g.scrape();
    expect(metric(m, 'warden_fallbacks_total{from="primary",to="backup",reason="error"}')).toEndWith(" 1");
  });

  test("to a larger model when the prompt does not fit the context window", async () => {
    const g = gateway({
      ...upstream("A", a.url, "small=mock-gpt"),
      ...upstream("B", b.url, "large=mock-gpt"),
      WARDEN_MODEL_S_NAME: "small",
      WARDEN_MODEL_S_CONTEXT_FALLBACKS: "large",
    });
    a.behavior.status = 400;
    a.behavior.errorCode = "context_length_exceeded";
    const res = await chat(g.base, { model: "small" });
    expect(res.status).toBe(200);
    expect([chatsTo(a), chatsTo(b)]).toEqual([1, 1]);
    const m = await g.scrape();
    expect(metric(m, 'warden_fallbacks_total{from="small",to="large",reason="context_window"}')).toEndWith(" 1");
  });
});

describe("per-model settings", () => {
  test("a model's own first-byte timeout applies to it alone", async () => {
    const g = gateway({
      ...upstream("A", a.url, "quick=mock-gpt,patient=mock-gpt"),
      WARDEN_RETRIES: "0",
      WARDEN_MODEL_Q_NAME: "quick",
      WARDEN_MODEL_Q_FIRST_BYTE_TIMEOUT_MS: "150",
    });
    a.behavior.firstByteDelayMs = 400;
    const quick = await chat(g.base, { model: "quick" });
    expect([quick.status, ((await quick.json()) as { error: { code: string } }).error.code]).toEqual([504, "upstream_timeout"]);
    expect((await chat(g.base, { model: "patient" })).status).toBe(200);
  });

  test("an open model's <think> and <tool_call> text becomes reasoning_content and tool_calls, streamed and whole", async () => {
    const g = gateway({ ...upstream("A", a.url, "qwen=mock-gpt"), WARDEN_MODEL_Q_NAME: "qwen", WARDEN_MODEL_Q_PARSER: "hermes" });
    a.behavior.text = '<think>The user wants weather.</think><tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>';
    const whole = await g.client.chat.completions.create({ model: "qwen", messages: [{ role: "user", content: "weather?" }] });
    const msg = whole.choices[0].message as typeof whole.choices[0]["message"] & { reasoning_content?: string };
    expect(msg.reasoning_content).toBe("The user wants weather.");
    expect(msg.tool_calls?.map((c) => c.type === "function" && [c.function.name, JSON.parse(c.function.arguments)])).toEqual([["get_weather", { city: "Paris" }]]);
    expect(whole.choices[0].finish_reason).toBe("tool_calls");

    const stream = await g.client.chat.completions.create({ model: "qwen", messages: [{ role: "user", content: "weather?" }], stream: true, stream_options: { include_usage: true } });
    let reasoning = "";
    let content = "";
    const calls: string[] = [];
    let finish: string | null = null;
    let usage = 0;
    for await (const chunk of stream) {
      const d = chunk.choices[0]?.delta as { content?: string | null; reasoning_content?: string; tool_calls?: { function?: { name?: string; arguments?: string } }[] } | undefined;
      reasoning += d?.reasoning_content ?? "";
      content += d?.content ?? "";
      for (const c of d?.tool_calls ?? []) calls.push(`${c.function?.name}:${c.function?.arguments}`);
      finish = chunk.choices[0]?.finish_reason ?? finish;
      usage = chunk.usage?.completion_tokens ?? usage;
    }
    expect(reasoning).toBe("The user wants weather.");
    expect(content).toBe("");
    expect(calls.map((c) => [c.split(":")[0], JSON.parse(c.slice(c.indexOf(":") + 1))])).toEqual([["get_weather", { city: "Paris" }]]);
    expect(finish).toBe("tool_calls");
    expect(usage).toBeGreaterThan(0);
  });
});

describe("Azure OpenAI", () => {
  test("deployment URL, api-version and api-key; the reply passes through", async () => {
    const azureBase = a.url.replace(/\/v1$/, "/openai");
    const g = gateway({ ...upstream("AZ", azureBase, "gpt-4o=gpt4o-prod,embed=ada-prod", { PROVIDER: "azure", KEY: "az-secret", API_VERSION: "2024-10-21" }) });
    const res = await g.client.chat.completions.create({ model: "gpt-4o", messages: [{ role: "user", content: "hi" }] });
    expect(res.model).toBe("gpt4o-prod");
    const sent = a.requests[0];
    expect(sent.path).toBe("/openai/deployments/gpt4o-prod/chat/completions?api-version=2024-10-21");
    expect(sent.headers["api-key"]).toBe("az-secret");
    expect(sent.headers.authorization).toBeUndefined();
    const emb = await g.client.embeddings.create({ model: "embed", input: "hello" });
    expect(emb.data[0].embedding.length).toBeGreaterThan(0);
    expect(a.requests[1].path).toBe("/openai/deployments/ada-prod/embeddings?api-version=2024-10-21");
  });
});

describe("/v1/models", () => {
  test("a model served by several upstreams is listed once", async () => {
    const g = gateway({ ...upstream("A", a.url, "mock-gpt,solo"), ...upstream("B", b.url, "mock-gpt") });
    const list = (await (await fetch(`${g.base}/v1/models`)).json()) as { data: { id: string; owned_by: string }[] };
    expect(list.data.map((m) => [m.id, m.owned_by])).toEqual([["mock-gpt", "warden"], ["solo", "a"]]);
  });
});

/**
 * A TCP port that never completes a handshake: a listener with a backlog of 0 that never
 * accepts, its queue filled by one connection, so the kernel drops further SYNs (as a
 * firewall that drops packets would). Python, because Bun's listeners have no backlog option.
 */
async function blackhole(): Promise<{ port: number; close(): void }> {
  const proc = Bun.spawn(["python3", "-c", "import socket,sys,time\ns=socket.socket()\ns.bind(('127.0.0.1',0))\ns.listen(0)\nprint(s.getsockname()[1],flush=True)\ntime.sleep(600)"], { stdout: "pipe" });
  const reader = proc.stdout.getReader();
  const { value } = await reader.read();
  const port = Number(new TextDecoder().decode(value).trim());
  const fillers: Promise<{ end(): void } | undefined>[] = [];
  for (let i = 0; i < 2; i++) {
    fillers.push(Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {}, connectError() {} } }).catch(() => undefined));
  }
  await Bun.sleep(50);
  return {
    port,
    close() {
      proc.kill();
      for (const f of fillers) f.then((s) => s?.end());
    },
  };
}
