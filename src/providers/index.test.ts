/** Provider dispatch: targets, which pairs need a plan, and what each plan sends and expects. */
import { describe, expect, test } from "bun:test";
import type { Upstream } from "../config";
import { GatewayError } from "../errors";
import { endsWithFinalEvent, needsPlan, planExchange, prepareTarget, streamErrorEvent, supports, type Dialect, type ExchangeCall } from ".";
import { chainTranslators } from "./common/transform";
import { createGeminiStreamTranslator } from "./gemini";
import { createOpenAIToAnthropicStreamTranslator } from "./anthropic";

const upstream = (provider: Upstream["provider"], url: string, key?: string): Upstream => ({ name: provider, url, key, models: ["m"], renamed: {}, provider, weight: 1, apiVersion: provider === "azure" ? "2024-10-21" : undefined, streamUsage: true });
const OPENAI = prepareTarget(upstream("openai", "http://127.0.0.1:9000/v1", "sk-o"), "m");
const ANTHROPIC = prepareTarget(upstream("anthropic", "https://api.anthropic.com", "sk-ant"), "m");
const GEMINI = prepareTarget(upstream("gemini", "https://generativelanguage.googleapis.com", "AIza"), "m");
const enc = new TextEncoder();

function call(target: typeof OPENAI, dialect: Dialect, json: Record<string, unknown>, extra: Partial<ExchangeCall> = {}): ExchangeCall {
  const body = enc.encode(JSON.stringify(json));
  return { target, endpoint: "chat/completions", dialect, json, body, redacted: false, stream: json.stream === true, requestId: "req_00ff", clientHeaders: new Headers({ "user-agent": "sdk/1", authorization: "Bearer client-secret", "x-api-key": "client-secret" }), ...extra };
}
const chat = { model: "m", messages: [{ role: "user", content: "Hi" }] };

describe("targets", () => {
  test("URLs and fixed headers per provider, computed once", () => {
    expect(OPENAI.urls["chat/completions"]).toBe("http://127.0.0.1:9000/v1/chat/completions");
    expect(ANTHROPIC.urls["chat/completions"]).toBe("https://api.anthropic.com/v1/messages");
    expect(ANTHROPIC.baseHeaders).toEqual({ "content-type": "application/json", "anthropic-version": "2023-06-01", "x-api-key": "sk-ant" });
    expect(GEMINI.baseHeaders).toEqual({ "content-type": "application/json", "x-goog-api-key": "AIza" });
    expect(prepareTarget(upstream("anthropic", "https://proxy.example/v1"), "m").urls["chat/completions"]).toBe("https://proxy.example/v1/messages");
  });

  test("Azure: one URL per deployment with the api-version, the key in api-key, OpenAI's format as it is", () => {
    const azure = prepareTarget({ ...upstream("azure", "https://acme.openai.azure.com/openai", "az-key"), models: ["gpt-4o"], renamed: { "gpt-4o": "gpt4o-prod" } }, "gpt-4o");
    expect(azure.model).toBe("gpt4o-prod");
    expect(azure.urls["chat/completions"]).toBe("https://acme.openai.azure.com/openai/deployments/gpt4o-prod/chat/completions?api-version=2024-10-21");
    expect(azure.urls.embeddings).toBe("https://acme.openai.azure.com/openai/deployments/gpt4o-prod/embeddings?api-version=2024-10-21");
    expect(azure.baseHeaders).toEqual({ "content-type": "application/json", "api-key": "az-key" });
    expect(needsPlan(azure, "openai")).toBe(false);
    expect(supports(azure.upstream, "embeddings")).toBe(true);
  });

  test("a renamed model: the upstream's name is what is sent, in every format", () => {
    const renamed = (u: Upstream) => prepareTarget({ ...u, renamed: { m: "m-2025" } }, "m");
    const openai = planExchange(call(renamed(OPENAI.upstream), "anthropic", chat));
    expect(JSON.parse(openai.body as string).model).toBe("m-2025");
    const claude = planExchange(call(renamed(ANTHROPIC.upstream), "openai", chat));
    expect(JSON.parse(claude.body as string).model).toBe("m-2025");
    const gemini = planExchange(call(renamed(GEMINI.upstream), "openai", chat));
    expect(gemini.url).toContain("/models/m-2025:generateContent");
    // Anthropic client to Anthropic upstream: the client's own body, with only the model replaced.
    const native = { model: "m", max_tokens: 10, messages: [{ role: "user", content: "Hi" }], top_k: 3 };
    const passed = planExchange({ ...call(renamed(ANTHROPIC.upstream), "anthropic", chat), body: enc.encode(JSON.stringify(native)) });
    expect(JSON.parse(passed.body as string)).toEqual({ ...native, model: "m-2025" });
  });

  test("which endpoints each provider serves, and which pairs need a plan", () => {
    expect(["chat/completions", "completions", "embeddings"].map((e) => supports(OPENAI.upstream, e as never))).toEqual([true, true, true]);
    for (const t of [ANTHROPIC, GEMINI]) expect(["chat/completions", "completions", "embeddings"].map((e) => supports(t.upstream, e as never))).toEqual([true, false, false]);
    expect(needsPlan(OPENAI, "openai")).toBe(false); // the fast path
    expect([needsPlan(OPENAI, "anthropic"), needsPlan(ANTHROPIC, "openai"), needsPlan(GEMINI, "openai"), needsPlan(ANTHROPIC, "anthropic")]).toEqual([true, true, true, true]);
  });
});

