import { describe, expect, test } from "bun:test";
import { GatewayError } from "../../errors";
import type { OpenAIChatRequest } from "../common/openai-wire";
import { toAnthropicRequest } from "./request";

const opts = { defaultMaxTokens: 1024 };
const req = (extra: Partial<OpenAIChatRequest>): OpenAIChatRequest => ({ model: "claude-x", messages: [{ role: "user", content: "hi" }], ...extra });

/** The 400 a translation throws, for checking which field it names. */
function refusal(body: OpenAIChatRequest): GatewayError {
  try {
    toAnthropicRequest(body, opts);
  } catch (e) {
    if (e instanceof GatewayError) return e;
    throw e;
  }
  throw new Error("expected a refusal");
}

const PNG = "iVBORw0KGgo=";

describe("toAnthropicRequest", () => {
  test("system and developer messages become top-level system, wherever they stand", () => {
    const one = toAnthropicRequest(req({ messages: [{ role: "system", content: "Be brief." }, { role: "user", content: "hi" }] }), opts);
    expect(one.system).toBe("Be brief.");
    expect(one.messages).toEqual([{ role: "user", content: [{ type: "text", text: "hi" }] }]);

    const two = toAnthropicRequest(req({
      messages: [
        { role: "system", content: [{ type: "text", text: "A" }, { type: "text", text: "B" }] },
        { role: "user", content: "hi" },
        { role: "developer", content: "C" },
      ],
    }), opts);
    expect(two.system).toEqual([{ type: "text", text: "AB" }, { type: "text", text: "C" }]);
    expect(two.messages).toHaveLength(1);
  });

  test("max_tokens: max_completion_tokens wins, then max_tokens, then the default", () => {
    expect(toAnthropicRequest(req({}), opts).max_tokens).toBe(1024);
    expect(toAnthropicRequest(req({ max_tokens: 50 }), opts).max_tokens).toBe(50);
    expect(toAnthropicRequest(req({ max_tokens: 50, max_completion_tokens: 70 }), opts).max_tokens).toBe(70);
    expect(refusal(req({ max_tokens: 0 })).param).toBe("max_tokens");
  });

  test("multi-turn with same-role runs merged", () => {
    const out = toAnthropicRequest(req({
      messages: [
        { role: "user", content: "one" },
        { role: "user", content: "two" },
        { role: "assistant", content: "three" },
        { role: "assistant", content: [{ type: "text", text: "four" }] },
        { role: "user", content: "" }, // empty: dropped, not an empty turn
        { role: "user", content: "five" },
      ],
    }), opts);
    expect(out.messages).toEqual([
      { role: "user", content: [{ type: "text", text: "one" }, { type: "text", text: "two" }] },
      { role: "assistant", content: [{ type: "text", text: "three" }, { type: "text", text: "four" }] },
      { role: "user", content: [{ type: "text", text: "five" }] },
    ]);
  });

  test("images: data: URL → base64 source, http URL → url source, bad types refused", () => {
    const out = toAnthropicRequest(req({
      messages: [{
        role: "user",
        content: [
          { type: "text", text: "what is this?" },
          { type: "image_url", image_url: { url: `data:image/png;base64,${PNG}`, detail: "high" } },
          { type: "image_url", image_url: { url: `data:image/jpg;base64,${PNG}` } },
          { type: "image_url", image_url: { url: "https://example.com/cat.png" } },
        ],
      }],
    }), opts);
    expect(out.messages[0].content).toEqual([
      { type: "text", text: "what is this?" },
      { type: "image", source: { type: "base64", media_type: "image/png", data: PNG } },
      { type: "image", source: { type: "base64", media_type: "image/jpeg", data: PNG } },
      { type: "image", source: { type: "url", url: "https://example.com/cat.png" } },
    ]);
    const bmp = refusal(req({ messages: [{ role: "user", content: [{ type: "image_url", image_url: { url: `data:image/bmp;base64,${PNG}` } }] }] }));
    expect(bmp.status).toBe(400);
    expect(bmp.param).toBe("messages[0].content[0].image_url.url");
    expect(refusal(req({ messages: [{ role: "user", content: [{ type: "image_url", image_url: { url: "data:image/png,raw" } }] }] })).code).toBe("invalid_value");
    expect(refusal(req({ messages: [{ role: "user", content: [{ type: "image_url", image_url: { url: "ftp://x/y.png" } }] }] })).code).toBe("invalid_value");
  });

  test("PDF file parts become document blocks; file ids and audio are refused", () => {
    const out = toAnthropicRequest(req({ messages: [{ role: "user", content: [{ type: "file", file: { file_data: "data:application/pdf;base64,JVBERi0=", filename: "a.pdf" } }] }] }), opts);
    expect(out.messages[0].content).toEqual([{ type: "document", source: { type: "base64", media_type: "application/pdf", data: "JVBERi0=" }, title: "a.pdf" }]);
    expect(refusal(req({ messages: [{ role: "user", content: [{ type: "file", file: { file_id: "file-1" } }] }] })).param).toBe("messages[0].content[0].file.file_id");
    expect(refusal(req({ messages: [{ role: "user", content: [{ type: "input_audio", input_audio: { data: "", format: "wav" } }] }] })).code).toBe("unsupported_parameter");
  });

  test("tools, tool calls and tool results", () => {
    const out = toAnthropicRequest(req({
      messages: [
        { role: "user", content: "weather in Paris and Rome?" },
        {
          role: "assistant",
          content: null,
          tool_calls: [
            { id: "call_1", type: "function", function: { name: "weather", arguments: '{"city":"Paris"}' } },
            { id: "call_2", type: "function", function: { name: "weather", arguments: '{"city":"Rome"}' } },
          ],
        },
        { role: "tool", tool_call_id: "call_1", content: "sunny" },
        { role: "tool", tool_call_id: "call_2", content: [{ type: "text", text: "rainy" }] },
        { role: "user", content: "thanks" },
      ],
      tools: [
        { type: "function", function: { name: "weather", description: "Weather now", parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] }, strict: true } },
        { type: "function", function: { name: "noargs" } },
      ],
    }), opts);
    expect(out.tools).toEqual([
      { name: "weather", description: "Weather now", input_schema: { type: "object", properties: { city: { type: "string" } }, required: ["city"] }, strict: true },
      { name: "noargs", input_schema: { type: "object", properties: {} } },
    ]);
    expect(out.messages).toEqual([
      { role: "user", content: [{ type: "text", text: "weather in Paris and Rome?" }] },
      {
        role: "assistant",
        content: [
          { type: "tool_use", id: "call_1", name: "weather", input: { city: "Paris" } },
          { type: "tool_use", id: "call_2", name: "weather", input: { city: "Rome" } },
        ],
      },
      // Tool results first, in one user turn, right after the calls; the user's own text follows.
      {
        role: "user",
        content: [
          { type: "tool_result", tool_use_id: "call_1", content: "sunny" },
          { type: "tool_result", tool_use_id: "call_2", content: "rainy" },
          { type: "text", text: "thanks" },
        ],
      },
    ]);
  });

  test("tool call arguments must be a JSON object", () => {
    const bad = (args: string) => refusal(req({ messages: [{ role: "assistant", content: null, tool_calls: [{ id: "c", type: "function", function: { name: "f", arguments: args } }] }] }));
    expect(bad("{oops").param).toBe("messages[0].tool_calls[0].function.arguments");
    expect(bad("[1]").param).toBe("messages[0].tool_calls[0].function.arguments");
    const empty = toAnthropicRequest(req({ messages: [{ role: "assistant", content: "", tool_calls: [{ id: "c", type: "function", function: { name: "f", arguments: "" } }] }] }), opts);
    expect(empty.messages[0].content).toEqual([{ type: "tool_use", id: "c", name: "f", input: {} }]);
  });

  test("a tool message must name its call", () => {
    expect(refusal(req({ messages: [{ role: "tool", content: "x" } as never] })).param).toBe("messages[0].tool_call_id");
  });

  test("tool_choice auto / none / required / named, and parallel_tool_calls: false", () => {
    const tools = [{ type: "function" as const, function: { name: "f" } }];
    expect(toAnthropicRequest(req({ tools, tool_choice: "auto" }), opts).tool_choice).toEqual({ type: "auto" });
    expect(toAnthropicRequest(req({ tools, tool_choice: "none" }), opts).tool_choice).toEqual({ type: "none" });
    expect(toAnthropicRequest(req({ tools, tool_choice: "required" }), opts).tool_choice).toEqual({ type: "any" });
    expect(toAnthropicRequest(req({ tools, tool_choice: { type: "function", function: { name: "f" } } }), opts).tool_choice).toEqual({ type: "tool", name: "f" });
    expect(toAnthropicRequest(req({ tools, parallel_tool_calls: false }), opts).tool_choice).toEqual({ type: "auto", disable_parallel_tool_use: true });
    expect(toAnthropicRequest(req({ tools, tool_choice: "required", parallel_tool_calls: false }), opts).tool_choice).toEqual({ type: "any", disable_parallel_tool_use: true });
    expect(toAnthropicRequest(req({ tool_choice: "none" }), opts).tool_choice).toBeUndefined();
    expect(refusal(req({ tools, tool_choice: { type: "allowed_tools", allowed_tools: {} } })).param).toBe("tool_choice");
    expect(refusal(req({ tools: [{ type: "custom", custom: { name: "x" } } as never] })).param).toBe("tools[0].type");
  });

  test("sampling, stop, stream, user, response_format", () => {
    const out = toAnthropicRequest(req({ temperature: 0.3, top_p: 0.9, top_k: 5, stop: "END", stream: true, stream_options: { include_usage: true }, user: "u-1", seed: 7, store: true, reasoning_effort: "high" }), opts);
    expect(out).toMatchObject({ temperature: 0.3, top_p: 0.9, top_k: 5, stop_sequences: ["END"], stream: true, metadata: { user_id: "u-1" } });
    for (const dropped of ["seed", "store", "reasoning_effort", "stream_options", "user", "stop"]) expect(out).not.toHaveProperty(dropped);
    expect(toAnthropicRequest(req({ stop: ["a", "b"] }), opts).stop_sequences).toEqual(["a", "b"]);
    expect(toAnthropicRequest(req({ safety_identifier: "hash" }), opts).metadata).toEqual({ user_id: "hash" });
    const schema = { type: "object", properties: { a: { type: "number" } } };
    expect(toAnthropicRequest(req({ response_format: { type: "json_schema", json_schema: { name: "x", schema } } }), opts).output_config).toEqual({ format: { type: "json_schema", schema } });
    expect(toAnthropicRequest(req({ response_format: { type: "text" } }), opts)).not.toHaveProperty("output_config");
    expect(refusal(req({ response_format: { type: "json_object" } })).param).toBe("response_format");
  });

  test("features with no Anthropic equivalent are refused by name", () => {
    const cases: [Partial<OpenAIChatRequest>, string][] = [
      [{ n: 2 }, "n"],
      [{ logprobs: true }, "logprobs"],
      [{ top_logprobs: 3 }, "top_logprobs"],
      [{ logit_bias: { "42": 10 } }, "logit_bias"],
      [{ frequency_penalty: 0.5 }, "frequency_penalty"],
      [{ presence_penalty: -1 }, "presence_penalty"],
      [{ audio: { voice: "x", format: "mp3" } }, "audio"],
      [{ modalities: ["text", "audio"] }, "modalities"],
      [{ functions: [] }, "functions"],
      [{ function_call: "auto" }, "function_call"],
      [{ web_search_options: {} }, "web_search_options"],
      [{ temperature: 1.5 }, "temperature"],
    ];
    for (const [extra, param] of cases) {
      const e = refusal(req(extra));
      expect(e.status).toBe(400);
      expect(e.code).toBe("unsupported_parameter");
      expect(e.param).toBe(param);
      expect(e.message).toContain(param);
    }
    // The harmless defaults many clients send are accepted.
    expect(() => toAnthropicRequest(req({ n: 1, logprobs: false, frequency_penalty: 0, presence_penalty: 0, logit_bias: {} }), opts)).not.toThrow();
  });

  test("assistant refusal text is replayed as text; reasoning_content and names are dropped", () => {
    const out = toAnthropicRequest(req({ messages: [{ role: "user", content: "x", name: "bob" }, { role: "assistant", content: null, refusal: "I can't.", reasoning_content: "secret" }] }), opts);
    expect(out.messages[1]).toEqual({ role: "assistant", content: [{ type: "text", text: "I can't." }] });
  });
});
