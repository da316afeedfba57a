// How the stream parser releases text over time: at once where it can, holding back only what
// may still turn into a tag, and never more than one tool call's text.
import { describe, expect, test } from "bun:test";
import { createStreamParser, isToolCallFormat, TOOL_CALL_FORMATS } from "./stream.ts";
import { runPieces } from "./test-support.ts";
import type { Delta, ToolCallFormat } from "./types.ts";

const FORMATS: ToolCallFormat[] = ["hermes", "llama3", "mistral", "deepseek", "none"];
const text = (ds: readonly Delta[]) => ds.map((d) => d.content ?? "").join("");
const thought = (ds: readonly Delta[]) => ds.map((d) => d.reasoning_content ?? "").join("");

describe("releases as tokens arrive", () => {
  for (const format of FORMATS) {
    test(`${format}: prose goes out the moment it arrives`, () => {
      const p = createStreamParser({ toolCalls: format });
      expect(p.push("Hello")).toEqual([{ content: "Hello" }]);
      expect(p.push(", wörld 🌍.")).toEqual([{ content: ", wörld 🌍." }]);
      expect(p.push(" x < y and a[0] {ok}")).toEqual([{ content: " x < y and a[0] {ok}" }]);
      expect(p.end()).toEqual([]);
      expect(p.sawToolCall).toBe(false);
    });
  }

  test("only the possible start of a tag is held", () => {
    const p = createStreamParser({});
    expect(p.push("a <th")).toEqual([{ content: "a " }]);
    expect(p.push("is")).toEqual([{ content: "<this" }]);
    expect(p.push(" <think")).toEqual([{ content: " " }]);
    expect(p.end()).toEqual([{ content: "<think" }]);
  });

  test("reasoning streams out as it is written, not when the block closes", () => {
    const p = createStreamParser({});
    expect(p.push("<think>step one")).toEqual([{ reasoning_content: "step one" }]);
    expect(p.push(", step two</")).toEqual([{ reasoning_content: ", step two" }]);
    expect(p.push("think>Answer")).toEqual([{ content: "Answer" }]);
  });

  test("a reply that starts inside the block reasons from its first token", () => {
    const p = createStreamParser({ reasoning: { startsInside: true } });
    expect(p.push("Okay")).toEqual([{ reasoning_content: "Okay" }]);
    expect(p.push(", so</think>\n")).toEqual([{ reasoning_content: ", so" }]);
    expect(p.push("\nYes")).toEqual([{ content: "Yes" }]);
  });

  test("with startsInside, a first token that may be the opening tag waits for one more", () => {
    const p = createStreamParser({ reasoning: { startsInside: true } });
    expect(p.push("<")).toEqual([]);
    expect(p.push("b>bold")).toEqual([{ reasoning_content: "<b>bold" }]);
  });

  test("text before a Hermes call goes out before the call is complete", () => {
    const p = createStreamParser({ toolCalls: "hermes" });
    expect(p.push("Let me look.<tool_c")).toEqual([{ content: "Let me look." }]);
    expect(p.push('all>{"name": "f", ')).toEqual([]);
    expect(p.push('"arguments": {}}</tool_call>')).toEqual([
      { tool_calls: [{ index: 0, id: expect.stringMatching(/^call_[A-Za-z0-9]{24}$/), type: "function", function: { name: "f", arguments: "{}" } }] },
    ]);
    expect(p.sawToolCall).toBe(true);
  });

  test("llama3: a JSON answer is let out at its first key, not held to its end", () => {
    const p = createStreamParser({ toolCalls: "llama3" });
    expect(p.push('{"ans')).toEqual([]);
    expect(p.push('wer": 4')).toEqual([{ content: '{"answer": 4' }]);
    expect(p.push(', "b": 5}')).toEqual([{ content: ', "b": 5}' }]);
  });

  test("mistral: [TOOL_CALLS] in prose is let out at the next space", () => {
    const p = createStreamParser({ toolCalls: "mistral" });
    expect(p.push("the [TOOL_CALLS]")).toEqual([{ content: "the " }]);
    expect(p.push("tok")).toEqual([]);
    expect(p.push("en is")).toEqual([{ content: "[TOOL_CALLS]token is" }]);
  });

  test("one push releasing several kinds keeps their order and merges neighbours", () => {
    const p = createStreamParser({ toolCalls: "hermes" });
    const out = p.push('a<think>b</think>c<tool_call>{"name":"f"}</tool_call><tool_call>{"name":"g"}</tool_call>d');
    expect(out.map((d) => Object.keys(d)[0])).toEqual(["content", "reasoning_content", "content", "tool_calls", "content"]);
    expect(out[3].tool_calls!.map((t) => [t.index, t.function.name])).toEqual([[0, "f"], [1, "g"]]);
    expect(text(out)).toBe("acd");
    expect(thought(out)).toBe("b");
  });

  test("an empty push releases nothing and allocates nothing", () => {
    const p = createStreamParser({ toolCalls: "hermes" });
    expect(p.push("")).toBe(p.push(""));
    expect(p.push("")).toEqual([]);
  });
});

