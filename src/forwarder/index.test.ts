/**
 * The forwarder against the mock upstream, through a real listening app (client aborts, Bun's
 * idle timeout and compression only show on real sockets).
 */
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { createGateway, listen as serve } from "../app";
import { loadConfig, type Config } from "../config";
import { startMockUpstream, type MockUpstream } from "../../bench/mock-upstream";
import { entropy } from "../../test/support/core";

let mock: MockUpstream;
let base: string;
let stopApp: () => Promise<void>;

function configFor(upstreamUrl: string, extra: Record<string, string> = {}): Config {
  return loadConfig({
    WARDEN_UPSTREAM_MOCK_URL: upstreamUrl,
    WARDEN_UPSTREAM_MOCK_MODELS: "mock-gpt,mock-embed",
    WARDEN_UPSTREAM_MOCK_KEY: "sk-upstream-secret",
    WARDEN_UPSTREAM_DOWN_URL: "http://127.0.0.1:1/v1",
    WARDEN_UPSTREAM_DOWN_MODELS: "gone",
    // One attempt per request: these tests are about a single exchange (src/router has its own).
    WARDEN_RETRIES: "0",
    ...extra,
  });
}

function listen(config: Config, idleTimeout = 2): { url: string; stop: () => Promise<void> } {
  const server = serve(createGateway(config, { coreVersion: "test", auditAlive: async () => true, entropy }), {
    hostname: "127.0.0.1",
    port: 0,
    idleTimeout,
    maxRequestBodySize: config.maxBodyBytes,
  });
  return { url: `http://127.0.0.1:${server.port}`, stop: () => server.stop(true) };
}

beforeAll(async () => {
  mock = await startMockUpstream({ port: 0 });
  const app = listen(configFor(mock.url, { WARDEN_FIRST_BYTE_TIMEOUT_MS: "1500", WARDEN_SSE_KEEPALIVE_MS: "200", WARDEN_STREAM_IDLE_TIMEOUT_MS: "1200" }));
  base = app.url;
  stopApp = app.stop;
});
afterAll(async () => {
  await stopApp();
  await mock.stop();
});
beforeEach(() => mock.reset());

