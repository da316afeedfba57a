import { describe, expect, test } from "bun:test";
import { GatewayError } from "../../errors";
import { anthropicFailure, anthropicRefusal, openAIErrorToAnthropic, openAIStreamErrorType, streamErrorToOpenAI } from "./errors";

const body = (type: string, message = "m") => JSON.stringify({ type: "error", error: { type, message }, request_id: "req_1" });

describe("Anthropic errors → OpenAI", () => {
  test("status and type per Anthropic error type", () => {
    const table: [number, string, number, string, string][] = [
      [400, "invalid_request_error", 400, "invalid_request_error", "upstream_rejected"],
      [401, "authentication_error", 502, "upstream_error", "upstream_auth_failed"],
      [402, "billing_error", 502, "upstream_error", "upstream_billing"],
      [403, "permission_error", 502, "upstream_error", "upstream_auth_failed"],
      [404, "not_found_error", 404, "invalid_request_error", "upstream_not_found"],
      [413, "request_too_large", 413, "invalid_request_error", "request_too_large"],
      [429, "rate_limit_error", 429, "rate_limit_error", "rate_limit_exceeded"],
      [500, "api_error", 502, "upstream_error", "upstream_error"],
      [504, "timeout_error", 504, "timeout_error", "upstream_timeout"],
      [529, "overloaded_error", 503, "server_error", "upstream_overloaded"],
    ];
    for (const [status, type, wantStatus, wantType, wantCode] of table) {
      const e = anthropicFailure(status, body(type, `msg ${type}`), null, "claude");
      expect([e.status, e.type, e.code]).toEqual([wantStatus, wantType as never, wantCode]);
      expect(e.message).toContain(`msg ${type}`);
      expect(e.stage).toBe("upstream");
      const reply = JSON.parse(new TextDecoder().decode(e.body()));
      expect(reply).toEqual({ error: { message: e.message, type: wantType, param: null, code: wantCode } });
    }
  });

  test("Retry-After passes on 429 and 503 only; non-JSON bodies and unknown types go by status", () => {
    expect(anthropicFailure(529, body("overloaded_error"), "7", "c").headers).toEqual({ "retry-after": "7" });
    expect(anthropicFailure(429, body("rate_limit_error"), "3", "c").headers).toEqual({ "retry-after": "3" });
    expect(anthropicFailure(400, body("invalid_request_error"), "3", "c").headers).toBeUndefined();
    const html = anthropicFailure(529, "<html>busy</html>", null, "c");
    expect([html.status, html.code, html.message]).toEqual([503, "upstream_overloaded", "<html>busy</html>"]);
    expect(anthropicFailure(418, body("teapot_error"), null, "c").status).toBe(418);
    expect(anthropicFailure(503, "", null, "c").status).toBe(502);
  });

  test("stream error events", () => {
    expect(streamErrorToOpenAI({ type: "overloaded_error", message: "Overloaded" })).toEqual({ message: "Overloaded", type: "server_error", code: "upstream_overloaded" });
    expect(streamErrorToOpenAI({ type: "api_error", message: "x" }).code).toBe("upstream_error");
    expect(streamErrorToOpenAI(undefined).type).toBe("upstream_error");
  });
});

describe("OpenAI errors → Anthropic", () => {
  test("status picks the type; 503 is sent as 529 overloaded", () => {
    const table: [number, number, string][] = [
      [400, 400, "invalid_request_error"], [401, 401, "authentication_error"], [402, 402, "billing_error"], [403, 403, "permission_error"],
      [404, 404, "not_found_error"], [413, 413, "request_too_large"], [429, 429, "rate_limit_error"], [500, 500, "api_error"],
      [502, 502, "api_error"], [503, 529, "overloaded_error"], [504, 504, "timeout_error"], [422, 422, "invalid_request_error"],
    ];
    for (const [status, want, type] of table) {
      const r = openAIErrorToAnthropic(status, JSON.stringify({ error: { message: "why", type: "x", param: null, code: null } }));
      expect(r).toEqual({ status: want, body: { type: "error", error: { type, message: "why" } } });
    }
  });

  test("a spent budget (429 insufficient_quota) is 402 billing_error, which the SDKs do not retry", () => {
    const r = openAIErrorToAnthropic(429, JSON.stringify({ error: { message: "over budget", type: "insufficient_quota", param: null, code: "insufficient_quota" } }));
    expect(r).toEqual({ status: 402, body: { type: "error", error: { type: "billing_error", message: "over budget", details: { error_code: "insufficient_quota" } } } });
  });

  test("bytes, string errors, non-JSON, request id", () => {
    expect(openAIErrorToAnthropic(400, new TextEncoder().encode('{"error":"plain"}'), "req_9").body).toEqual({ type: "error", error: { type: "invalid_request_error", message: "plain" }, request_id: "req_9" });
    expect(openAIErrorToAnthropic(502, "Bad Gateway").body.error.message).toBe("Bad Gateway");
    expect(openAIErrorToAnthropic(500, "").body.error.message).toBe("HTTP 500");
  });

  test("the OpenAI error's code becomes details.error_code (the SDK's errorCode)", () => {
    const r = openAIErrorToAnthropic(403, JSON.stringify({ error: { message: "blocked", type: "permission_error", param: "messages[0].content", code: "content_policy_violation" } }), "req_2");
    expect(r).toEqual({ status: 403, body: { type: "error", error: { type: "permission_error", message: "blocked", details: { error_code: "content_policy_violation" } }, request_id: "req_2" } });
  });

  test("a gateway refusal in Anthropic's shape keeps its code, stage and headers", () => {
    const e = new GatewayError(503, "Upstream overloaded.", "server_error", "upstream_overloaded", null, { "retry-after": "3" }, "upstream");
    const a = anthropicRefusal(e, "req_3");
    expect(a).toBeInstanceOf(GatewayError);
    expect([a.status, a.code, a.stage, a.headers]).toEqual([529, "upstream_overloaded", "upstream", { "retry-after": "3", "request-id": "req_3" }]);
    expect(JSON.parse(new TextDecoder().decode(a.body()))).toEqual({ type: "error", error: { type: "overloaded_error", message: "Upstream overloaded.", details: { error_code: "upstream_overloaded" } }, request_id: "req_3" });
    expect(a.toResponse().status).toBe(529);
  });

  test("stream error types", () => {
    expect(openAIStreamErrorType({ type: "server_error", code: "upstream_overloaded" })).toBe("overloaded_error");
    expect(openAIStreamErrorType({ type: "tokens" })).toBe("rate_limit_error");
    expect(openAIStreamErrorType({ type: "upstream_error", code: "upstream_idle_timeout" })).toBe("timeout_error");
    expect(openAIStreamErrorType({ type: "upstream_error", code: "upstream_stream_interrupted" })).toBe("api_error");
  });
});
