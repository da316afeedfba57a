import { describe, expect, test } from "bun:test";
import { GatewayError } from "../../errors";
import type { OpenAIChatRequest } from "../common/openai-wire";
import { geminiHeaders, geminiUrl } from "./index";
import { toGeminiRequest } from "./request";
import { toolCallId } from "./tool-ids";

const req = (extra: Partial<OpenAIChatRequest>): OpenAIChatRequest => ({ model: "gemini-x", messages: [{ role: "user", content: "hi" }], ...extra });

function refusal(body: OpenAIChatRequest): GatewayError {
  try {
    toGeminiRequest(body);
  } catch (e) {
    if (e instanceof GatewayError) return e;
    throw e;
  }
  throw new Error("expected a refusal");
}

describe("toGeminiRequest", () => {
  test("system instruction and user/model turns, same-role runs merged", () => {
    const out = toGeminiRequest(req({
      messages: [
        { role: "system", content: "Be brief." },
        { role: "user", content: "one" },
        { role: "user", content: [{ type: "text", text: "two" }] },
        { role: "developer", content: "Be kind." },
        { role: "assistant", content: "three" },
        { role: "user", content: "four" },
      ],
    }));
    expect(out).toEqual({
      systemInstruction: { parts: [{ text: "Be brief." }, { text: "Be kind." }] },
      contents: [
        { role: "user", parts: [{ text: "one" }, { text: "two" }] },
        { role: "model", parts: [{ text: "three" }] },
        { role: "user", parts: [{ text: "four" }] },
      ],
    });
  });

  test("images, PDFs and audio become inlineData; http image URLs are refused", () => {
    const out = toGeminiRequest(req({
      messages: [{
        role: "user",
        content: [
          { type: "image_url", image_url: { url: "data:image/webp;base64,UklG" } },
          { type: "file", file: { file_data: "data:application/pdf;base64,JVBE" } },
          { type: "input_audio", input_audio: { data: "UklGRg==", format: "wav" } },
        ],
      }],
    }));
    expect(out.contents[0].parts).toEqual([
      { inlineData: { mimeType: "image/webp", data: "UklG" } },
      { inlineData: { mimeType: "application/pdf", data: "JVBE" } },
      { inlineData: { mimeType: "audio/wav", data: "UklGRg==" } },
    ]);
    const http = refusal(req({ messages: [{ role: "user", content: [{ type: "image_url", image_url: { url: "https://x/y.png" } }] }] }));
    expect([http.code, http.param]).toEqual(["unsupported_parameter", "messages[0].content[0].image_url.url"]);
    expect(refusal(req({ messages: [{ role: "user", content: [{ type: "file", file: { file_id: "f" } }] }] })).param).toBe("messages[0].content[0].file.file_id");
  });

  test("tools, function calls (with thought signatures) and function responses", () => {
    const signed = toolCallId("c2lnbmF0dXJl");
    const out = toGeminiRequest(req({
      messages: [
        { role: "user", content: "weather in Paris and Rome?" },
        {
          role: "assistant",
          content: null,
          tool_calls: [
            { id: signed, type: "function", function: { name: "weather", arguments: '{"city":"Paris"}' } },
            { id: "call_plain", type: "function", function: { name: "weather", arguments: '{"city":"Rome"}' } },
          ],
        },
        { role: "tool", tool_call_id: signed, content: '{"sky":"clear"}' },
        { role: "tool", tool_call_id: "call_plain", content: "rainy" },
      ],
      tools: [
        { type: "function", function: { name: "weather", description: "d", parameters: { type: "object", properties: { city: { type: "string" } }, additionalProperties: false } } },
        { type: "function", function: { name: "clock" } },
      ],
      tool_choice: { type: "function", function: { name: "weather" } },
      parallel_tool_calls: false,
    }));
    expect(out.contents.slice(1)).toEqual([
      {
        role: "model",
        parts: [
          { functionCall: { name: "weather", args: { city: "Paris" } }, thoughtSignature: "c2lnbmF0dXJl" },
          { functionCall: { name: "weather", args: { city: "Rome" } } },
        ],
      },
      {
        role: "user",
        parts: [
          { functionResponse: { name: "weather", response: { sky: "clear" } } },
          { functionResponse: { name: "weather", response: { output: "rainy" } } },
        ],
      },
    ]);
    expect(out.tools).toEqual([{ functionDeclarations: [
      { name: "weather", description: "d", parametersJsonSchema: { type: "object", properties: { city: { type: "string" } }, additionalProperties: false } },
      { name: "clock" },
    ] }]);
    expect(out.toolConfig).toEqual({ functionCallingConfig: { mode: "ANY", allowedFunctionNames: ["weather"] } });
  });

  test("a tool result must answer an earlier call", () => {
    expect(refusal(req({ messages: [{ role: "tool", tool_call_id: "nope", content: "x" }] })).param).toBe("messages[0].tool_call_id");
  });

  test("tool_choice auto / none / required; none without tools sends nothing", () => {
    const tools = [{ type: "function" as const, function: { name: "f" } }];
    expect(toGeminiRequest(req({ tools, tool_choice: "auto" })).toolConfig).toEqual({ functionCallingConfig: { mode: "AUTO" } });
    expect(toGeminiRequest(req({ tools, tool_choice: "none" })).toolConfig).toEqual({ functionCallingConfig: { mode: "NONE" } });
    expect(toGeminiRequest(req({ tools, tool_choice: "required" })).toolConfig).toEqual({ functionCallingConfig: { mode: "ANY" } });
    expect(toGeminiRequest(req({ tool_choice: "none" }))).not.toHaveProperty("toolConfig");
    expect(refusal(req({ tools, tool_choice: { type: "allowed_tools" } })).param).toBe("tool_choice");
    expect(refusal(req({ tools: [{ type: "custom" } as never] })).param).toBe("tools[0].type");
  });

  test("generationConfig from sampling fields, n, stop, response_format", () => {
    const schema = { type: "object", properties: { a: { type: "number" } } };
    const out = toGeminiRequest(req({
      temperature: 1.4, top_p: 0.9, top_k: 20, seed: 7, presence_penalty: 0.5, frequency_penalty: 0,
      max_completion_tokens: 99, max_tokens: 5, n: 3, stop: ["x", ""], user: "u", parallel_tool_calls: true,
      response_format: { type: "json_schema", json_schema: { name: "s", schema } },
    }));
    expect(out.generationConfig).toEqual({
      temperature: 1.4, topP: 0.9, topK: 20, seed: 7, presencePenalty: 0.5, maxOutputTokens: 99, candidateCount: 3,
      stopSequences: ["x"], responseMimeType: "application/json", responseJsonSchema: schema,
    });
    expect(toGeminiRequest(req({ response_format: { type: "json_object" }, stop: "END" })).generationConfig).toEqual({ responseMimeType: "application/json", stopSequences: ["END"] });
    expect(toGeminiRequest(req({ n: 1 }))).not.toHaveProperty("generationConfig");
    expect(refusal(req({ max_tokens: -1 })).param).toBe("max_tokens");
  });

  test("features with no Gemini translation are refused by name", () => {
    const cases: [Partial<OpenAIChatRequest>, string][] = [
      [{ logprobs: true }, "logprobs"], [{ top_logprobs: 2 }, "top_logprobs"], [{ logit_bias: { "1": 1 } }, "logit_bias"],
      [{ audio: {} }, "audio"], [{ modalities: ["audio"] }, "modalities"], [{ functions: [] }, "functions"],
      [{ function_call: "none" }, "function_call"], [{ web_search_options: {} }, "web_search_options"],
    ];
    for (const [extra, param] of cases) {
      const e = refusal(req(extra));
      expect([e.status, e.code, e.param]).toEqual([400, "unsupported_parameter", param]);
    }
  });
});

describe("geminiUrl and geminiHeaders", () => {
  test("URLs with and without an API version in the base", () => {
    expect(geminiUrl("https://g.example", "gemini-2.5-flash", false)).toBe("https://g.example/v1beta/models/gemini-2.5-flash:generateContent");
    expect(geminiUrl("https://g.example/v1beta/", "models/gemini-2.5-flash", true)).toBe("https://g.example/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse");
    expect(geminiUrl("https://g.example/v1", "m", false)).toBe("https://g.example/v1/models/m:generateContent");
  });

  test("the key goes in x-goog-api-key; only allow-listed client headers pass", () => {
    const h = geminiHeaders("AIza-test", new Headers({ "user-agent": "ua", authorization: "Bearer client", cookie: "c" }), "req-1");
    expect(h).toEqual({ "content-type": "application/json", "x-goog-api-key": "AIza-test", "x-request-id": "req-1", "user-agent": "ua" });
  });
});