describe("plans", () => {
  test("OpenAI client → Anthropic: translated body, Anthropic headers, no client credentials, replies translated back", () => {
    const x = planExchange(call(ANTHROPIC, "openai", { ...chat, max_tokens: 20 }));
    expect(x.url).toBe("https://api.anthropic.com/v1/messages");
    expect(x.headers).toEqual({ "content-type": "application/json", "anthropic-version": "2023-06-01", "x-api-key": "sk-ant", "x-request-id": "req_00ff", "user-agent": "sdk/1" });
    expect(JSON.parse(x.body as string)).toEqual({ model: "m", max_tokens: 20, messages: [{ role: "user", content: [{ type: "text", text: "Hi" }] }] });
    const reply = x.reply!({ id: "msg_1", type: "message", role: "assistant", model: "claude-real", content: [{ type: "text", text: "Hello" }], stop_reason: "end_turn", stop_sequence: null, usage: { input_tokens: 3, output_tokens: 1 } });
    expect(reply).toMatchObject({ object: "chat.completion", model: "m", choices: [{ message: { content: "Hello" }, finish_reason: "stop" }], usage: { prompt_tokens: 3, completion_tokens: 1 } });
    expect(x.failure!(529, '{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}', "2")).toMatchObject({ status: 503, code: "upstream_overloaded", headers: { "retry-after": "2" } });
    expect(x.dialect).toBe("openai");
  });

  test("an Anthropic client's beta flags reach an Anthropic upstream; its credentials do not", () => {
    const clientHeaders = new Headers({ "anthropic-beta": "context-1m-2025-08-07", "x-api-key": "client-secret", "user-agent": "claude-cli/2" });
    const x = planExchange({ ...call(ANTHROPIC, "anthropic", chat), clientHeaders });
    expect(x.headers["anthropic-beta"]).toBe("context-1m-2025-08-07");
    expect(x.headers["x-api-key"]).toBe("sk-ant");
  });

  test("an OpenAI client without max_tokens gets Anthropic's required one by default", () => {
    expect(JSON.parse(planExchange(call(ANTHROPIC, "openai", chat)).body as string).max_tokens).toBe(4096);
  });

  test("OpenAI client → Gemini: the model and streaming choice are in the URL", () => {
    const plain = planExchange(call(GEMINI, "openai", chat));
    expect(plain.url).toBe("https://generativelanguage.googleapis.com/v1beta/models/m:generateContent");
    expect(plain.headers["x-goog-api-key"]).toBe("AIza");
    expect(plain.headers.authorization).toBeUndefined();
    expect(JSON.parse(plain.body as string)).toEqual({ contents: [{ role: "user", parts: [{ text: "Hi" }] }] });
    const streamed = planExchange(call(GEMINI, "openai", { ...chat, stream: true, stream_options: { include_usage: true } }));
    expect(streamed.url).toEndWith("/models/m:streamGenerateContent?alt=sse");
    const t = streamed.stream!();
    const out = t.push('data: {"candidates":[{"content":{"parts":[{"text":"Hi"}]},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":2,"candidatesTokenCount":1}}\r\n\r\n') + t.end();
    expect(out).toContain('"content":"Hi"');
    expect(out).toContain('"usage":{"prompt_tokens":2,"completion_tokens":1,"total_tokens":3}');
    expect(out).toEndWith("data: [DONE]\n\n");
  });

  test("Anthropic client → OpenAI-compatible: the translated body, OpenAI's URL and key; replies and streams become Anthropic's", () => {
    const json = { model: "m", messages: [{ role: "user", content: "Hi" }], max_tokens: 10, stream: true, stream_options: { include_usage: true } };
    const x = planExchange(call(OPENAI, "anthropic", json));
    expect(x.url).toBe("http://127.0.0.1:9000/v1/chat/completions");
    expect(x.headers.authorization).toBe("Bearer sk-o");
    expect(JSON.parse(x.body as string)).toEqual(json);
    expect(x.failure).toBeUndefined(); // the forwarder's OpenAI mapping applies
    expect(x.reply!({ id: "c1", choices: [{ message: { content: "Yo" }, finish_reason: "length" }], usage: { prompt_tokens: 4, completion_tokens: 2 } })).toMatchObject({ type: "message", id: "msg_c1", model: "m", content: [{ type: "text", text: "Yo" }], stop_reason: "max_tokens", usage: { input_tokens: 4, output_tokens: 2 } });
    const t = x.stream!();
    const out = t.push('data: {"choices":[{"index":0,"delta":{"content":"Yo"},"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n') + t.end();
    expect(out.match(/^event: (\w+)/gm)).toEqual(["event: message_start", "event: content_block_start", "event: content_block_delta", "event: content_block_stop", "event: message_delta", "event: message_stop"]);
    expect(out).toContain('"id":"msg_00ff"');
  });

  test("Anthropic client → Anthropic: the client's bytes, unless the WAF redacted something", () => {
    const json = { model: "m", messages: [{ role: "user", content: "Hi" }], max_tokens: 10 };
    const c = call(ANTHROPIC, "anthropic", json, { body: enc.encode('{"model":"m","max_tokens":10,"top_k":3,"messages":[{"role":"user","content":"Hi"}]}') });
    const x = planExchange(c);
    expect(x.body).toBe(c.body);
    expect(x.reply).toBeUndefined();
    expect(x.stream).toBeUndefined();
    expect(x.dialect).toBe("anthropic");
    expect(x.failure!(400, '{"type":"error","error":{"type":"invalid_request_error","message":"bad"}}', null)).toMatchObject({ status: 400, message: "bad" });
    const redacted = planExchange({ ...c, json: { ...json, messages: [{ role: "user", content: "[REDACTED:email]" }] }, redacted: true });
    expect(JSON.parse(redacted.body as string)).toEqual({ model: "m", max_tokens: 10, messages: [{ role: "user", content: [{ type: "text", text: "[REDACTED:email]" }] }] });
  });

  test("Anthropic client → Gemini: two translations, reply and stream", () => {
    const x = planExchange(call(GEMINI, "anthropic", { model: "m", messages: [{ role: "user", content: "Hi" }], max_tokens: 10, stream: true, stream_options: { include_usage: true } }));
    expect(x.url).toEndWith(":streamGenerateContent?alt=sse");
    expect(x.reply!({ candidates: [{ content: { parts: [{ text: "Yo" }] }, finishReason: "STOP" }], usageMetadata: { promptTokenCount: 5, candidatesTokenCount: 1 } })).toMatchObject({ type: "message", content: [{ type: "text", text: "Yo" }], stop_reason: "end_turn", usage: { input_tokens: 5, output_tokens: 1 } });
    const t = x.stream!();
    let out = t.push('data: {"candidates":[{"content":{"parts":[{"text":"Yo"}]}}]}\r\n\r\n');
    expect(out).toContain("content_block_delta");
    out += t.push('data: {"candidates":[{"content":{"parts":[]},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":5,"candidatesTokenCount":1}}\r\n\r\n');
    out += t.end();
    expect(out).toEndWith('event: message_stop\ndata: {"type":"message_stop"}\n\n');
    expect(out).toContain('"usage":{"input_tokens":5,"output_tokens":1}');
    expect(t.done).toBe(true);
  });

  test("a request the provider cannot honour is refused while planning (400, stage adapter)", () => {
    const e = (() => {
      try {
        planExchange(call(ANTHROPIC, "openai", { ...chat, n: 2 }));
      } catch (err) {
        return err as GatewayError;
      }
    })();
    expect(e).toBeInstanceOf(GatewayError);
    expect([e!.status, e!.code, e!.param, e!.stage]).toEqual([400, "unsupported_parameter", "n", "adapter"]);
  });
});

