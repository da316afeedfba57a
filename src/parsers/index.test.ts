import { expect, test } from "bun:test";
import { parserFor } from "./index.ts";

test("parserFor: one configuration, fresh state per stream", () => {
  const p = parserFor("hermes", { reasoning: { startsInside: true } });
  expect(p.options).toEqual({ reasoning: { startsInside: true }, toolCalls: "hermes" });
  const a = p.stream();
  const b = p.stream();
  expect(a.push("thinking")).toEqual([{ reasoning_content: "thinking" }]);
  expect(b.push("</think>Hi")).toEqual([{ content: "Hi" }]);
  expect(p.message("x</think>y")).toEqual({ content: "y", reasoning_content: "x", tool_calls: [] });
  const chunk = p.chunks().rewrite({ choices: [{ index: 0, delta: { content: "q</think>" }, finish_reason: null }] });
  expect(chunk.choices![0].delta).toEqual({ content: undefined, reasoning_content: "q" });
  const done = p.completion({ choices: [{ message: { content: 'r</think><tool_call>{"name": "f"}</tool_call>' }, finish_reason: "stop" }] });
  expect(done.choices[0].finish_reason).toBe("tool_calls");
});

test("parserFor refuses a format it does not know", () => {
  expect(() => parserFor("chatml" as "none")).toThrow("unknown tool call format: chatml");
});
