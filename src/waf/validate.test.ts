import { describe, expect, test } from "bun:test";
import { GatewayError } from "../errors";
import type { Endpoint } from "./targets";
import { validateBody } from "./validate";

/** The refusal validateBody gives, as [code, param, message]. */
function refusal(endpoint: Endpoint, body: Record<string, unknown>): [string | null, string | null, string] {
  try {
    validateBody(endpoint, body);
  } catch (e) {
    expect(e).toBeInstanceOf(GatewayError);
    const g = e as GatewayError;
    expect([g.status, g.type]).toEqual([400, "invalid_request_error"]);
    return [g.code, g.param, g.message];
  }
  throw new Error("expected a refusal");
}

const chat = (extra: Record<string, unknown> = {}, messages: unknown[] = [{ role: "user", content: "hi" }]) => ({ model: "gpt-4o", messages, ...extra });

describe("valid bodies pass", () => {
  test("a full chat request with every kind of message and part", () => {
    validateBody(
      "chat/completions",
      chat(
        {
          temperature: 0.7,
          top_p: 1,
          n: 1,
          max_completion_tokens: 100,
          stop: ["\n\n", "END"],
          stream: true,
          stream_options: { include_usage: true },
          tools: [{ type: "function", function: { name: "get_weather", parameters: { type: "object" } } }],
          tool_choice: { type: "function", function: { name: "get_weather" } },
          response_format: { type: "json_schema", json_schema: { name: "x", schema: {} } },
          logprobs: true,
          top_logprobs: 5,
          logit_bias: { "50256": -100 },
          seed: 42,
          user: "u1",
          reasoning_effort: "low",
          metadata: { team: "a" },
          modalities: ["text"],
          parallel_tool_calls: false,
          presence_penalty: -2,
          frequency_penalty: 2,
          max_tokens: null,
        },
        [
          { role: "developer", content: [{ type: "text", text: "be brief" }] },
          { role: "system", content: "sys", name: "x" },
          {
            role: "user",
            content: [
              { type: "text", text: "what is this?" },
              { type: "image_url", image_url: { url: "data:image/png;base64,AAAA", detail: "high" } },
              { type: "input_audio", input_audio: { data: "AAAA", format: "wav" } },
              { type: "file", file: { file_id: "file-1" } },
            ],
          },
          { role: "assistant", content: null, tool_calls: [{ id: "c1", type: "function", function: { name: "get_weather", arguments: "{}" } }] },
          { role: "tool", tool_call_id: "c1", content: "sunny" },
          { role: "assistant", content: [{ type: "refusal", refusal: "no" }] },
          { role: "function", name: "f", content: null },
        ],
      ),
    );
  });

  test("unknown extra fields and extension part types are allowed (vLLM, SGLang)", () => {
    validateBody("chat/completions", chat({ top_k: 40, min_p: 0.05, repetition_penalty: 1.1, chat_template_kwargs: { x: 1 } }));
    validateBody("chat/completions", chat({}, [{ role: "user", content: [{ type: "video_url", video_url: { url: "https://v" } }] }]));
    validateBody("chat/completions", chat({ response_format: { type: "structural_tag", structures: [] } }));
  });

  test("completions and embeddings in all their prompt/input forms", () => {
    for (const prompt of ["hi", ["a", "b"], [1, 2, 3], [[1, 2], [3]]]) validateBody("completions", { model: "m", prompt, max_tokens: 0, logprobs: 5 });
    for (const input of ["hi", ["a", "b"], [1, 2, 3], [[1, 2], [3]]]) validateBody("embeddings", { model: "m", input, encoding_format: "base64", dimensions: 256 });
  });
});

