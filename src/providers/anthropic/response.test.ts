import { describe, expect, test } from "bun:test";
import { finishReason, fromAnthropicResponse } from "./response";
import type { AnthropicResponse } from "./types";

const base: AnthropicResponse = {
  id: "msg_01",
  type: "message",
  role: "assistant",
  model: "claude-real-name",
  content: [],
  stop_reason: "end_turn",
  stop_sequence: null,
  usage: { input_tokens: 10, output_tokens: 5 },
};

describe("fromAnthropicResponse", () => {
  test("text blocks become content; the client's model name is kept", () => {
    const c = fromAnthropicResponse({ ...base, content: [{ type: "text", text: "Hello" }, { type: "text", text: ", world" }] }, "alias");
    expect(c).toMatchObject({ id: "msg_01", object: "chat.completion", model: "alias" });
    expect(typeof c.created).toBe("number");
    expect(c.choices).toEqual([{ index: 0, message: { role: "assistant", content: "Hello, world", refusal: null }, logprobs: null, finish_reason: "stop" }]);
    expect(c.usage).toEqual({ prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 });
  });

  test("tool_use blocks become tool_calls with JSON arguments; content is null without text", () => {
    const c = fromAnthropicResponse({
      ...base,
      stop_reason: "tool_use",
      content: [
        { type: "tool_use", id: "toolu_1", name: "weather", input: { city: "Paris", days: [1, 2] } },
        { type: "tool_use", id: "toolu_2", name: "clock", input: {} },
      ],
    }, "m");
    const msg = c.choices[0].message;
    expect(msg.content).toBeNull();
    expect(msg.tool_calls).toEqual([
      { id: "toolu_1", type: "function", function: { name: "weather", arguments: '{"city":"Paris","days":[1,2]}' } },
      { id: "toolu_2", type: "function", function: { name: "clock", arguments: "{}" } },
    ]);
    expect(c.choices[0].finish_reason).toBe("tool_calls");
  });

  test("thinking becomes reasoning_content; redacted thinking and server blocks are dropped", () => {
    const c = fromAnthropicResponse({
      ...base,
      content: [
        { type: "thinking", thinking: "Let me think.", signature: "sig" },
        { type: "redacted_thinking", data: "opaque" },
        { type: "server_tool_use", id: "s", name: "web_search", input: {} } as never,
        { type: "text", text: "42" },
      ],
    }, "m");
    expect(c.choices[0].message).toEqual({ role: "assistant", content: "42", refusal: null, reasoning_content: "Let me think." });
  });

  test("stop reasons", () => {
    const table: [string | null, string][] = [
      ["end_turn", "stop"], ["stop_sequence", "stop"], ["pause_turn", "stop"], [null, "stop"],
      ["max_tokens", "length"], ["model_context_window_exceeded", "length"],
      ["tool_use", "tool_calls"], ["refusal", "content_filter"],
    ];
    for (const [anthropic, openai] of table) {
      expect(finishReason(anthropic)).toBe(openai as never);
      expect(fromAnthropicResponse({ ...base, stop_reason: anthropic as never }, "m").choices[0].finish_reason).toBe(openai as never);
    }
  });

  test("usage counts cache reads and writes as prompt tokens, reads as cached", () => {
    const c = fromAnthropicResponse({ ...base, usage: { input_tokens: 3, output_tokens: 7, cache_creation_input_tokens: 100, cache_read_input_tokens: 900 } }, "m");
    expect(c.usage).toEqual({ prompt_tokens: 1003, completion_tokens: 7, total_tokens: 1010, prompt_tokens_details: { cached_tokens: 900 } });
  });
});
