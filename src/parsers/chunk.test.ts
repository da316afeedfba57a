// Rewriting OpenAI chat.completion.chunk objects, as the forwarder will: one parser per choice.
import { describe, expect, test } from "bun:test";
import { createChunkRewriter, isEmptyChunk, type ChatCompletionChunk } from "./chunk.ts";
import { mergeDeltas } from "./message.ts";
import type { Delta, ParserOptions } from "./types.ts";

let ids = 0;
const options = (o: ParserOptions): ParserOptions => ({ ...o, newToolCallId: () => `call_${ids++}` });

// Frames as an OpenAI-compatible server (and bench/mock-upstream.ts) streams them.
function frames(pieces: string[], finish = "stop", index = 0): ChatCompletionChunk[] {
  const head = { id: "chatcmpl-1", object: "chat.completion.chunk", created: 1700000000, model: "qwen3" };
  return [
    { ...head, choices: [{ index, delta: { role: "assistant", content: "" }, logprobs: null, finish_reason: null }] },
    ...pieces.map((content) => ({ ...head, choices: [{ index, delta: { content }, logprobs: null, finish_reason: null }] })),
    { ...head, choices: [{ index, delta: {}, logprobs: null, finish_reason: finish }] },
  ];
}

function rewriteAll(chunks: ChatCompletionChunk[], o: ParserOptions) {
  const rw = createChunkRewriter(options(o));
  // Through JSON, as on the wire: undefined fields must vanish.
  const out = chunks.map((c) => JSON.parse(JSON.stringify(rw.rewrite(c))) as ChatCompletionChunk);
  const tail = rw.end();
  if (tail) out.push(JSON.parse(JSON.stringify(tail)));
  return out;
}

const deltasOf = (chunks: ChatCompletionChunk[], index = 0) =>
  chunks.flatMap((c) => (c.choices ?? []).filter((ch) => ch.index === index).map((ch) => ch.delta as Delta));

