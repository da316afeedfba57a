import { describe, expect, test } from "bun:test";
import { takeAnthropic, type ReplyParts } from "./usage";
import { extract } from "../../audit/record";

const fresh = (): ReplyParts => ({ content: "", usage: null });
const enc = new TextEncoder();

describe("reply text and usage of Anthropic replies", () => {
  test("a whole message: text blocks joined, cache reads and writes counted as prompt", () => {
    const out = fresh();
    const msg = {
      type: "message",
      content: [{ type: "thinking", thinking: "hmm", signature: "s" }, { type: "text", text: "Hel" }, { type: "tool_use", id: "t", name: "f", input: {} }, { type: "text", text: "lo" }],
      usage: { input_tokens: 5, output_tokens: 7, cache_creation_input_tokens: 2, cache_read_input_tokens: 3 },
    };
    expect(takeAnthropic(msg, out)).toBe(true);
    expect(out).toEqual({ content: "Hello", usage: { completion_tokens: 7, prompt_tokens: 10 } });
  });

  test("stream events: input from message_start, output from the last message_delta", () => {
    const out = fresh();
    const events = [
      { type: "message_start", message: { usage: { input_tokens: 9, output_tokens: 1, cache_read_input_tokens: 1 } } },
      { type: "content_block_start", index: 0, content_block: { type: "text", text: "" } },
      { type: "content_block_delta", index: 0, delta: { type: "text_delta", text: "a" } },
      { type: "content_block_delta", index: 0, delta: { type: "input_json_delta", partial_json: "{" } },
      { type: "content_block_delta", index: 0, delta: { type: "text_delta", text: "b" } },
      { type: "message_delta", delta: { stop_reason: "end_turn" }, usage: { output_tokens: 4 } },
      { type: "message_delta", delta: {}, usage: { output_tokens: 6 } },
      { type: "message_stop" },
    ];
    for (const e of events) expect(takeAnthropic(e, out)).toBe(true);
    expect(out).toEqual({ content: "ab", usage: { completion_tokens: 6, prompt_tokens: 10 } });
  });

  test("Warden's own translations carry the real input only in message_delta", () => {
    const out = fresh();
    takeAnthropic({ type: "message_start", message: { usage: { input_tokens: 0, output_tokens: 0 } } }, out);
    takeAnthropic({ type: "message_delta", usage: { input_tokens: 12, output_tokens: 3 } }, out);
    expect(out.usage).toEqual({ completion_tokens: 3, prompt_tokens: 12 });
  });

  test("OpenAI documents are not Anthropic's", () => {
    for (const doc of [{ object: "chat.completion", choices: [] }, { error: { message: "x" } }, null, "text", 3]) expect(takeAnthropic(doc, fresh())).toBe(false);
  });

  test("the audit record's extract reads both formats", () => {
    const sse = 'event: message_start\ndata: {"type":"message_start","message":{"usage":{"input_tokens":4,"output_tokens":1}}}\n\nevent: ping\ndata: {"type":"ping"}\n\nevent: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}\n\nevent: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":2}}\n\nevent: message_stop\ndata: {"type":"message_stop"}\n\n';
    expect(extract([enc.encode(sse.slice(0, 50)), enc.encode(sse.slice(50))], true)).toEqual({ content: "Hi", usage: { completion_tokens: 2, prompt_tokens: 4 } });
    const openai = 'data: {"choices":[{"delta":{"content":"Yo"}}]}\n\ndata: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":1}}\n\ndata: [DONE]\n\n';
    expect(extract([enc.encode(openai)], true)).toEqual({ content: "Yo", usage: { completion_tokens: 1, prompt_tokens: 3 } });
  });
});
