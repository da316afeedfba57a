import { describe, expect, test } from "bun:test";
import { GatewayError } from "../../errors";
import { fromAnthropicRequest } from "./inbound-request";
import { stopReason, toAnthropicResponse } from "./inbound-response";
import { createOpenAIToAnthropicStreamTranslator } from "./inbound-stream";
import type { OpenAIChatCompletion } from "../common/openai-wire";
import { createSseParser } from "../common/sse";
import { splitsOf } from "../common/testing";
import type { AnthropicRequest, AnthropicResponse } from "./types";

function refusal(body: unknown): GatewayError {
  try {
    fromAnthropicRequest(body as AnthropicRequest);
  } catch (e) {
    if (e instanceof GatewayError) return e;
    throw e;
  }
  throw new Error("expected a refusal");
}

describe("fromAnthropicRequest", () => {
  test("system, multi-turn, sampling, stop, user", () => {
    const out = fromAnthropicRequest({
      model: "m",
      max_tokens: 100,
      system: [{ type: "text", text: "Be brief." }, { type: "text", text: "Be kind." }],
      messages: [
        { role: "user", content: "hi" },
        { role: "assistant", content: [{ type: "thinking", thinking: "hm", signature: "s" }, { type: "text", text: "hello" }] },
        { role: "user", content: [{ type: "text", text: "how " }, { type: "text", text: "are you?" }] },
      ],
      temperature: 0.2,
      top_p: 0.8,
      top_k: 3,
      stop_sequences: ["END"],
      metadata: { user_id: "u1" },
    });
    expect(out).toEqual({
      model: "m",
      max_tokens: 100,
      messages: [
        { role: "system", content: "Be brief.\nBe kind." },
        { role: "user", content: "hi" },
        { role: "assistant", content: "hello" },
        { role: "user", content: "how are you?" },
      ],
      temperature: 0.2,
      top_p: 0.8,
      stop: ["END"],
      user: "u1",
    });
  });

  test("images and PDFs become image_url and file parts", () => {
    const out = fromAnthropicRequest({
      model: "m",
      max_tokens: 1,
      messages: [{
        role: "user",
        content: [
          { type: "image", source: { type: "base64", media_type: "image/png", data: "AAA" } },
          { type: "image", source: { type: "url", url: "https://x/y.jpg" } },
          { type: "document", source: { type: "base64", media_type: "application/pdf", data: "JVB" }, title: "doc.pdf" },
          { type: "text", text: "describe" },
        ],
      }],
    });
    expect(out.messages[0]).toEqual({
      role: "user",
      content: [
        { type: "image_url", image_url: { url: "data:image/png;base64,AAA" } },
        { type: "image_url", image_url: { url: "https://x/y.jpg" } },
        { type: "file", file: { file_data: "data:application/pdf;base64,JVB", filename: "doc.pdf" } },
        { type: "text", text: "describe" },
      ],
    });
  });

  test("tool_use and tool_result round into tool_calls and tool messages", () => {
    const out = fromAnthropicRequest({
      model: "m",
      max_tokens: 1,
      stream: true,
      messages: [
        { role: "user", content: "weather?" },
        { role: "assistant", content: [{ type: "text", text: "Let me look." }, { type: "tool_use", id: "toolu_1", name: "weather", input: { city: "Paris" } }] },
        { role: "user", content: [{ type: "tool_result", tool_use_id: "toolu_1", content: [{ type: "text", text: "sunny" }], is_error: false }, { type: "text", text: "and tomorrow?" }] },
      ],
      tools: [{ name: "weather", description: "d", input_schema: { type: "object", properties: { city: { type: "string" } } } }],
      tool_choice: { type: "any", disable_parallel_tool_use: true },
    });
    expect(out.messages.slice(1)).toEqual([
      { role: "assistant", content: "Let me look.", tool_calls: [{ id: "toolu_1", type: "function", function: { name: "weather", arguments: '{"city":"Paris"}' } }] },
      { role: "tool", tool_call_id: "toolu_1", content: "sunny" },
      { role: "user", content: "and tomorrow?" },
    ]);
    expect(out.tools).toEqual([{ type: "function", function: { name: "weather", description: "d", parameters: { type: "object", properties: { city: { type: "string" } } } } }]);
    expect(out.tool_choice).toBe("required");
    expect(out.parallel_tool_calls).toBe(false);
    expect(out.stream).toBe(true);
    expect(out.stream_options).toEqual({ include_usage: true });
  });

  test("tool_choice auto / none / tool", () => {
    const base = { model: "m", max_tokens: 1, messages: [{ role: "user" as const, content: "x" }] };
    expect(fromAnthropicRequest({ ...base, tool_choice: { type: "auto" } }).tool_choice).toBe("auto");
    expect(fromAnthropicRequest({ ...base, tool_choice: { type: "none" } }).tool_choice).toBe("none");
    expect(fromAnthropicRequest({ ...base, tool_choice: { type: "tool", name: "f" } }).tool_choice).toEqual({ type: "function", function: { name: "f" } });
  });

  test("refusals name the field", () => {
    const base = { model: "m", max_tokens: 1, messages: [{ role: "user", content: "x" }] };
    expect(refusal({ ...base, max_tokens: undefined }).param).toBe("max_tokens");
    expect(refusal({ ...base, tools: [{ type: "web_search_20250305", name: "web_search" }] }).param).toBe("tools.0.type");
    expect(refusal({ ...base, messages: [{ role: "user", content: [{ type: "search_result", source: "s", title: "t", content: [] }] }] }).param).toBe("messages.0.content.0.type");
    expect(refusal({ ...base, messages: [{ role: "user", content: [{ type: "tool_result", tool_use_id: "t", content: [{ type: "image", source: { type: "url", url: "u" } }] }] }] }).param).toBe("messages.0.content.0.content.0.type");
    expect(refusal({ ...base, messages: [{ role: "system", content: "x" }] }).param).toBe("messages.0.role");
  });
});

