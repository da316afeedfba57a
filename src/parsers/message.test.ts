import { describe, expect, test } from "bun:test";
import { mergeDeltas, parseMessage, rewriteCompletion } from "./message.ts";

const ids = () => {
  let n = 0;
  return () => `call_${n++}`;
};

describe("mergeDeltas", () => {
  test("joins OpenAI-style pieces: id and name once, arguments appended by index", () => {
    const merged = mergeDeltas([
      { tool_calls: [{ index: 0, id: "call_a", type: "function", function: { name: "f", arguments: "" } }] },
      { content: "x" },
      { tool_calls: [{ index: 1, id: "call_b", type: "function", function: { name: "g", arguments: "{}" } }] },
      { tool_calls: [{ index: 0, function: { arguments: '{"a":' } }] },
      { tool_calls: [{ index: 0, function: { arguments: " 1}" } }] },
      { reasoning_content: "r" },
    ]);
    expect(merged).toEqual({
      content: "x",
      reasoning_content: "r",
      tool_calls: [
        { id: "call_a", type: "function", function: { name: "f", arguments: '{"a": 1}' } },
        { id: "call_b", type: "function", function: { name: "g", arguments: "{}" } },
      ],
    });
  });

  test("nothing gives nulls and no calls", () => {
    expect(mergeDeltas([])).toEqual({ content: null, reasoning_content: null, tool_calls: [] });
  });
});

describe("parseMessage", () => {
  test("a Qwen3 reply with thinking, text and two calls", () => {
    const text =
      '<think>\nTwo lookups.\n</think>\n\nOne moment.\n<tool_call>\n{"name": "a", "arguments": {"q": 1}}\n</tool_call>\n<tool_call>\n{"name": "b", "arguments": {}}\n</tool_call>';
    expect(parseMessage(text, { toolCalls: "hermes", newToolCallId: ids() })).toEqual({
      content: "One moment.\n",
      reasoning_content: "\nTwo lookups.\n",
      tool_calls: [
        { id: "call_0", type: "function", function: { name: "a", arguments: '{"q": 1}' } },
        { id: "call_1", type: "function", function: { name: "b", arguments: "{}" } },
      ],
    });
  });

  test("defaults: <think> split, no tool formats", () => {
    expect(parseMessage('<think>a</think>b<tool_call>{"name":"f"}</tool_call>')).toEqual({
      content: 'b<tool_call>{"name":"f"}</tool_call>',
      reasoning_content: "a",
      tool_calls: [],
    });
  });
});

describe("rewriteCompletion", () => {
  const completion = (content: string, finish = "stop") => ({
    id: "chatcmpl-1",
    object: "chat.completion",
    choices: [{ index: 0, message: { role: "assistant", content, refusal: null }, logprobs: null, finish_reason: finish }],
    usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
  });

  test("calls and reasoning move into their fields; content null; finish_reason tool_calls", () => {
    const out = rewriteCompletion(completion('<think>hm</think>{"name": "f", "parameters": {"x": 1}}'), { toolCalls: "llama3", newToolCallId: ids() });
    expect(out.choices[0] as unknown).toEqual({
      index: 0,
      message: {
        role: "assistant",
        content: null,
        refusal: null,
        reasoning_content: "hm",
        tool_calls: [{ id: "call_0", type: "function", function: { name: "f", arguments: '{"x": 1}' } }],
      },
      logprobs: null,
      finish_reason: "tool_calls",
    });
  });

  test("a plain reply keeps its content and has no extra fields", () => {
    const out = rewriteCompletion(completion("Just text."), { toolCalls: "hermes" });
    expect(out.choices[0].message).toEqual({ role: "assistant", content: "Just text.", refusal: null });
    expect(out.choices[0].finish_reason).toBe("stop");
  });

  test("an empty reply stays an empty string", () => {
    expect(rewriteCompletion(completion("")).choices[0].message.content).toBe("");
  });

  test("a message that already has tool calls is left alone", () => {
    const c = { choices: [{ message: { content: "<think>x</think>", tool_calls: [{ id: "a" }] }, finish_reason: "tool_calls" }] };
    expect(rewriteCompletion(structuredClone(c))).toEqual(c);
  });

  test("not a completion: returned unchanged", () => {
    expect(rewriteCompletion({ error: "x" } as { error: string; choices?: unknown })).toEqual({ error: "x" });
  });
});