describe("invalid bodies name the field in OpenAI's notation", () => {
  test("model missing, empty or of the wrong type", () => {
    expect(refusal("chat/completions", { messages: [] })).toEqual(["missing_required_parameter", "model", "You must provide a model parameter."]);
    expect(refusal("embeddings", { model: "", input: "x" })).toEqual(["missing_required_parameter", "model", "You must provide a model parameter."]);
    expect(refusal("completions", { model: 5, prompt: "x" }).slice(0, 2)).toEqual(["invalid_type", "model"]);
  });

  test("out-of-range numbers are invalid values naming the range", () => {
    expect(refusal("chat/completions", chat({ temperature: 3 }))).toEqual([
      "invalid_value",
      "temperature",
      "Invalid value for 'temperature': expected a number between 0 and 2, but got 3 instead.",
    ]);
    expect(refusal("chat/completions", chat({ top_p: 1.5 })).slice(0, 2)).toEqual(["invalid_value", "top_p"]);
    expect(refusal("chat/completions", chat({ top_logprobs: 21 })).slice(0, 2)).toEqual(["invalid_value", "top_logprobs"]);
    expect(refusal("chat/completions", chat({ presence_penalty: -2.5 })).slice(0, 2)).toEqual(["invalid_value", "presence_penalty"]);
    expect(refusal("chat/completions", chat({ n: 0 })).slice(0, 2)).toEqual(["invalid_value", "n"]);
  });

  test("wrong types say what was expected and what came", () => {
    expect(refusal("chat/completions", chat({ temperature: "hot" }))).toEqual([
      "invalid_type",
      "temperature",
      "Invalid type for 'temperature': expected a number between 0 and 2 or null, but got a string instead.",
    ]);
    expect(refusal("chat/completions", chat({ stream: "yes" })).slice(0, 2)).toEqual(["invalid_type", "stream"]);
    expect(refusal("chat/completions", chat({ n: 1.5 })).slice(0, 2)).toEqual(["invalid_type", "n"]);
  });

  test("stop takes a string or at most four strings", () => {
    expect(refusal("chat/completions", chat({ stop: ["a", "b", "c", "d", "e"] })).slice(0, 2)).toEqual(["invalid_value", "stop"]);
    expect(refusal("chat/completions", chat({ stop: [1] })).slice(0, 2)).toEqual(["invalid_type", "stop[0]"]);
  });

  test("messages: empty, unknown role, missing role, wrong content", () => {
    expect(refusal("chat/completions", chat({}, [])).slice(0, 2)).toEqual(["invalid_value", "messages"]);
    expect(refusal("chat/completions", chat({}, [{ role: "user", content: "a" }, { role: "bot", content: "b" }]))).toEqual([
      "invalid_value",
      "messages[1].role",
      "Invalid value for 'messages[1].role': expected one of 'system', 'developer', 'user', 'assistant', 'tool', 'function', but got \"bot\" instead.",
    ]);
    expect(refusal("chat/completions", chat({}, [{ content: "a" }])).slice(0, 2)).toEqual(["missing_required_parameter", "messages[0].role"]);
    expect(refusal("chat/completions", chat({}, [{ role: "user", content: "a" }, { role: "user", content: 5 }]))).toEqual([
      "invalid_type",
      "messages[1].content",
      "Invalid type for 'messages[1].content': expected a string or an array of content parts, but got an integer instead.",
    ]);
    expect(refusal("chat/completions", chat({}, [{ role: "user" }]))).toEqual(["missing_required_parameter", "messages[0].content", "Missing required parameter: 'messages[0].content'."]);
    expect(refusal("chat/completions", chat({}, [{ role: "tool", content: "x" }])).slice(0, 2)).toEqual(["missing_required_parameter", "messages[0].tool_call_id"]);
  });

  test("content parts: the deepest wrong field is named", () => {
    expect(refusal("chat/completions", chat({}, [{ role: "user", content: [{ type: "text", text: "a" }, { type: "image_url", image_url: { url: 7 } }] }])).slice(0, 2)).toEqual([
      "invalid_type",
      "messages[0].content[1].image_url.url",
    ]);
    expect(refusal("chat/completions", chat({}, [{ role: "user", content: [{ type: "text" }] }]))).toEqual([
      "missing_required_parameter",
      "messages[0].content[0].text",
      "Missing required parameter: 'messages[0].content[0].text'.",
    ]);
    // OpenAI part types are checked per role: no images in a system message.
    expect(refusal("chat/completions", chat({}, [{ role: "system", content: [{ type: "image_url", image_url: { url: "u" } }] }])).slice(0, 2)).toEqual([
      "invalid_value",
      "messages[0].content[0].type",
    ]);
  });

  test("assistant tool calls and tools", () => {
    expect(
      refusal("chat/completions", chat({}, [{ role: "assistant", tool_calls: [{ id: "1", type: "function", function: { name: "f", arguments: {} } }] }])).slice(0, 2),
    ).toEqual(["invalid_type", "messages[0].tool_calls[0].function.arguments"]);
    expect(refusal("chat/completions", chat({ tools: [{ type: "function", function: {} }] })).slice(0, 2)).toEqual(["missing_required_parameter", "tools[0].function.name"]);
    expect(refusal("chat/completions", chat({ tool_choice: "always" })).slice(0, 2)).toEqual(["invalid_value", "tool_choice"]);
  });

  test("completions and embeddings", () => {
    expect(refusal("completions", { model: "m" })).toEqual(["missing_required_parameter", "prompt", "Missing required parameter: 'prompt'."]);
    expect(refusal("completions", { model: "m", prompt: {} }).slice(0, 2)).toEqual(["invalid_type", "prompt"]);
    expect(refusal("embeddings", { model: "m", input: "x", encoding_format: "int8" }).slice(0, 2)).toEqual(["invalid_value", "encoding_format"]);
    expect(refusal("embeddings", { model: "m", input: "x", stream: true })).toEqual(["invalid_value", "stream", "Embeddings cannot be streamed."]);
  });
});