const completion = (message: Record<string, unknown>, finish: string, usage?: Record<string, unknown>): OpenAIChatCompletion => ({
  id: "chatcmpl-9",
  object: "chat.completion",
  created: 1,
  model: "upstream-model",
  choices: [{ index: 0, message: { role: "assistant", content: null, refusal: null, ...message }, logprobs: null, finish_reason: finish as never }],
  usage: (usage ?? { prompt_tokens: 12, completion_tokens: 4, total_tokens: 16 }) as never,
});

describe("toAnthropicResponse", () => {
  test("text, usage and id", () => {
    expect(toAnthropicResponse(completion({ content: "Hello" }, "stop"), "claude-alias")).toEqual({
      id: "msg_chatcmpl-9",
      type: "message",
      role: "assistant",
      model: "claude-alias",
      content: [{ type: "text", text: "Hello" }],
      stop_reason: "end_turn",
      stop_sequence: null,
      usage: { input_tokens: 12, output_tokens: 4 },
    });
  });

  test("reasoning, tool calls, cached tokens", () => {
    const msg = toAnthropicResponse(completion({
      reasoning_content: "think",
      tool_calls: [{ id: "call_1", type: "function", function: { name: "f", arguments: '{"a":1}' } }],
    }, "tool_calls", { prompt_tokens: 100, completion_tokens: 3, total_tokens: 103, prompt_tokens_details: { cached_tokens: 60 } }), "m");
    expect(msg.content).toEqual([
      { type: "thinking", thinking: "think", signature: "" },
      { type: "tool_use", id: "call_1", name: "f", input: { a: 1 } },
    ]);
    expect(msg.stop_reason).toBe("tool_use");
    expect(msg.usage).toEqual({ input_tokens: 40, output_tokens: 3, cache_read_input_tokens: 60 });
  });

  test("stop reasons", () => {
    expect([stopReason("stop"), stopReason("length"), stopReason("tool_calls"), stopReason("function_call"), stopReason("content_filter"), stopReason(null)])
      .toEqual(["end_turn", "max_tokens", "tool_use", "tool_use", "refusal", "end_turn"]);
  });

  test("tool arguments that are not JSON are an upstream failure (502)", () => {
    expect(() => toAnthropicResponse(completion({ tool_calls: [{ id: "c", type: "function", function: { name: "f", arguments: "{bad" } }] }, "tool_calls"), "m")).toThrow(GatewayError);
  });
});

/** Folds Anthropic stream events into a Message the way the Anthropic SDK's MessageStream does. */
function accumulate(sse: string): { message: AnthropicResponse | null; events: string[]; error?: unknown } {
  let message: AnthropicResponse | null = null;
  const events: string[] = [];
  const json: string[] = [];
  let error: unknown;
  const p = createSseParser((name, data) => {
    const e = JSON.parse(data);
    if (e.type !== name) throw new Error(`event name ${name} does not match type ${e.type}`);
    events.push(name);
    switch (e.type) {
      case "message_start": message = structuredClone(e.message); break;
      case "content_block_start": message!.content[e.index] = structuredClone(e.content_block); json[e.index] = ""; break;
      case "content_block_delta": {
        const b = message!.content[e.index] as Record<string, any>;
        if (e.delta.type === "text_delta") b.text += e.delta.text;
        else if (e.delta.type === "thinking_delta") b.thinking += e.delta.thinking;
        else if (e.delta.type === "input_json_delta") json[e.index] += e.delta.partial_json;
        break;
      }
      case "content_block_stop": {
        const b = message!.content[e.index] as Record<string, any>;
        if (b.type === "tool_use") b.input = JSON.parse(json[e.index] || "{}");
        break;
      }
      case "message_delta":
        message!.stop_reason = e.delta.stop_reason;
        message!.stop_sequence = e.delta.stop_sequence;
        Object.assign(message!.usage, e.usage);
        break;
      case "error": error = e.error; break;
    }
  });
  p.push(sse);
  p.end();
  return { message, events, error };
}

