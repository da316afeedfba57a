import { describe, expect, test } from "bun:test";
import { fromAnthropicResponse } from "./response";
import { createAnthropicStreamTranslator } from "./stream";
import { mergeChunks, parseOpenAIStream, splitsOf } from "../common/testing";
import { translatorStream } from "../common/transform";
import type { AnthropicResponse } from "./types";

const ev = (name: string, data: unknown) => `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`;

/** A stream in the documented event order: thinking, text and two tool calls, with pings between. */
const STREAM = [
  ev("message_start", { type: "message_start", message: { id: "msg_1", type: "message", role: "assistant", content: [], model: "claude-real", stop_reason: null, stop_sequence: null, usage: { input_tokens: 25, output_tokens: 1, cache_read_input_tokens: 5 } } }),
  ev("content_block_start", { type: "content_block_start", index: 0, content_block: { type: "thinking", thinking: "", signature: "" } }),
  ev("ping", { type: "ping" }),
  ev("content_block_delta", { type: "content_block_delta", index: 0, delta: { type: "thinking_delta", thinking: "Two cities, " } }),
  ev("content_block_delta", { type: "content_block_delta", index: 0, delta: { type: "thinking_delta", thinking: "two calls." } }),
  ev("content_block_delta", { type: "content_block_delta", index: 0, delta: { type: "signature_delta", signature: "EqQB" } }),
  ev("content_block_stop", { type: "content_block_stop", index: 0 }),
  ev("content_block_start", { type: "content_block_start", index: 1, content_block: { type: "text", text: "" } }),
  ev("content_block_delta", { type: "content_block_delta", index: 1, delta: { type: "text_delta", text: "Checking “Paris” " } }),
  ev("content_block_delta", { type: "content_block_delta", index: 1, delta: { type: "text_delta", text: "and Rome 🌍." } }),
  ev("content_block_stop", { type: "content_block_stop", index: 1 }),
  ev("content_block_start", { type: "content_block_start", index: 2, content_block: { type: "tool_use", id: "toolu_A", name: "weather", input: {} } }),
  ev("content_block_delta", { type: "content_block_delta", index: 2, delta: { type: "input_json_delta", partial_json: "" } }),
  ev("content_block_delta", { type: "content_block_delta", index: 2, delta: { type: "input_json_delta", partial_json: '{"city": "Pa' } }),
  ev("content_block_delta", { type: "content_block_delta", index: 2, delta: { type: "input_json_delta", partial_json: 'ris"}' } }),
  ev("content_block_stop", { type: "content_block_stop", index: 2 }),
  ev("content_block_start", { type: "content_block_start", index: 3, content_block: { type: "tool_use", id: "toolu_B", name: "clock", input: {} } }),
  ev("content_block_stop", { type: "content_block_stop", index: 3 }),
  ev("message_delta", { type: "message_delta", delta: { stop_reason: "tool_use", stop_sequence: null }, usage: { output_tokens: 42 } }),
  ev("message_stop", { type: "message_stop" }),
].join("");

/** The same reply, non-streamed. */
const MESSAGE: AnthropicResponse = {
  id: "msg_1",
  type: "message",
  role: "assistant",
  model: "claude-real",
  content: [
    { type: "thinking", thinking: "Two cities, two calls.", signature: "EqQB" },
    { type: "text", text: "Checking “Paris” and Rome 🌍." },
    { type: "tool_use", id: "toolu_A", name: "weather", input: { city: "Paris" } },
    { type: "tool_use", id: "toolu_B", name: "clock", input: {} },
  ],
  stop_reason: "tool_use",
  stop_sequence: null,
  usage: { input_tokens: 25, output_tokens: 42, cache_read_input_tokens: 5 },
};

function translate(pieces: (string | Uint8Array)[], includeUsage = true): string {
  const t = createAnthropicStreamTranslator("alias", "chatcmpl-req1", { includeUsage });
  let out = "";
  for (const p of pieces) out += t.push(p);
  return out + t.end();
}

