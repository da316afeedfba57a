// Round trips through the mocks with fetch: OpenAI body → Anthropic request → bench/mock-anthropic →
// OpenAI completion or chunk stream; and the inbound direction, Anthropic body → OpenAI request →
// bench/mock-upstream → Anthropic message or event stream.
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { startMockAnthropic, type AnthropicMock } from "../../../bench/mock-anthropic.ts";
import { startMockUpstream, type MockUpstream } from "../../../bench/mock-upstream.ts";
import { GatewayError } from "../../errors";
import {
  anthropicFailure,
  anthropicHeaders,
  anthropicMessagesUrl,
  createAnthropicStreamTranslator,
  createOpenAIToAnthropicStreamTranslator,
  createSseParser,
  fromAnthropicRequest,
  fromAnthropicResponse,
  toAnthropicRequest,
  toAnthropicResponse,
  translatorStream,
  type AnthropicRequest,
  type AnthropicResponse,
} from "./index";
import type { OpenAIChatCompletion, OpenAIChatRequest } from "../common/openai-wire";
import { mergeChunks, parseOpenAIStream, readAll } from "../common/testing";

let anthropic: AnthropicMock;
let openai: MockUpstream;
beforeAll(async () => {
  anthropic = await startMockAnthropic({ apiKey: "sk-ant-rt" });
  openai = await startMockUpstream();
});
afterAll(async () => {
  await anthropic.stop();
  await openai.stop();
});
beforeEach(() => {
  anthropic.reset();
  openai.reset();
});

const MODEL = "claude-alias";

function send(req: AnthropicRequest): Promise<Response> {
  return fetch(anthropicMessagesUrl(anthropic.url), { method: "POST", headers: anthropicHeaders("sk-ant-rt", new Headers({ "user-agent": "rt" }), "req-1"), body: JSON.stringify(req) });
}

/** Non-streamed: the completion, or the upstream's refusal as the gateway would answer it. */
async function complete(body: OpenAIChatRequest): Promise<OpenAIChatCompletion> {
  const res = await send(toAnthropicRequest(body, { defaultMaxTokens: 256 }));
  if (!res.ok) throw anthropicFailure(res.status, await res.text(), res.headers.get("retry-after"), "claude");
  return fromAnthropicResponse((await res.json()) as AnthropicResponse, MODEL);
}

/** Streamed: the upstream bytes as they came off the socket, through the translator. */
async function streamed(body: OpenAIChatRequest): Promise<string> {
  const res = await send(toAnthropicRequest({ ...body, stream: true }, { defaultMaxTokens: 256 }));
  expect(res.status).toBe(200);
  const t = createAnthropicStreamTranslator(MODEL, "chatcmpl-rt", { includeUsage: body.stream_options?.include_usage === true });
  let out = "";
  const { error } = await readAll(res, (bytes) => { out += t.push(bytes); });
  expect(error).toBeNull();
  return out + t.end();
}

/** The fields an OpenAI client relies on. */
function expectValidCompletion(c: OpenAIChatCompletion) {
  expect(c.object).toBe("chat.completion");
  expect(typeof c.id).toBe("string");
  expect(Number.isInteger(c.created)).toBe(true);
  expect(c.model).toBe(MODEL);
  expect(c.choices).toHaveLength(1);
  expect(c.choices[0].index).toBe(0);
  expect(c.choices[0].message.role).toBe("assistant");
  expect(["stop", "length", "tool_calls", "content_filter"]).toContain(c.choices[0].finish_reason!);
  expect(c.usage!.total_tokens).toBe(c.usage!.prompt_tokens + c.usage!.completion_tokens);
  for (const call of c.choices[0].message.tool_calls ?? []) expect(() => JSON.parse(call.function.arguments)).not.toThrow();
}