describe("tool call ids", () => {
  test("default ids look like OpenAI's and differ", () => {
    const ids = new Set<string>();
    for (let i = 0; i < 50; i++) {
      const p = createStreamParser({ toolCalls: "hermes" });
      const id = p.push('<tool_call>{"name": "f"}</tool_call>')[0].tool_calls![0].id!;
      expect(id).toMatch(/^call_[A-Za-z0-9]{24}$/);
      ids.add(id);
    }
    expect(ids.size).toBe(50);
  });

  test("newToolCallId is used, and a model's own id wins", () => {
    const run = runPieces(['[TOOL_CALLS]a[ARGS]{}[TOOL_CALLS]b[CALL_ID]abc123XYZ[ARGS]{}'], { toolCalls: "mistral" });
    expect(run.merged.tool_calls.map((t) => t.id)).toEqual(["call_0", "abc123XYZ"]);
  });
});

describe("a held block is bounded", () => {
  const big = "x".repeat(500);
  const cases: [ToolCallFormat, string][] = [
    ["hermes", `<tool_call>{"name": "f", "arguments": {"s": "${big}"}}</tool_call>`],
    ["llama3", `{"name": "f", "parameters": {"s": "${big}"}}`],
    ["mistral", `[TOOL_CALLS]f[ARGS]{"s": "${big}"}`],
    ["deepseek", `<｜tool▁call▁begin｜>f<｜tool▁sep｜>{"s": "${big}"}<｜tool▁call▁end｜>`],
  ];
  for (const [format, reply] of cases) {
    test(`${format}: a call longer than maxBlockChars is let through as content, whole`, () => {
      const pieces = reply.match(/[\s\S]{1,7}/g)!;
      const run = runPieces(pieces, { toolCalls: format, maxBlockChars: 200 });
      expect(run.merged.tool_calls).toEqual([]);
      expect(run.merged.content).toBe(reply);
      // Nothing was held much beyond the limit.
      let held = 0;
      let fed = 0;
      for (let i = 0; i < pieces.length; i++) {
        fed += pieces[i].length;
        held = fed - text(run.perPush.slice(0, i + 1).flat()).length;
        expect(held).toBeLessThanOrEqual(200 + 40);
      }
    });
    test(`${format}: the same call within the limit is a call`, () => {
      const run = runPieces(reply.match(/[\s\S]{1,7}/g)!, { toolCalls: format, maxBlockChars: 2000 });
      expect(run.merged.tool_calls.length).toBe(1);
      expect(run.merged.content).toBeNull();
    });
  }

  test("after an overflow, a later call is still found", () => {
    const reply = `<tool_call>${"y".repeat(300)}</tool_call> then <tool_call>{"name": "g"}</tool_call>`;
    const run = runPieces(reply.match(/[\s\S]{1,5}/g)!, { toolCalls: "hermes", maxBlockChars: 100 });
    expect(run.merged.content).toBe(`<tool_call>${"y".repeat(300)}</tool_call> then `);
    expect(run.merged.tool_calls.map((t) => t.function.name)).toEqual(["g"]);
  });
});

describe("configuration", () => {
  test("format names", () => {
    expect([...TOOL_CALL_FORMATS].sort()).toEqual([...FORMATS].sort());
    for (const f of FORMATS) expect(isToolCallFormat(f)).toBe(true);
    expect(isToolCallFormat("hermes2")).toBe(false);
    expect(isToolCallFormat("toString")).toBe(false);
  });

  test("an unknown format is refused", () => {
    expect(() => createStreamParser({ toolCalls: "qwen" as ToolCallFormat })).toThrow("unknown tool call format: qwen");
  });
});
