import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import OpenAI, { APIError } from "openai";
import { startMockUpstream, type MockUpstream } from "./mock-upstream.ts";

let mock: MockUpstream;
let client: OpenAI;

beforeAll(async () => {
  mock = await startMockUpstream();
  // maxRetries 0: injected errors must surface once instead of being retried by the SDK.
  client = new OpenAI({ baseURL: mock.url, apiKey: "sk-test", maxRetries: 0 });
});
afterAll(() => mock.stop());
beforeEach(() => mock.reset());

const post = (path: string, body: unknown, init: RequestInit = {}) =>
  fetch(mock.url + path, { method: "POST", headers: { "content-type": "application/json" }, body: typeof body === "string" ? body : JSON.stringify(body), ...init });

// Reads a body to the end; a broken connection is reported instead of thrown.
async function readAll(res: Response): Promise<{ text: string; error: unknown }> {
  const reader = res.body!.getReader();
  const dec = new TextDecoder();
  let text = "";
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return { text, error: null };
      text += dec.decode(value, { stream: true });
    }
  } catch (error) {
    return { text, error };
  }
}

const tokenChunks = (sse: string) => sse.split("\n\n").filter((e) => e.includes('"delta":{"content"')).length;

describe("mock upstream", () => {
  test("lists models", async () => {
    const models = [];
    for await (const m of client.models.list()) models.push(m);
    expect(models.map((m) => m.id)).toContain("mock-gpt");
    expect(models[0]).toMatchObject({ object: "model", owned_by: "mock" });
    expect(typeof models[0].created).toBe("number");
  });

  test("chat completion, non-streaming", async () => {
    const r = await client.chat.completions.create({ model: "any-model", messages: [{ role: "user", content: "hello there" }] });
    expect(r.object).toBe("chat.completion");
    expect(r.id).toStartWith("chatcmpl-");
    expect(r.model).toBe("any-model");
    expect(r.choices[0].message).toMatchObject({ role: "assistant", content: Array.from({ length: 16 }, (_, i) => `tok${i}`).join(" "), refusal: null });
    expect(r.choices[0].finish_reason).toBe("stop");
    expect(r.usage!.completion_tokens).toBe(16);
    expect(r.usage!.total_tokens).toBe(r.usage!.prompt_tokens + 16);
    expect(r.system_fingerprint).toBeString();
  });

  test("max_tokens caps the reply with finish_reason length", async () => {
    const r = await client.chat.completions.create({ model: "m", messages: [{ role: "user", content: "x" }], max_tokens: 4 });
    expect(r.choices[0].message.content).toBe("tok0 tok1 tok2 tok3");
    expect(r.choices[0].finish_reason).toBe("length");
    expect(r.usage!.completion_tokens).toBe(4);
  });

  test("chat completion, streaming with include_usage", async () => {
    mock.behavior.tokens = 7;
    const stream = await client.chat.completions.create({
      model: "m", messages: [{ role: "user", content: "hi" }], stream: true, stream_options: { include_usage: true },
    });
    const chunks = [];
    for await (const c of stream) chunks.push(c);
    expect(chunks[0].choices[0].delta).toMatchObject({ role: "assistant", content: "" });
    const text = chunks.map((c) => c.choices[0]?.delta.content ?? "").join("");
    expect(text).toBe("tok0 tok1 tok2 tok3 tok4 tok5 tok6");
    expect(chunks.filter((c) => c.choices[0]?.delta.content).length).toBe(7);
    const finish = chunks[chunks.length - 2];
    expect(finish.choices[0].finish_reason).toBe("stop");
    expect(finish.usage).toBeNull();
    const last = chunks[chunks.length - 1];
    expect(last.choices).toEqual([]);
    expect(last.usage).toMatchObject({ completion_tokens: 7 });
    expect(chunks.every((c) => c.object === "chat.completion.chunk" && c.model === "m")).toBe(true);
  });

  test("streaming wire format ends with [DONE] and omits usage without include_usage", async () => {
    const res = await post("/chat/completions", { model: "m", messages: [], stream: true, mock: { tokens: 3 } });
    expect(res.headers.get("content-type")).toStartWith("text/event-stream");
    const { text, error } = await readAll(res);
    expect(error).toBeNull();
    expect(text.endsWith("data: [DONE]\n\n")).toBe(true);
    expect(text).not.toContain('"usage"');
    expect(tokenChunks(text)).toBe(3);
  });

  test("text completions, plain and streaming", async () => {
    const r = await client.completions.create({ model: "m", prompt: "say", mock: { tokens: 3 } } as any);
    expect(r.object).toBe("text_completion");
    expect(r.choices[0]).toMatchObject({ text: "tok0 tok1 tok2", index: 0, logprobs: null, finish_reason: "stop" });
    expect(r.usage!.completion_tokens).toBe(3);

    const stream = await client.completions.create({ model: "m", prompt: "say", stream: true, max_tokens: 2 });
    const chunks = [];
    for await (const c of stream) chunks.push(c);
    expect(chunks.map((c) => c.choices[0].text).join("")).toBe("tok0 tok1");
    expect(chunks.every((c) => c.object === "text_completion")).toBe(true);
    expect(chunks[chunks.length - 1].choices[0].finish_reason).toBe("length");
  });

  test("embeddings: SDK default base64 and explicit float", async () => {
    const b64 = await client.embeddings.create({ model: "mock-embed", input: ["a", "b", "c"] });
    expect(mock.requests.at(-1)!.body).toContain('"encoding_format":"base64"');
    expect(b64.data.length).toBe(3);
    expect(b64.data[2].index).toBe(2);
    expect(b64.data[0].embedding.length).toBe(8);
    expect(b64.data[0].embedding.every((x) => typeof x === "number")).toBe(true);

    const flt = await client.embeddings.create({ model: "mock-embed", input: ["a", "b", "c"], encoding_format: "float" });
    const raw = JSON.parse(mock.requests.at(-1)!.body);
    expect(raw.encoding_format).toBe("float");
    // Same input, same vector, whatever the encoding.
    expect(flt.data[0].embedding).toEqual(b64.data[0].embedding);
    expect(flt.data[0].embedding).not.toEqual(flt.data[1].embedding);
    expect(flt.usage.total_tokens).toBeGreaterThan(0);

    const single = await client.embeddings.create({ model: "e", input: "one string", encoding_format: "float" });
    expect(single.data.length).toBe(1);
    const tokens = await client.embeddings.create({ model: "e", input: [[1, 2], [3]], encoding_format: "float" });
    expect(tokens.data.length).toBe(2);
    const flatTokens = await client.embeddings.create({ model: "e", input: [1, 2, 3], encoding_format: "float", dimensions: 4 });
    expect(flatTokens.data.length).toBe(1);
    expect(flatTokens.data[0].embedding.length).toBe(4);
  });

  test("injected 500 surfaces as APIError", async () => {
    mock.behavior.status = 500;
    const err = await client.chat.completions.create({ model: "m", messages: [] }).catch((e) => e);
    expect(err).toBeInstanceOf(APIError);
    expect(err.status).toBe(500);
    expect(err.error).toMatchObject({ type: "server_error" });
    expect(mock.requests.length).toBe(1);
  });

  test("per-request mock override applies to that request only", async () => {
    const res = await post("/chat/completions", { model: "m", messages: [], mock: { status: 429 } });
    expect(res.status).toBe(429);
    expect(res.headers.get("retry-after")).toBe("1");
    expect(await res.json()).toEqual({ error: { message: expect.any(String), type: "requests", param: null, code: "rate_limit_exceeded" } });
    expect(mock.behavior.status).toBe(0);
    const ok = await post("/chat/completions", { model: "m", messages: [] });
    expect(ok.status).toBe(200);
  });

  test("gzip bodies are decoded by fetch", async () => {
    mock.behavior.gzip = true;
    const raw = await post("/chat/completions", { model: "m", messages: [] }, { decompress: false } as RequestInit);
    expect(raw.headers.get("content-encoding")).toBe("gzip");
    const bytes = new Uint8Array(await raw.arrayBuffer());
    expect([bytes[0], bytes[1]]).toEqual([0x1f, 0x8b]);
    const res = await post("/chat/completions", { model: "m", messages: [] });
    const body = await res.json();
    expect(body.choices[0].message.content).toStartWith("tok0 tok1");
  });

  test("resetAfterTokens truncates the stream abruptly", async () => {
    const res = await post("/chat/completions", { model: "m", messages: [], stream: true, mock: { tokens: 10, resetAfterTokens: 3 } });
    expect(res.status).toBe(200);
    const { text, error } = await readAll(res);
    expect(error).not.toBeNull();
    expect(text).not.toContain("[DONE]");
    expect(tokenChunks(text)).toBe(3);
    expect(mock.aborts).toBe(0);
  });

  test("client aborts mid-stream are counted", async () => {
    const ac = new AbortController();
    const res = await post("/chat/completions", { model: "m", messages: [], stream: true, mock: { tokens: 50, delayMs: 20 } }, { signal: ac.signal });
    const reader = res.body!.getReader();
    await reader.read();
    await reader.read();
    ac.abort();
    await reader.read().catch(() => {});
    const deadline = Date.now() + 2000;
    while (mock.aborts < 1 && Date.now() < deadline) await Bun.sleep(10);
    expect(mock.aborts).toBe(1);
    // A stream that completes normally is not an abort.
    await readAll(await post("/chat/completions", { model: "m", messages: [], stream: true }));
    await Bun.sleep(50);
    expect(mock.aborts).toBe(1);
  });

  test("inter-token delay is real and incremental", async () => {
    mock.behavior.delayMs = 30;
    mock.behavior.tokens = 5;
    const t0 = performance.now();
    const stream = await client.chat.completions.create({ model: "m", messages: [], stream: true });
    const arrivals: number[] = [];
    for await (const c of stream) if (c.choices[0]?.delta.content) arrivals.push(performance.now() - t0);
    expect(arrivals.length).toBe(5);
    expect(arrivals[4]).toBeGreaterThanOrEqual(120);
    expect(arrivals[4] - arrivals[0]).toBeGreaterThanOrEqual(100); // tokens were not batched at the end
  });

  test("pause and first-byte delay", async () => {
    const t0 = performance.now();
    const res = await post("/chat/completions", { model: "m", messages: [], stream: true, mock: { tokens: 4, firstByteDelayMs: 60, pauseAfterTokens: 2, pauseMs: 80 } });
    const headersAt = performance.now() - t0;
    const { text } = await readAll(res);
    expect(headersAt).toBeGreaterThanOrEqual(55);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(135);
    expect(tokenChunks(text)).toBe(4);
  });

  test("bad JSON, missing model and unknown route", async () => {
    const bad = await post("/chat/completions", "{not json");
    expect(bad.status).toBe(400);
    expect(await bad.json()).toEqual({ error: { message: expect.any(String), type: "invalid_request_error", param: null, code: null } });
    const noModel = await post("/chat/completions", { messages: [] });
    expect(noModel.status).toBe(400);
    expect((await noModel.json()).error.type).toBe("invalid_request_error");
    const missing = await fetch(mock.url + "/nope");
    expect(missing.status).toBe(404);
    expect((await missing.json()).error).toMatchObject({ type: "invalid_request_error", param: null });
  });

  test("records requests with lower-cased headers; reset clears them", async () => {
    await post("/embeddings", { model: "e", input: "x" }, { headers: { "Content-Type": "application/json", "X-Custom": "1" } });
    expect(mock.requests).toHaveLength(1);
    expect(mock.requests[0]).toMatchObject({ method: "POST", path: "/v1/embeddings", body: '{"model":"e","input":"x"}' });
    expect(mock.requests[0].headers["x-custom"]).toBe("1");
    mock.reset();
    expect(mock.requests).toHaveLength(0);
  });

  test("record: false stores nothing", async () => {
    const quiet = await startMockUpstream({ record: false, behavior: { tokens: 2 } });
    try {
      const r = await (await fetch(quiet.url + "/chat/completions", { method: "POST", body: '{"model":"m","messages":[]}' })).json();
      expect(r.choices[0].message.content).toBe("tok0 tok1");
      expect(quiet.requests).toHaveLength(0);
    } finally {
      await quiet.stop();
    }
  });

  test("script mode prints its URL and serves", async () => {
    const proc = Bun.spawn([process.execPath, import.meta.dir + "/mock-upstream.ts", "--port", "0", "--tokens", "2"], { stdout: "pipe" });
    try {
      const reader = proc.stdout.getReader();
      let out = "";
      while (!out.includes("\n")) out += new TextDecoder().decode((await reader.read()).value);
      const m = out.match(/^mock upstream listening on (http:\/\/127\.0\.0\.1:\d+\/v1)\n$/);
      expect(m).not.toBeNull();
      const r = await new OpenAI({ baseURL: m![1], apiKey: "x", maxRetries: 0 }).chat.completions.create({ model: "m", messages: [] });
      expect(r.choices[0].message.content).toBe("tok0 tok1");
    } finally {
      proc.kill("SIGTERM");
      expect(await proc.exited).toBe(0);
    }
  });
});