describe("stream events in the client's format", () => {
  test("the final event", () => {
    expect(endsWithFinalEvent("openai", enc.encode('data: {"x":1}\n\ndata: [DONE]\n\n'))).toBe(true);
    expect(endsWithFinalEvent("openai", enc.encode('data: {"x":1}\n\n'))).toBe(false);
    expect(endsWithFinalEvent("anthropic", enc.encode('event: message_stop\ndata: {"type":"message_stop"}\n\n'))).toBe(true);
    expect(endsWithFinalEvent("anthropic", enc.encode('event: message_delta\ndata: {"type":"message_delta"}\n\n'))).toBe(false);
  });

  test("the gateway's own error event", () => {
    expect(streamErrorEvent("openai", "cut", "upstream_stream_interrupted")).toBe('data: {"error":{"message":"cut","type":"upstream_error","param":null,"code":"upstream_stream_interrupted"}}\n\n');
    const a = streamErrorEvent("anthropic", "silent", "upstream_idle_timeout");
    expect(a.startsWith("event: error\ndata: ")).toBe(true);
    expect(JSON.parse(a.slice(19))).toEqual({ type: "error", error: { type: "timeout_error", message: "silent", details: { error_code: "upstream_idle_timeout" } } });
    expect(JSON.parse(streamErrorEvent("anthropic", "x", "audit_unavailable").slice(19)).error.type).toBe("api_error");
  });

  test("chained translators: the first one's closing events pass through the second", () => {
    const t = chainTranslators(createGeminiStreamTranslator("m", "c1"), createOpenAIToAnthropicStreamTranslator("m", "msg_1"));
    expect(t.push('data: {"candidates":[{"content":{"parts":[{"text":"a"}]}}]}\r\n\r\n')).toContain('"text":"a"');
    // Cut before a finishReason: Gemini's translator ends with an error event, Anthropic's turns it into `event: error`.
    const end = t.end();
    expect(end).toContain("event: error");
    expect(end).not.toContain("message_stop");
    expect(t.done).toBe(true);
  });
});