/** Streamed and non-streamed replies to the same request say the same thing. */
async function expectSameReply(body: OpenAIChatRequest) {
  const whole = await complete(body);
  expectValidCompletion(whole);
  const parsed = parseOpenAIStream(await streamed({ ...body, stream_options: { include_usage: true } }));
  expect(parsed.error).toBeUndefined();
  expect(parsed.done).toBe(true);
  const merged = mergeChunks(parsed.chunks);
  const m = whole.choices[0].message;
  const ids = (calls?: { id: string }[]) => calls?.map((c) => ({ ...c, id: "" }));
  expect({ ...merged.choices[0], tool_calls: ids(merged.choices[0].tool_calls) }).toEqual({
    role: "assistant",
    content: m.content,
    ...(m.reasoning_content !== undefined ? { reasoning_content: m.reasoning_content } : {}),
    tool_calls: ids(m.tool_calls),
    finish_reason: whole.choices[0].finish_reason,
  });
  expect(merged.usage).toEqual(whole.usage!);
  return whole;
}

const WEATHER = { type: "function" as const, function: { name: "weather", description: "Weather now", parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] } } };

describe("OpenAI client → Anthropic upstream (bench/mock-anthropic)", () => {
  test("system prompt and text: whole and streamed replies agree", async () => {
    const c = await expectSameReply({ model: MODEL, messages: [{ role: "system", content: "Be brief." }, { role: "user", content: "hello" }] });
    expect(c.choices[0].message.content).toBe(Array.from({ length: 16 }, (_, i) => `tok${i}`).join(" "));
    expect(c.choices[0].finish_reason).toBe("stop");
    const sent = JSON.parse(anthropic.requests[0].body);
    expect(sent.system).toBe("Be brief.");
    expect(anthropic.requests[0].headers["anthropic-version"]).toBe("2023-06-01");
    expect(anthropic.requests[0].headers["user-agent"]).toBe("rt");
  });

  test("every translated field is one the upstream accepts (nothing OpenAI-only leaks)", async () => {
    const c = await expectSameReply({
      model: MODEL,
      messages: [{ role: "developer", content: "d" }, { role: "user", content: "x", name: "bob" }],
      max_completion_tokens: 200, temperature: 0.5, top_p: 0.9, stop: ["zzz"], user: "u1", seed: 1, store: false,
      n: 1, logprobs: false, presence_penalty: 0, frequency_penalty: 0, logit_bias: {}, reasoning_effort: "low",
      service_tier: "auto", metadata: { k: "v" }, prediction: { type: "content", content: "p" }, verbosity: "low",
      tools: [WEATHER], tool_choice: "auto", parallel_tool_calls: false,
      response_format: { type: "json_schema", json_schema: { name: "s", schema: { type: "object" } } },
    });
    expect(c.choices[0].finish_reason).toBe("stop");
    const sent = JSON.parse(anthropic.requests[0].body);
    expect(Object.keys(sent).sort()).toEqual(["max_tokens", "messages", "metadata", "model", "output_config", "stop_sequences", "system", "temperature", "tool_choice", "tools", "top_p"]);
  });

  test("max_tokens → length, stop → stop", async () => {
    expect((await expectSameReply({ model: MODEL, messages: [{ role: "user", content: "x" }], max_tokens: 4 })).choices[0].finish_reason).toBe("length");
    const stopped = await expectSameReply({ model: MODEL, messages: [{ role: "user", content: "x" }], stop: ["tok3"] });
    expect([stopped.choices[0].message.content, stopped.choices[0].finish_reason]).toEqual(["tok0 tok1 tok2", "stop"]);
  });

  test("images and multi-turn pass the upstream's validation", async () => {
    const c = await expectSameReply({
      model: MODEL,
      messages: [
        { role: "user", content: [{ type: "text", text: "what is this?" }, { type: "image_url", image_url: { url: "data:image/png;base64,iVBORw0KGgo=" } }] },
        { role: "assistant", content: "A pixel." },
        { role: "user", content: "and this?" },
        { role: "user", content: [{ type: "image_url", image_url: { url: "https://example.com/cat.jpg" } }] },
      ],
    });
    expect(c.choices[0].finish_reason).toBe("stop");
    const sent = JSON.parse(anthropic.requests[0].body);
    expect(sent.messages.map((m: { role: string }) => m.role)).toEqual(["user", "assistant", "user"]);
  });

  test("thinking becomes reasoning_content in both forms", async () => {
    const c = await expectSameReply({ model: MODEL, messages: [{ role: "user", content: "think first mock:thinking" }] });
    expect(c.choices[0].message.reasoning_content).toBe("Let me think about tok0.");
  });

  test("a full tool loop: call, result, answer", async () => {
    const ask: OpenAIChatRequest = { model: MODEL, messages: [{ role: "user", content: "weather in Paris? mock:tool" }], tools: [WEATHER], parallel_tool_calls: false };
    const first = await expectSameReply(ask);
    expect(first.choices[0].finish_reason).toBe("tool_calls");
    const call = first.choices[0].message.tool_calls![0];
    expect(call.function).toEqual({ name: "weather", arguments: '{"city":"mock"}' });

    // The client runs the tool and sends the result back; the mock checks the pairing.
    const second = await expectSameReply({
      model: MODEL,
      tools: [WEATHER],
      messages: [...ask.messages, { role: "assistant", content: first.choices[0].message.content, tool_calls: [call] }, { role: "tool", tool_call_id: call.id, content: "sunny" }],
    });
    expect(second.choices[0].finish_reason).toBe("stop");
    const sent = JSON.parse(anthropic.requests.at(-1)!.body);
    expect(sent.messages[2].content[0]).toEqual({ type: "tool_result", tool_use_id: call.id, content: "sunny" });
  });

  test("parallel tool calls get distinct indices", async () => {
    anthropic.behavior.toolCalls = 2;
    anthropic.behavior.tokens = 0;
    const c = await expectSameReply({ model: MODEL, messages: [{ role: "user", content: "x" }], tools: [WEATHER, { type: "function", function: { name: "clock" } }], tool_choice: "required" });
    expect(c.choices[0].message.tool_calls!.map((t) => t.function.name)).toEqual(["weather", "clock"]);
    expect(c.choices[0].message.content).toBeNull();
  });

  test("an overloaded upstream is a 503 in OpenAI's shape", async () => {
    anthropic.behavior.status = 529;
    const e = await complete({ model: MODEL, messages: [{ role: "user", content: "x" }] }).catch((x) => x);
    expect(e).toBeInstanceOf(GatewayError);
    expect([e.status, e.type, e.code, e.headers]).toEqual([503, "server_error", "upstream_overloaded", { "retry-after": "1" }]);
  });

  test("a request the upstream refuses is a 400 carrying its message", async () => {
    // Only reachable by a translator bug or an upstream rule we do not know: simulate with a raw body.
    const res = await send({ model: MODEL, max_tokens: 10, messages: [{ role: "user", content: "" }] });
    const e = anthropicFailure(res.status, await res.text(), null, "claude");
    expect([e.status, e.code]).toEqual([400, "upstream_rejected"]);
    expect(e.message).toContain("non-empty");
  });

  test("a mid-stream overload ends the OpenAI stream with an error event", async () => {
    anthropic.behavior.errorAfterTokens = 3;
    const parsed = parseOpenAIStream(await streamed({ model: MODEL, messages: [{ role: "user", content: "x" }] }));
    expect(parsed.done).toBe(false);
    expect(parsed.error).toMatchObject({ type: "server_error", code: "upstream_overloaded", message: "Overloaded" });
    expect(mergeChunks(parsed.chunks).choices[0].content).toBe("tok0 tok1 tok2");
  });

  test("a reset upstream: the body errors, and end() would not claim a whole reply", async () => {
    anthropic.behavior.resetAfterTokens = 2;
    const res = await send(toAnthropicRequest({ model: MODEL, messages: [{ role: "user", content: "x" }], stream: true }, { defaultMaxTokens: 64 }));
    const t = createAnthropicStreamTranslator(MODEL, "id");
    let out = "";
    const { error } = await readAll(res, (b) => { out += t.push(b); });
    expect(error).not.toBeNull();
    out += t.end();
    expect(parseOpenAIStream(out).error?.code).toBe("upstream_stream_interrupted");
  });

  test("piped through a TransformStream with delays between tokens", async () => {
    anthropic.behavior.delayMs = 5;
    anthropic.behavior.tokens = 6;
    const res = await send(toAnthropicRequest({ model: MODEL, messages: [{ role: "user", content: "x" }], stream: true }, { defaultMaxTokens: 64 }));
    const parsed = parseOpenAIStream(await new Response(res.body!.pipeThrough(translatorStream(createAnthropicStreamTranslator(MODEL, "id")))).text());
    expect(parsed.done).toBe(true);
    expect(mergeChunks(parsed.chunks).choices[0].content).toBe("tok0 tok1 tok2 tok3 tok4 tok5");
  });
});

