import { describe, expect, test } from "bun:test";
import { geminiFailure, streamErrorToOpenAI } from "./errors";
import { finishReason, fromGeminiResponse } from "./response";
import { signatureOf } from "./tool-ids";
import type { GeminiResponse } from "./types";

describe("fromGeminiResponse", () => {
  test("text, id, usage", () => {
    const c = fromGeminiResponse({
      candidates: [{ index: 0, content: { role: "model", parts: [{ text: "Hello" }, { text: ", world" }] }, finishReason: "STOP" }],
      usageMetadata: { promptTokenCount: 8, candidatesTokenCount: 3, totalTokenCount: 11 },
      responseId: "abc",
      modelVersion: "gemini-real",
    }, "alias");
    expect(c).toMatchObject({ id: "chatcmpl-abc", object: "chat.completion", model: "alias" });
    expect(c.choices).toEqual([{ index: 0, message: { role: "assistant", content: "Hello, world", refusal: null }, logprobs: null, finish_reason: "stop" }]);
    expect(c.usage).toEqual({ prompt_tokens: 8, completion_tokens: 3, total_tokens: 11 });
  });

  test("several candidates become choices in index order", () => {
    const c = fromGeminiResponse({
      candidates: [
        { index: 1, content: { parts: [{ text: "b" }] }, finishReason: "MAX_TOKENS" },
        { index: 0, content: { parts: [{ text: "a" }] }, finishReason: "STOP" },
      ],
    }, "m");
    expect(c.choices.map((x) => [x.index, x.message.content, x.finish_reason])).toEqual([[0, "a", "stop"], [1, "b", "length"]]);
  });

  test("function calls become tool_calls (finish tool_calls), keeping the thought signature in the id", () => {
    const c = fromGeminiResponse({
      candidates: [{
        content: { parts: [
          { functionCall: { name: "weather", args: { city: "Paris" } }, thoughtSignature: "c2ln" },
          { functionCall: { name: "clock" } },
        ] },
        finishReason: "STOP",
      }],
    }, "m");
    const msg = c.choices[0].message;
    expect(msg.content).toBeNull();
    expect(msg.tool_calls!.map((t) => [t.type, t.function.name, t.function.arguments])).toEqual([["function", "weather", '{"city":"Paris"}'], ["function", "clock", "{}"]]);
    expect(signatureOf(msg.tool_calls![0].id)).toBe("c2ln");
    expect(signatureOf(msg.tool_calls![1].id)).toBeUndefined();
    expect(new Set(msg.tool_calls!.map((t) => t.id)).size).toBe(2);
    expect(c.choices[0].finish_reason).toBe("tool_calls");
  });

  test("thought parts become reasoning_content; thoughts count as completion and reasoning tokens", () => {
    const c = fromGeminiResponse({
      candidates: [{ content: { parts: [{ text: "Plan: ", thought: true }, { text: "answer" }] }, finishReason: "STOP" }],
      usageMetadata: { promptTokenCount: 10, candidatesTokenCount: 4, thoughtsTokenCount: 6, cachedContentTokenCount: 2, totalTokenCount: 20 },
    }, "m");
    expect(c.choices[0].message).toEqual({ role: "assistant", content: "answer", refusal: null, reasoning_content: "Plan: " });
    expect(c.usage).toEqual({ prompt_tokens: 10, completion_tokens: 10, total_tokens: 20, prompt_tokens_details: { cached_tokens: 2 }, completion_tokens_details: { reasoning_tokens: 6 } });
  });

  test("finish reasons", () => {
    const table: [string | undefined, boolean, string][] = [
      ["STOP", false, "stop"], ["STOP", true, "tool_calls"], [undefined, false, "stop"], ["MAX_TOKENS", true, "length"],
      ["SAFETY", false, "content_filter"], ["RECITATION", false, "content_filter"], ["BLOCKLIST", false, "content_filter"],
      ["PROHIBITED_CONTENT", false, "content_filter"], ["SPII", false, "content_filter"], ["IMAGE_SAFETY", false, "content_filter"],
      ["LANGUAGE", false, "content_filter"], ["MALFORMED_FUNCTION_CALL", false, "stop"], ["OTHER", false, "stop"], ["SOMETHING_NEW", false, "stop"],
    ];
    for (const [gemini, tools, openai] of table) expect(finishReason(gemini, tools)).toBe(openai as never);
  });

  test("a blocked prompt is one empty choice filtered as content_filter", () => {
    const r: GeminiResponse = { promptFeedback: { blockReason: "SAFETY" }, usageMetadata: { promptTokenCount: 5, totalTokenCount: 5 } };
    const c = fromGeminiResponse(r, "m");
    expect(c.choices).toEqual([{ index: 0, message: { role: "assistant", content: null, refusal: null }, logprobs: null, finish_reason: "content_filter" }]);
    expect(c.usage).toEqual({ prompt_tokens: 5, completion_tokens: 0, total_tokens: 5 });
  });
});

const gErr = (code: number, status: string, message = "m", reason?: string) =>
  JSON.stringify({ error: { code, message, status, details: reason ? [{ "@type": "type.googleapis.com/google.rpc.ErrorInfo", reason, domain: "googleapis.com" }] : undefined } });

describe("geminiFailure", () => {
  test("status per Gemini error status", () => {
    const table: [number, string, string | undefined, number, string, string][] = [
      [400, "INVALID_ARGUMENT", undefined, 400, "invalid_request_error", "upstream_rejected"],
      [400, "INVALID_ARGUMENT", "API_KEY_INVALID", 502, "upstream_error", "upstream_auth_failed"],
      [400, "FAILED_PRECONDITION", undefined, 502, "upstream_error", "upstream_precondition_failed"],
      [403, "PERMISSION_DENIED", undefined, 502, "upstream_error", "upstream_auth_failed"],
      [404, "NOT_FOUND", undefined, 404, "invalid_request_error", "upstream_not_found"],
      [429, "RESOURCE_EXHAUSTED", undefined, 429, "rate_limit_error", "rate_limit_exceeded"],
      [500, "INTERNAL", undefined, 502, "upstream_error", "upstream_error"],
      [503, "UNAVAILABLE", undefined, 503, "server_error", "upstream_overloaded"],
      [504, "DEADLINE_EXCEEDED", undefined, 504, "timeout_error", "upstream_timeout"],
    ];
    for (const [code, status, reason, want, type, errCode] of table) {
      const e = geminiFailure(code, gErr(code, status, `msg ${status}`, reason), "2", "gem");
      expect([e.status, e.type, e.code]).toEqual([want, type as never, errCode]);
      expect(e.message).toContain(`msg ${status}`);
      expect(e.headers).toEqual(want === 429 || want === 503 ? { "retry-after": "2" } : undefined);
    }
  });

  test("bodies that are arrays, not JSON, or unknown statuses", () => {
    expect(geminiFailure(503, `[${gErr(503, "UNAVAILABLE")}]`, null, "g").code).toBe("upstream_overloaded");
    expect(geminiFailure(503, "<html>", null, "g").code).toBe("upstream_overloaded");
    expect(geminiFailure(409, "{}", null, "g").status).toBe(409);
    expect(geminiFailure(502, "bad gateway", null, "g").message).toContain("bad gateway");
  });

  test("stream errors", () => {
    expect(streamErrorToOpenAI({ code: 503, status: "UNAVAILABLE", message: "busy" })).toEqual({ message: "busy", type: "server_error", code: "upstream_overloaded" });
    expect(streamErrorToOpenAI(undefined).code).toBe("upstream_error");
  });
});
