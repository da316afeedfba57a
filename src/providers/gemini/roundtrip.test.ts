// Round trips through bench/mock-gemini with fetch: OpenAI body → Gemini request → mock → OpenAI
// completion or chunk stream.
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { startMockGemini, type GeminiMock } from "../../../bench/mock-gemini.ts";
import { GatewayError } from "../../errors";
import type { OpenAIChatCompletion, OpenAIChatRequest } from "../common/openai-wire";
import { mergeChunks, parseOpenAIStream, readAll } from "../common/testing";
import { translatorStream } from "../common/transform";
import { createGeminiStreamTranslator, fromGeminiResponse, geminiFailure, geminiHeaders, geminiUrl, signatureOf, toGeminiRequest, type GeminiResponse } from "./index";

let gemini: GeminiMock;
beforeAll(async () => {
  gemini = await startMockGemini({ apiKey: "AIza-rt" });
});
afterAll(() => gemini.stop());
beforeEach(() => gemini.reset());

const MODEL = "gemini-alias";

function send(body: OpenAIChatRequest, stream: boolean, key = "AIza-rt"): Promise<Response> {
  return fetch(geminiUrl(gemini.url, "mock-gemini", stream), { method: "POST", headers: geminiHeaders(key), body: JSON.stringify(toGeminiRequest(body)) });
}

async function complete(body: OpenAIChatRequest): Promise<OpenAIChatCompletion> {
  const res = await send(body, false);
  if (!res.ok) throw geminiFailure(res.status, await res.text(), res.headers.get("retry-after"), "gemini");
  return fromGeminiResponse((await res.json()) as GeminiResponse, MODEL);
}

async function streamed(body: OpenAIChatRequest): Promise<string> {
  const res = await send(body, true);
  expect(res.status).toBe(200);
  const t = createGeminiStreamTranslator(MODEL, "chatcmpl-rt", { includeUsage: body.stream_options?.include_usage === true });
  let out = "";
  const { error } = await readAll(res, (b) => { out += t.push(b); });
  expect(error).toBeNull();
  return out + t.end();
}

function expectValidCompletion(c: OpenAIChatCompletion, choices = 1) {
  expect(c.object).toBe("chat.completion");
  expect(c.model).toBe(MODEL);
  expect(c.choices.map((x) => x.index)).toEqual(Array.from({ length: choices }, (_, i) => i));
  for (const ch of c.choices) {
    expect(ch.message.role).toBe("assistant");
    expect(["stop", "length", "tool_calls", "content_filter"]).toContain(ch.finish_reason!);
    for (const call of ch.message.tool_calls ?? []) expect(() => JSON.parse(call.function.arguments)).not.toThrow();
  }
  expect(c.usage!.total_tokens).toBe(c.usage!.prompt_tokens + c.usage!.completion_tokens);
}

/** Tool-call ids are fresh per translation: compare them by the signature they carry. */
const comparable = (calls?: { id: string; function: unknown }[]) => calls?.map((c) => ({ sig: signatureOf(c.id), function: c.function }));

async function expectSameReply(body: OpenAIChatRequest): Promise<OpenAIChatCompletion> {
  const whole = await complete(body);
  expectValidCompletion(whole, body.n ?? 1);
  const parsed = parseOpenAIStream(await streamed({ ...body, stream: true, stream_options: { include_usage: true } }));
  expect(parsed.error).toBeUndefined();
  expect(parsed.done).toBe(true);
  const merged = mergeChunks(parsed.chunks);
  expect(merged.choices).toHaveLength(whole.choices.length);
  for (const ch of whole.choices) {
    const m = merged.choices[ch.index];
    expect({ ...m, tool_calls: comparable(m.tool_calls) }).toEqual({
      role: "assistant",
      content: ch.message.content,
      ...(ch.message.reasoning_content !== undefined ? { reasoning_content: ch.message.reasoning_content } : {}),
      tool_calls: comparable(ch.message.tool_calls),
      finish_reason: ch.finish_reason,
    });
  }
  expect(merged.usage).toEqual(whole.usage!);
  return whole;
}