/** Folds Anthropic stream events into the message, as the Anthropic SDK's MessageStream does. */
function accumulate(sse: string): AnthropicResponse {
  let msg: AnthropicResponse | undefined;
  const p = createSseParser((_name, data) => {
    const e = JSON.parse(data);
    if (e.type === "message_start") msg = e.message;
    else if (e.type === "content_block_start") msg!.content[e.index] = e.content_block;
    else if (e.type === "content_block_delta" && e.delta.type === "text_delta") (msg!.content[e.index] as { text: string }).text += e.delta.text;
    else if (e.type === "message_delta") Object.assign(msg!, { stop_reason: e.delta.stop_reason, stop_sequence: e.delta.stop_sequence, usage: { ...msg!.usage, ...e.usage } });
    else if (e.type === "error") throw new Error(e.error.message);
  });
  p.push(sse);
  p.end();
  return msg!;
}

describe("Anthropic client → OpenAI-compatible upstream (bench/mock-upstream)", () => {
  const body: AnthropicRequest = { model: "mock-gpt", max_tokens: 5, system: "Be brief.", messages: [{ role: "user", content: "hello" }], stop_sequences: ["never"] };

  async function upstream(req: OpenAIChatRequest): Promise<Response> {
    return fetch(`${openai.url}/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(req) });
  }

  test("whole and streamed replies agree", async () => {
    const whole = toAnthropicResponse(await (await upstream(fromAnthropicRequest(body))).json(), "claude-compatible");
    expect(whole).toMatchObject({ type: "message", role: "assistant", model: "claude-compatible", content: [{ type: "text", text: "tok0 tok1 tok2 tok3 tok4" }], stop_reason: "max_tokens", stop_sequence: null });
    expect(whole.usage.output_tokens).toBe(5);

    const res = await upstream(fromAnthropicRequest({ ...body, stream: true }));
    const sse = await new Response(res.body!.pipeThrough(translatorStream(createOpenAIToAnthropicStreamTranslator("claude-compatible", "msg_1")))).text();
    const streamedMsg = accumulate(sse);
    expect({ ...streamedMsg, id: "" }).toEqual({ ...whole, id: "" });
    const sent = JSON.parse(openai.requests.at(-1)!.body);
    expect(sent.stream_options).toEqual({ include_usage: true });
    expect(sent.messages[0]).toEqual({ role: "system", content: "Be brief." });
  });

  test("an OpenAI-shaped upstream error becomes Anthropic's", async () => {
    openai.behavior.status = 503;
    const res = await upstream(fromAnthropicRequest(body));
    const { openAIErrorToAnthropic } = await import("./errors");
    const e = openAIErrorToAnthropic(res.status, await res.text());
    expect(e.status).toBe(529);
    expect(e.body.error.type).toBe("overloaded_error");
  });
});