describe("createAnthropicStreamTranslator", () => {
  test("merged deltas equal the non-streamed reply (content, reasoning, tool calls, finish, usage)", () => {
    const parsed = parseOpenAIStream(translate([STREAM]));
    expect(parsed.done).toBe(true);
    expect(parsed.error).toBeUndefined();
    const merged = mergeChunks(parsed.chunks);
    const whole = fromAnthropicResponse(MESSAGE, "alias");
    const msg = whole.choices[0].message;
    // Arguments compare as JSON: the stream carries the model's own spacing, the whole reply re-serialises.
    const args = (calls: { function: { arguments: string } }[] | undefined) => calls?.map((c) => JSON.parse(c.function.arguments));
    expect(args(merged.choices[0].tool_calls)).toEqual(args(msg.tool_calls)!);
    const strip = <T extends { tool_calls?: unknown }>(m: T) => ({ ...m, tool_calls: (m.tool_calls as { id: string; function: { name: string } }[]).map((c) => [c.id, c.function.name]) });
    expect(strip(merged.choices[0])).toEqual(strip({ role: "assistant", content: msg.content, reasoning_content: msg.reasoning_content, tool_calls: msg.tool_calls, finish_reason: "tool_calls" }));
    expect(merged.usage).toEqual(whole.usage!);
    expect(merged.ids).toEqual(new Set(["chatcmpl-req1"]));
    for (const c of parsed.chunks) expect(c.model).toBe("alias");
  });

  test("tool calls stream as OpenAI deltas: index, id and name first, then argument pieces", () => {
    const { chunks } = parseOpenAIStream(translate([STREAM]));
    const toolDeltas = chunks.flatMap((c) => c.choices.flatMap((ch) => ch.delta.tool_calls ?? []));
    expect(toolDeltas).toEqual([
      { index: 0, id: "toolu_A", type: "function", function: { name: "weather", arguments: "" } },
      { index: 0, function: { arguments: '{"city": "Pa' } },
      { index: 0, function: { arguments: 'ris"}' } },
      { index: 1, id: "toolu_B", type: "function", function: { name: "clock", arguments: "" } },
      { index: 1, function: { arguments: "{}" } },
    ]);
  });

  test("pings become SSE comments and comments pass through, so idle timers downstream see a live upstream", () => {
    const parsed = parseOpenAIStream(translate([": upstream keep-alive\n\n" + STREAM]));
    expect(parsed.comments).toEqual([" upstream keep-alive", " ping"]);
    expect(parsed.done).toBe(true);
  });

  test("the usage chunk only when asked, with choices: [] and usage: null on the others", () => {
    const withUsage = parseOpenAIStream(translate([STREAM], true)).chunks;
    expect(withUsage.at(-1)!.choices).toEqual([]);
    expect(withUsage.at(-1)!.usage).toEqual({ prompt_tokens: 30, completion_tokens: 42, total_tokens: 72, prompt_tokens_details: { cached_tokens: 5 } });
    for (const c of withUsage.slice(0, -1)) expect(c.usage).toBeNull();
    const without = parseOpenAIStream(translate([STREAM], false)).chunks;
    expect(without.some((c) => c.usage !== undefined)).toBe(false);
  });

  test("the same output whatever byte the upstream bytes are split at", () => {
    const bytes = new TextEncoder().encode(STREAM);
    const expected = parseOpenAIStream(translate([bytes]));
    const normalise = (p: typeof expected) => JSON.stringify(p.chunks.map((c) => ({ ...c, created: 0 })));
    let n = 0;
    for (const pieces of splitsOf(bytes)) {
      const got = parseOpenAIStream(translate(pieces));
      expect(got.done).toBe(true);
      expect(normalise(got)).toBe(normalise(expected));
      n++;
    }
    expect(n).toBe(bytes.length + 2);
  });

  test("an error event becomes an OpenAI error event and ends the stream", () => {
    const text = STREAM.slice(0, STREAM.indexOf("event: content_block_start")) + ev("error", { type: "error", error: { type: "overloaded_error", message: "Overloaded" } }) + ev("ping", { type: "ping" });
    const parsed = parseOpenAIStream(translate([text]));
    expect(parsed.done).toBe(false);
    expect(parsed.error).toEqual({ message: "Overloaded", type: "server_error", param: null, code: "upstream_overloaded" } as never);
  });

  test("a body that ends before message_stop ends with an error, not [DONE]", () => {
    const cut = STREAM.slice(0, STREAM.indexOf("event: message_delta"));
    const parsed = parseOpenAIStream(translate([cut]));
    expect(parsed.done).toBe(false);
    expect(parsed.error?.code).toBe("upstream_stream_interrupted");
    expect(mergeChunks(parsed.chunks).choices[0].content).toBe("Checking “Paris” and Rome 🌍.");
  });

  test("a malformed event fails the stream", () => {
    const parsed = parseOpenAIStream(translate(["event: message_start\ndata: {nope\n\n"]));
    expect(parsed.error?.code).toBe("upstream_bad_event");
  });

  test("stop reasons reach the finish chunk; unknown events and blocks are ignored", () => {
    const text = [
      ev("message_start", { type: "message_start", message: { id: "m", usage: { input_tokens: 1, output_tokens: 0 } } }),
      ev("content_block_start", { type: "content_block_start", index: 0, content_block: { type: "server_tool_use", id: "s", name: "web_search", input: {} } }),
      ev("content_block_delta", { type: "content_block_delta", index: 0, delta: { type: "input_json_delta", partial_json: "{}" } }),
      ev("content_block_stop", { type: "content_block_stop", index: 0 }),
      ev("future_event", { type: "future_event" }),
      ev("message_delta", { type: "message_delta", delta: { stop_reason: "max_tokens" }, usage: { output_tokens: 9 } }),
      ev("message_stop", { type: "message_stop" }),
    ].join("");
    const merged = mergeChunks(parseOpenAIStream(translate([text])).chunks);
    expect(merged.choices[0]).toEqual({ role: "assistant", content: "", finish_reason: "length" });
    expect(merged.usage).toEqual({ prompt_tokens: 1, completion_tokens: 9, total_tokens: 10 });
  });

  test("as a TransformStream", async () => {
    const body = new Response(STREAM).body!.pipeThrough(translatorStream(createAnthropicStreamTranslator("alias", "id1")));
    const parsed = parseOpenAIStream(await new Response(body).text());
    expect(parsed.done).toBe(true);
    expect(mergeChunks(parsed.chunks).choices[0].finish_reason).toBe("tool_calls");
  });
});