describe("mock upstream tool calls", () => {
  const tools: OpenAI.ChatCompletionTool[] = [
    { type: "function", function: { name: "get_weather", parameters: { type: "object", properties: { city: { type: "string" }, days: { type: "integer" } } } } },
    { type: "function", function: { name: "get_time", parameters: { type: "object", properties: {} } } },
  ];

  test("only when asked: required, a named tool, mock:tool, or the behaviour", async () => {
    const ask = (extra: Record<string, unknown>, content = "hi") =>
      client.chat.completions.create({ model: "m", messages: [{ role: "user", content }], tools, ...extra } as never) as Promise<OpenAI.ChatCompletion>;
    expect((await ask({})).choices[0].message.tool_calls).toBeUndefined();
    const fn = (r: OpenAI.ChatCompletion) => (r.choices[0].message.tool_calls![0] as OpenAI.ChatCompletionMessageFunctionToolCall).function;
    expect(fn(await ask({ tool_choice: "required" }))).toEqual({ name: "get_weather", arguments: '{"city":"mock","days":1}' });
    expect(fn(await ask({ tool_choice: { type: "function", function: { name: "get_time" } } })).name).toBe("get_time");
    expect((await ask({}, "call mock:tool please")).choices[0].finish_reason).toBe("tool_calls");
    expect((await ask({ tool_choice: "none" }, "mock:tool")).choices[0].message.tool_calls).toBeUndefined();
    mock.behavior.tool = true;
    const r = await ask({});
    expect(r.choices[0].message.content).toBeNull();
    expect(r.usage!.completion_tokens).toBe(8);
  });

  test("streamed: id and name first, the arguments in fragments that add up", async () => {
    const stream = await client.chat.completions.create({ model: "m", messages: [{ role: "user", content: "hi" }], tools, tool_choice: "required", stream: true, stream_options: { include_usage: true } });
    let args = "";
    let name = "";
    let fragments = 0;
    let finish: string | null = null;
    let usage: OpenAI.CompletionUsage | undefined;
    for await (const chunk of stream) {
      for (const t of chunk.choices[0]?.delta.tool_calls ?? []) {
        name += t.function?.name ?? "";
        if (t.function?.arguments) fragments++;
        args += t.function?.arguments ?? "";
      }
      finish = chunk.choices[0]?.finish_reason ?? finish;
      usage = chunk.usage ?? usage;
    }
    expect({ name, args: JSON.parse(args), fragments, finish }).toEqual({ name: "get_weather", args: { city: "mock", days: 1 }, fragments: 2, finish: "tool_calls" });
    expect(usage?.completion_tokens).toBe(8);
  });
});