const chunk = (delta: Record<string, unknown>, finish: string | null = null, extra: Record<string, unknown> = {}) =>
  `data: ${JSON.stringify({ id: "chatcmpl-9", object: "chat.completion.chunk", created: 1, model: "u", choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }], ...extra })}\n\n`;

const OPENAI_STREAM = [
  chunk({ role: "assistant", content: "" }),
  chunk({ reasoning_content: "Think " }),
  chunk({ reasoning_content: "hard." }),
  chunk({ content: "Calling " }),
  chunk({ content: "tools ✓" }),
  chunk({ tool_calls: [{ index: 0, id: "call_a", type: "function", function: { name: "weather", arguments: "" } }] }),
  chunk({ tool_calls: [{ index: 0, function: { arguments: '{"city":' } }] }),
  chunk({ tool_calls: [{ index: 0, function: { arguments: '"Paris"}' } }] }),
  chunk({ tool_calls: [{ index: 1, id: "call_b", type: "function", function: { name: "clock", arguments: "{}" } }] }),
  chunk({}, "tool_calls"),
  `data: ${JSON.stringify({ id: "chatcmpl-9", object: "chat.completion.chunk", created: 1, model: "u", choices: [], usage: { prompt_tokens: 20, completion_tokens: 9, total_tokens: 29 } })}\n\n`,
  "data: [DONE]\n\n",
].join("");

const OPENAI_WHOLE = completion({
  content: "Calling tools ✓",
  reasoning_content: "Think hard.",
  tool_calls: [
    { id: "call_a", type: "function", function: { name: "weather", arguments: '{"city":"Paris"}' } },
    { id: "call_b", type: "function", function: { name: "clock", arguments: "{}" } },
  ],
}, "tool_calls", { prompt_tokens: 20, completion_tokens: 9, total_tokens: 29 });

function translateInbound(pieces: (string | Uint8Array)[]): string {
  const t = createOpenAIToAnthropicStreamTranslator("claude-alias", "msg_chatcmpl-9");
  let out = "";
  for (const p of pieces) out += t.push(p);
  return out + t.end();
}

describe("createOpenAIToAnthropicStreamTranslator", () => {
  test("the accumulated events equal the non-streamed Anthropic reply", () => {
    const { message, events } = accumulate(translateInbound([OPENAI_STREAM]));
    expect(message).toEqual(toAnthropicResponse(OPENAI_WHOLE, "claude-alias"));
    expect(events[0]).toBe("message_start");
    expect(events.slice(-2)).toEqual(["message_delta", "message_stop"]);
    // Every started block is stopped, in order, before the next starts.
    const blockEvents = events.filter((e) => e === "content_block_start" || e === "content_block_stop");
    expect(blockEvents).toEqual(["content_block_start", "content_block_stop", "content_block_start", "content_block_stop", "content_block_start", "content_block_stop", "content_block_start", "content_block_stop"]);
  });

  test("the same events whatever byte the upstream bytes are split at", () => {
    const bytes = new TextEncoder().encode(OPENAI_STREAM);
    const expected = translateInbound([bytes]);
    for (const pieces of splitsOf(bytes)) expect(translateInbound(pieces)).toBe(expected);
  });

  test("the forwarder's keep-alive comments pass through between events", () => {
    const out = translateInbound([chunk({ content: "a" }) + ": keep-alive\n\n" + chunk({ content: "b" }, "stop") + "data: [DONE]\n\n"]);
    expect(out).toContain("\n\n: keep-alive\n\nevent: content_block_delta");
    expect(accumulate(out).message!.content).toEqual([{ type: "text", text: "ab" }]);
  });

  test("an OpenAI error event becomes an Anthropic error event", () => {
    const sse = chunk({ content: "x" }) + `data: ${JSON.stringify({ error: { message: "busy", type: "server_error", code: "upstream_overloaded" } })}\n\n`;
    const { error, events } = accumulate(translateInbound([sse]));
    expect(error).toEqual({ type: "overloaded_error", message: "busy" });
    expect(events.at(-1)).toBe("error");
  });

  test("a cut stream ends with an api_error; one with a finish_reason but no [DONE] ends normally", () => {
    const cut = accumulate(translateInbound([chunk({ content: "partial" })]));
    expect(cut.error).toEqual({ type: "api_error", message: "The upstream stream ended before the reply was complete." });
    const noDone = accumulate(translateInbound([chunk({ content: "whole" }, "stop")]));
    expect(noDone.error).toBeUndefined();
    expect(noDone.message!.content).toEqual([{ type: "text", text: "whole" }]);
    expect(noDone.message!.stop_reason).toBe("end_turn");
  });
});