function chat(body: Record<string, unknown>, init: RequestInit = {}) {
  return fetch(`${base}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: "Bearer client-secret" },
    body: JSON.stringify({ model: "mock-gpt", messages: [{ role: "user", content: "hi" }], ...body }),
    ...init,
  });
}

async function errorOf(res: Response) {
  const body = (await res.json()) as { error: { message: string; type: string; code: string; param: string | null } };
  expect(Object.keys(body.error).sort()).toEqual(["code", "message", "param", "type"]);
  return body.error;
}

describe("forwarding", () => {
  test("passes the reply through and rebuilds the upstream request", async () => {
    const res = await chat({}, { headers: { "content-type": "application/json", authorization: "Bearer client-secret", cookie: "a=b", "x-forwarded-for": "1.2.3.4" } });
    expect(res.status).toBe(200);
    expect(res.headers.get("x-request-id")).toMatch(/^req_[0-9a-f]{32}$/);
    const body = (await res.json()) as { object: string; usage: { completion_tokens: number } };
    expect(body.object).toBe("chat.completion");
    const seen = mock.requests.at(-1)!;
    expect(seen.path).toBe("/v1/chat/completions");
    expect(seen.headers.authorization).toBe("Bearer sk-upstream-secret");
    expect(seen.headers.cookie).toBeUndefined();
    expect(seen.headers["x-forwarded-for"]).toBeUndefined();
    expect(seen.headers["x-request-id"]).toBe(res.headers.get("x-request-id")!);
    expect(JSON.stringify(seen.headers)).not.toContain("client-secret");
    expect(JSON.parse(seen.body).messages[0].content).toBe("hi");
  });

  test("a gzip upstream reply reaches the client decoded, without a stale Content-Encoding", async () => {
    mock.behavior.gzip = true;
    const res = await chat({});
    expect(res.headers.get("content-encoding")).toBeNull();
    expect(((await res.json()) as { object: string }).object).toBe("chat.completion");
  });

  test("upstream 500 becomes 502 upstream_error, 429 stays 429 with Retry-After, 401 becomes 502", async () => {
    let res = await chat({ mock: { status: 500 } });
    expect(res.status).toBe(502);
    expect((await errorOf(res)).code).toBe("upstream_error");
    res = await chat({ mock: { status: 429 } });
    expect(res.status).toBe(429);
    expect(res.headers.get("retry-after")).toBe("1");
    expect((await errorOf(res)).code).toBe("rate_limit_exceeded");
    res = await chat({ mock: { status: 401 } });
    expect(res.status).toBe(502);
    expect((await errorOf(res)).code).toBe("upstream_auth_failed");
    res = await chat({ mock: { status: 400 } });
    expect(res.status).toBe(400);
  });

  test("an unreachable upstream is 502 upstream_unavailable", async () => {
    const res = await chat({ model: "gone" });
    expect(res.status).toBe(502);
    expect((await errorOf(res)).code).toBe("upstream_unavailable");
  });

  test("a slow first byte past the deadline is 504, and the upstream request is cancelled", async () => {
    const res = await chat({ mock: { firstByteDelayMs: 2000 } });
    expect(res.status).toBe(504);
    expect((await errorOf(res)).code).toBe("upstream_timeout");
    await Bun.sleep(700); // the mock notices when its 2 s "thinking" ends
    expect(mock.aborts).toBe(1);
  });

  test("a client that gives up on a slow non-streaming reply aborts the upstream request", async () => {
    const ac = new AbortController();
    const pending = chat({ mock: { firstByteDelayMs: 1000 } }, { signal: ac.signal }).catch(() => "aborted");
    await Bun.sleep(100);
    ac.abort();
    expect(await pending).toBe("aborted");
    const until = Date.now() + 3000;
    while (mock.aborts === 0 && Date.now() < until) await Bun.sleep(20);
    expect(mock.aborts).toBe(1);
  });

  test("a slow non-streaming upstream outlives Bun's idle timeout", async () => {
    const app = listen(configFor(mock.url), 1); // Bun cuts idle sockets after 1 s here
    try {
      const res = await fetch(`${app.url}/v1/chat/completions`, {
        method: "POST",
        body: JSON.stringify({ model: "mock-gpt", messages: [{ role: "user", content: "Hi" }], mock: { firstByteDelayMs: 2500 } }),
      });
      expect(res.status).toBe(200);
      expect(((await res.json()) as { object: string }).object).toBe("chat.completion");
    } finally {
      await app.stop();
    }
  });
});

async function readAll(res: Response): Promise<string> {
  return await res.text();
}

describe("streaming", () => {
  test("is passed through chunk by chunk as tokens arrive", async () => {
    const res = await chat({ stream: true, mock: { tokens: 5, delayMs: 100 } });
    expect(res.headers.get("content-type")).toStartWith("text/event-stream");
    const reader = res.body!.getReader();
    const arrivals: number[] = [];
    const t0 = performance.now();
    let text = "";
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      arrivals.push(performance.now() - t0);
      text += new TextDecoder().decode(value);
    }
    expect(text).toContain("data: [DONE]");
    expect(arrivals.length).toBeGreaterThanOrEqual(5);
    expect(arrivals.at(-1)! - arrivals[0]).toBeGreaterThan(300); // spread out, not buffered to the end
  });

  test("a reset mid-stream ends the stream with an error event", async () => {
    const res = await chat({ stream: true, mock: { tokens: 10, delayMs: 20, resetAfterTokens: 3 } });
    expect(res.status).toBe(200);
    const text = await readAll(res);
    expect(text).not.toContain("[DONE]");
    const last = text.trim().split("\n\n").at(-1)!;
    const event = JSON.parse(last.replace(/^data: /, ""));
    expect(event.error.code).toBe("upstream_stream_interrupted");
  });

  test("long upstream silence gets keep-alive comments, and is cut after the idle timeout", async () => {
    // keep-alive every 200 ms; idle timeout 1.2 s; bun's own idle timeout is 2 s on this server
    const res = await chat({ stream: true, mock: { tokens: 4, pauseAfterTokens: 2, pauseMs: 900 } });
    const text = await readAll(res);
    expect(text).toContain(": keep-alive\n\n");
    expect(text).toContain("data: [DONE]");

    const cut = await readAll(await chat({ stream: true, mock: { tokens: 4, pauseAfterTokens: 2, pauseMs: 5000 } }));
    expect(cut).not.toContain("[DONE]");
    expect(cut).toContain('"code":"upstream_idle_timeout"');
  });

  test("a stream that stays active longer than Bun's idle timeout is not cut", async () => {
    const text = await readAll(await chat({ stream: true, mock: { tokens: 30, delayMs: 100 } })); // ~3 s > 2 s
    expect(text).toContain("data: [DONE]");
  });

  test("a client that disconnects mid-stream aborts the upstream request", async () => {
    const ac = new AbortController();
    const res = await chat({ stream: true, mock: { tokens: 200, delayMs: 20 } }, { signal: ac.signal });
    const reader = res.body!.getReader();
    await reader.read();
    await reader.read();
    ac.abort();
    const until = Date.now() + 3000;
    while (mock.aborts === 0 && Date.now() < until) await Bun.sleep(20);
    expect(mock.aborts).toBe(1);
  });
});