describe("chunk rewriting", () => {
  test("reasoning, content and a call land in the right fields; stop becomes tool_calls", () => {
    const out = rewriteAll(
      frames(["<think>", "Need", " data.</th", "ink>\n\n", "<tool_call>\n", '{"name": "get_weather", ', '"arguments": {"city": "Paris"}}', "\n</tool_call>"]),
      { toolCalls: "hermes" },
    );
    expect(out[0].choices![0].delta).toEqual({ role: "assistant" });
    expect(out[2].choices![0].delta).toEqual({ reasoning_content: "Need" });
    expect(mergeDeltas(deltasOf(out))).toEqual({
      content: null,
      reasoning_content: "Need data.",
      tool_calls: [{ id: expect.any(String), type: "function", function: { name: "get_weather", arguments: '{"city": "Paris"}' } }],
    });
    const last = out[out.length - 1].choices![0];
    expect(last.finish_reason).toBe("tool_calls");
    // The chunk that completed the call carries it, with everything a client needs to start it.
    const withCall = out.find((c) => (c.choices![0].delta as Delta).tool_calls);
    expect((withCall!.choices![0].delta as Delta).tool_calls![0]).toMatchObject({ index: 0, type: "function", function: { name: "get_weather" } });
  });

  test("a call completed only by the end of the reply arrives with the finish chunk", () => {
    const out = rewriteAll(frames(["<tool_call>", '{"name": "f"}']), { toolCalls: "hermes" });
    const last = out[out.length - 1].choices![0];
    expect(last.finish_reason).toBe("tool_calls");
    expect((last.delta as Delta).tool_calls![0].function).toEqual({ name: "f", arguments: "{}" });
  });

  test("finish_reason length stays length", () => {
    const out = rewriteAll(frames(['<tool_call>{"name": "f"}</tool_call>'], "length"), { toolCalls: "hermes" });
    expect(out[out.length - 1].choices![0].finish_reason).toBe("length");
  });

  test("no calls: finish_reason stays stop, content passes unchanged", () => {
    const out = rewriteAll(frames(["Hel", "lo <b>", "</b>"]), { toolCalls: "hermes" });
    expect(out[out.length - 1].choices![0].finish_reason).toBe("stop");
    expect(deltasOf(out).map((d) => d.content ?? "").join("")).toBe("Hello <b></b>");
  });

  test("interleaved choices (n = 2) keep separate state", () => {
    const a = frames(["<think>x", "</think>A"], "stop", 0);
    const b = frames(["<tool_", 'call>{"name": "g"}</tool_call>'], "stop", 1);
    const mixed = a.flatMap((c, i) => [c, b[i]]);
    const out = rewriteAll(mixed, { toolCalls: "hermes" });
    expect(mergeDeltas(deltasOf(out, 0))).toEqual({ content: "A", reasoning_content: "x", tool_calls: [] });
    expect(mergeDeltas(deltasOf(out, 1)).tool_calls.map((t) => t.function.name)).toEqual(["g"]);
    const finishes = out.flatMap((c) => c.choices!.filter((ch) => ch.finish_reason).map((ch) => [ch.index, ch.finish_reason]));
    expect(finishes).toEqual([[0, "stop"], [1, "tool_calls"]]);
  });

  test("a usage-only chunk passes untouched", () => {
    const rw = createChunkRewriter(options({}));
    const usage = { id: "x", object: "chat.completion.chunk", choices: [], usage: { prompt_tokens: 1, completion_tokens: 2, total_tokens: 3 } };
    expect(rw.rewrite(structuredClone(usage))).toEqual(usage);
  });

  test("a stream cut short: end() returns what was held, modelled on the last chunk", () => {
    const rw = createChunkRewriter(options({}));
    const [first, second] = frames(["Hi <thi"]);
    rw.rewrite(first);
    rw.rewrite(second);
    expect(second.choices![0].delta!.content).toBe("Hi ");
    expect(rw.end()).toEqual({
      id: "chatcmpl-1",
      object: "chat.completion.chunk",
      created: 1700000000,
      model: "qwen3",
      choices: [{ index: 0, delta: { content: "<thi" }, logprobs: null, finish_reason: null }],
    });
    expect(rw.end()).toBeNull();
  });

  test("end() after a finished stream returns null", () => {
    const rw = createChunkRewriter(options({}));
    for (const c of frames(["<think>a"])) rw.rewrite(c);
    expect(rw.end()).toBeNull();
  });

  test("reasoning the upstream split itself is kept, ours appended", () => {
    const rw = createChunkRewriter(options({}));
    const chunk: ChatCompletionChunk = { choices: [{ index: 0, delta: { reasoning_content: "up ", content: "<think>ours" }, finish_reason: null }] };
    expect(rw.rewrite(chunk).choices![0].delta).toEqual({ reasoning_content: "up ours", content: undefined });
  });

  test("deltas that already carry tool calls are left alone", () => {
    const rw = createChunkRewriter(options({ toolCalls: "hermes" }));
    const native = { index: 0, id: "call_x", type: "function" as const, function: { name: "f", arguments: "" } };
    const chunk: ChatCompletionChunk = { choices: [{ index: 0, delta: { content: "<tool_call>", tool_calls: [native] }, finish_reason: null }] };
    expect(rw.rewrite(chunk).choices![0].delta).toEqual({ content: "<tool_call>", tool_calls: [native] });
  });
});

describe("isEmptyChunk", () => {
  test("a chunk whose text was all held back is empty", () => {
    const rw = createChunkRewriter(options({ toolCalls: "hermes" }));
    const chunk = rw.rewrite({ choices: [{ index: 0, delta: { content: "<tool_" }, logprobs: null, finish_reason: null }] });
    expect(isEmptyChunk(chunk)).toBe(true);
  });

  test("role, content, finish_reason, usage or logprobs make a chunk worth sending", () => {
    expect(isEmptyChunk({ choices: [{ index: 0, delta: { role: "assistant" }, finish_reason: null }] })).toBe(false);
    expect(isEmptyChunk({ choices: [{ index: 0, delta: { content: "x" }, finish_reason: null }] })).toBe(false);
    expect(isEmptyChunk({ choices: [{ index: 0, delta: {}, finish_reason: "stop" }] })).toBe(false);
    expect(isEmptyChunk({ choices: [{ index: 0, delta: {}, logprobs: { content: [] }, finish_reason: null }] })).toBe(false);
    expect(isEmptyChunk({ choices: [], usage: { total_tokens: 1 } })).toBe(false);
    expect(isEmptyChunk({ choices: [{ index: 0, delta: { content: null, refusal: null }, finish_reason: null }] })).toBe(true);
  });
});