const WEATHER = { type: "function" as const, function: { name: "weather", parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"], additionalProperties: false } } };

describe("OpenAI client → Gemini upstream (bench/mock-gemini)", () => {
  test("system prompt and text: whole and streamed replies agree", async () => {
    const c = await expectSameReply({ model: MODEL, messages: [{ role: "system", content: "Be brief." }, { role: "user", content: "hello" }] });
    expect(c.choices[0].message.content).toBe(Array.from({ length: 16 }, (_, i) => `tok${i}`).join(" "));
    const sent = gemini.requests[0];
    expect(sent.path).toBe("/v1beta/models/mock-gemini:generateContent");
    expect(sent.headers["x-goog-api-key"]).toBe("AIza-rt");
    expect(JSON.parse(sent.body).systemInstruction).toEqual({ parts: [{ text: "Be brief." }] });
    expect(gemini.requests[1].query).toBe("?alt=sse");
  });

  test("every translated field is one the upstream accepts (nothing OpenAI-only leaks)", async () => {
    await expectSameReply({
      model: MODEL,
      messages: [{ role: "developer", content: "d" }, { role: "user", content: "x", name: "bob" }],
      max_completion_tokens: 200, temperature: 0.5, top_p: 0.9, top_k: 4, stop: ["zzz"], user: "u1", seed: 1, store: false,
      n: 1, logprobs: false, presence_penalty: 0.1, frequency_penalty: 0.2, logit_bias: {}, reasoning_effort: "low",
      service_tier: "auto", metadata: { k: "v" }, prediction: { type: "content", content: "p" }, verbosity: "low",
      tools: [WEATHER], tool_choice: "auto", parallel_tool_calls: false,
      response_format: { type: "json_schema", json_schema: { name: "s", schema: { type: "object" } } },
    });
    const sent = JSON.parse(gemini.requests[0].body);
    expect(Object.keys(sent).sort()).toEqual(["contents", "generationConfig", "systemInstruction", "toolConfig", "tools"]);
    expect(Object.keys(sent.generationConfig).sort()).toEqual(["frequencyPenalty", "maxOutputTokens", "presencePenalty", "responseJsonSchema", "responseMimeType", "seed", "stopSequences", "temperature", "topK", "topP"]);
  });

  test("n → several choices; max_tokens → length; stop → stop", async () => {
    const many = await expectSameReply({ model: MODEL, messages: [{ role: "user", content: "x" }], n: 2, max_tokens: 3 });
    expect(many.choices.map((c) => [c.message.content, c.finish_reason])).toEqual([["tok0 tok1 tok2", "length"], ["c1tok0 c1tok1 c1tok2", "length"]]);
    const stopped = await expectSameReply({ model: MODEL, messages: [{ role: "user", content: "x" }], stop: "tok4" });
    expect([stopped.choices[0].message.content, stopped.choices[0].finish_reason]).toEqual(["tok0 tok1 tok2 tok3", "stop"]);
  });

  test("images and multi-turn pass the upstream's validation", async () => {
    await expectSameReply({
      model: MODEL,
      messages: [
        { role: "user", content: [{ type: "text", text: "what is this?" }, { type: "image_url", image_url: { url: "data:image/png;base64,iVBORw0KGgo=" } }] },
        { role: "assistant", content: "A pixel." },
        { role: "user", content: "and now?" },
      ],
      temperature: 1.5,
      top_p: 0.5,
    });
  });

  test("thoughts become reasoning_content; thought tokens count as completion tokens", async () => {
    const c = await expectSameReply({ model: MODEL, messages: [{ role: "user", content: "mock:thinking" }] });
    expect(c.choices[0].message.reasoning_content).toBe("Let me think about tok0.");
    expect(c.usage!.completion_tokens_details).toEqual({ reasoning_tokens: 6 });
  });

  test("a full tool loop: the thought signature survives the OpenAI client's round trip", async () => {
    const ask: OpenAIChatRequest = { model: MODEL, messages: [{ role: "user", content: "weather in Paris? mock:tool" }], tools: [WEATHER, { type: "function", function: { name: "clock" } }] };
    gemini.behavior.toolCalls = 2;
    const first = await expectSameReply(ask);
    expect(first.choices[0].finish_reason).toBe("tool_calls");
    const calls = first.choices[0].message.tool_calls!;
    expect(calls.map((c) => c.function)).toEqual([{ name: "weather", arguments: '{"city":"mock"}' }, { name: "clock", arguments: "{}" }]);

    // The client replays the calls and answers each; the mock insists on the signature and on one response per call.
    const second = await expectSameReply({
      ...ask,
      messages: [
        ...ask.messages,
        { role: "assistant", content: first.choices[0].message.content, tool_calls: calls },
        { role: "tool", tool_call_id: calls[0].id, content: '{"sky":"clear"}' },
        { role: "tool", tool_call_id: calls[1].id, content: "12:00" },
      ],
    });
    expect(second.choices[0].finish_reason).toBe("stop");
    const sent = JSON.parse(gemini.requests.at(-1)!.body);
    expect(sent.contents[1].parts.filter((p: { functionCall?: unknown }) => p.functionCall).map((p: { thoughtSignature?: string }) => p.thoughtSignature)).toEqual(["bW9jay1zaWduYXR1cmU=", undefined]);
    expect(sent.contents[2].parts).toEqual([
      { functionResponse: { name: "weather", response: { sky: "clear" } } },
      { functionResponse: { name: "clock", response: { output: "12:00" } } },
    ]);
  });

  test("a forced function and a safety stop", async () => {
    const forced = await expectSameReply({ model: MODEL, messages: [{ role: "user", content: "x" }], tools: [WEATHER], tool_choice: { type: "function", function: { name: "weather" } } });
    expect(forced.choices[0].message.tool_calls![0].function.name).toBe("weather");
    gemini.behavior.finishReason = "SAFETY";
    expect((await expectSameReply({ model: MODEL, messages: [{ role: "user", content: "x" }] })).choices[0].finish_reason).toBe("content_filter");
  });

  test("a blocked prompt is content_filter in both forms", async () => {
    gemini.behavior.blockPrompt = true;
    const c = await complete({ model: MODEL, messages: [{ role: "user", content: "x" }] });
    expect(c.choices[0]).toMatchObject({ finish_reason: "content_filter", message: { content: null } });
    const parsed = parseOpenAIStream(await streamed({ model: MODEL, messages: [{ role: "user", content: "x" }] }));
    expect(parsed.done).toBe(true);
    expect(mergeChunks(parsed.chunks).choices[0].finish_reason).toBe("content_filter");
  });

  test("upstream refusals: overloaded → 503, bad key → 502, bad request → 400", async () => {
    gemini.behavior.status = 503;
    const overloaded = await complete({ model: MODEL, messages: [{ role: "user", content: "x" }] }).catch((e) => e);
    expect(overloaded).toBeInstanceOf(GatewayError);
    expect([overloaded.status, overloaded.code, overloaded.headers]).toEqual([503, "upstream_overloaded", { "retry-after": "1" }]);
    gemini.reset();
    const res = await send({ model: MODEL, messages: [{ role: "user", content: "x" }] }, false, "wrong-key");
    expect(geminiFailure(res.status, await res.text(), null, "gemini").code).toBe("upstream_auth_failed");
    const bad = await fetch(geminiUrl(gemini.url, "mock-gemini", false), { method: "POST", headers: geminiHeaders("AIza-rt"), body: JSON.stringify({ contents: [] }) });
    const e = geminiFailure(bad.status, await bad.text(), null, "gemini");
    expect([e.status, e.code]).toEqual([400, "upstream_rejected"]);
  });

  test("a mid-stream overload ends the OpenAI stream with an error event", async () => {
    gemini.behavior.errorAfterTokens = 3;
    const parsed = parseOpenAIStream(await streamed({ model: MODEL, messages: [{ role: "user", content: "x" }] }));
    expect(parsed.done).toBe(false);
    expect(parsed.error).toMatchObject({ type: "server_error", code: "upstream_overloaded" });
    expect(mergeChunks(parsed.chunks).choices[0].content).toBe("tok0 tok1 tok2");
  });

  test("a reset upstream: the body errors, and end() reports an incomplete reply", async () => {
    gemini.behavior.resetAfterTokens = 2;
    const res = await send({ model: MODEL, messages: [{ role: "user", content: "x" }] }, true);
    const t = createGeminiStreamTranslator(MODEL, "id");
    let out = "";
    const { error } = await readAll(res, (b) => { out += t.push(b); });
    expect(error).not.toBeNull();
    expect(parseOpenAIStream(out + t.end()).error?.code).toBe("upstream_stream_interrupted");
  });

  test("piped through a TransformStream with delays between tokens", async () => {
    gemini.behavior.delayMs = 5;
    gemini.behavior.tokens = 6;
    const res = await send({ model: MODEL, messages: [{ role: "user", content: "x" }] }, true);
    const parsed = parseOpenAIStream(await new Response(res.body!.pipeThrough(translatorStream(createGeminiStreamTranslator(MODEL, "id")))).text());
    expect(parsed.done).toBe(true);
    expect(mergeChunks(parsed.chunks).choices[0].content).toBe("tok0 tok1 tok2 tok3 tok4 tok5");
  });
});
