/**
 * Errors between the Anthropic shape `{"type":"error","error":{"type","message"},"request_id"}` and
 * OpenAI's `{"error":{"message","type","param","code"}}`, in both directions.
 *
 * Anthropic → OpenAI client (the gateway's policy for upstream failures, as in the forwarder):
 *
 * | Anthropic status / type | client status | OpenAI type | code |
 * | :-- | :-- | :-- | :-- |
 * | 400 invalid_request_error | 400 | invalid_request_error | upstream_rejected |
 * | 401 authentication_error, 403 permission_error | 502 | upstream_error | upstream_auth_failed (the gateway's key, not the client's fault) |
 * | 402 billing_error | 502 | upstream_error | upstream_billing |
 * | 404 not_found_error | 404 | invalid_request_error | upstream_not_found |
 * | 413 request_too_large | 413 | invalid_request_error | request_too_large |
 * | 429 rate_limit_error | 429 | rate_limit_error | rate_limit_exceeded (Retry-After kept) |
 * | 500 api_error | 502 | upstream_error | upstream_error |
 * | 504 timeout_error | 504 | timeout_error | upstream_timeout |
 * | 529 overloaded_error | 503 | server_error | upstream_overloaded (Retry-After kept: clients retry a 503) |
 * | anything else 4xx / 5xx | same 4xx / 502 | invalid_request_error / upstream_error | upstream_rejected / upstream_error |
 *
 * OpenAI-shaped failure → Anthropic client (inbound /v1/messages): the status picks the type
 * (except a spent budget, 429 insufficient_quota, which becomes 402 billing_error so that the
 * SDKs do not retry it) —
 * 400 invalid_request_error, 401 authentication_error, 402 billing_error, 403 permission_error,
 * 404 not_found_error, 413 request_too_large, 429 rate_limit_error, 503 overloaded_error (sent as
 * 529, the status Anthropic's SDKs know as "overloaded"), 504 timeout_error, other 5xx api_error;
 * other 4xx invalid_request_error with their status. The OpenAI error's stable `code` (like
 * `content_policy_violation` or `upstream_overloaded`) goes in `error.details.error_code`, where
 * Anthropic's SDKs read it as `err.errorCode`.
 */
import { GatewayError, type ErrorType } from "../../errors";
import type { AnthropicErrorBody, AnthropicErrorType } from "./types";

interface Mapped { status: number; type: ErrorType; code: string }

function mapAnthropic(status: number, type: string | undefined): Mapped {
  switch (type) {
    case "overloaded_error":
      return { status: 503, type: "server_error", code: "upstream_overloaded" };
    case "rate_limit_error":
      return { status: 429, type: "rate_limit_error", code: "rate_limit_exceeded" };
    case "authentication_error":
    case "permission_error":
      return { status: 502, type: "upstream_error", code: "upstream_auth_failed" };
    case "billing_error":
      return { status: 502, type: "upstream_error", code: "upstream_billing" };
    case "not_found_error":
      return { status: 404, type: "invalid_request_error", code: "upstream_not_found" };
    case "request_too_large":
      return { status: 413, type: "invalid_request_error", code: "request_too_large" };
    case "timeout_error":
      return { status: 504, type: "timeout_error", code: "upstream_timeout" };
    case "api_error":
      return { status: 502, type: "upstream_error", code: "upstream_error" };
    case "invalid_request_error":
      return { status: status >= 400 && status < 500 ? status : 400, type: "invalid_request_error", code: "upstream_rejected" };
  }
  // No (known) type: go by status alone.
  if (status === 529) return mapAnthropic(status, "overloaded_error");
  if (status === 429) return mapAnthropic(status, "rate_limit_error");
  if (status === 401 || status === 403) return mapAnthropic(status, "authentication_error");
  if (status === 504) return mapAnthropic(status, "timeout_error");
  if (status >= 400 && status < 500) return { status, type: "invalid_request_error", code: "upstream_rejected" };
  return { status: 502, type: "upstream_error", code: "upstream_error" };
}

/** The upstream's error type and message, when its body is Anthropic-shaped. */
function parseAnthropicError(body: string): { type?: string; message?: string } {
  try {
    const parsed = JSON.parse(body) as Partial<AnthropicErrorBody>;
    const e = parsed?.error;
    if (e && typeof e === "object") return { type: typeof e.type === "string" ? e.type : undefined, message: typeof e.message === "string" ? e.message : undefined };
  } catch {
    // not JSON: fall through to the raw text
  }
  return { message: body.slice(0, 500) || undefined };
}

/**
 * An Anthropic error reply as the OpenAI-shaped failure the client gets (throw it, or `.toResponse()`).
 *
 * @example
 * if (!res.ok) throw anthropicFailure(res.status, await res.text(), res.headers.get("retry-after"), "claude");
 */
export function anthropicFailure(status: number, body: string, retryAfter: string | null, upstreamName: string): GatewayError {
  const { type, message } = parseAnthropicError(body);
  const m = mapAnthropic(status, type);
  // A 502 is the gateway's problem, not the client's: say which upstream and what it said.
  const text = m.status === 502 ? `Upstream '${upstreamName}' failed (${status}${type ? ` ${type}` : ""}): ${message ?? `HTTP ${status}`}` : (message ?? `HTTP ${status}`);
  const headers = retryAfter !== null && (m.status === 429 || m.status === 503) ? { "retry-after": retryAfter } : undefined;
  return new GatewayError(m.status, text, m.type, m.code, null, headers, "upstream");
}

/**
 * An Anthropic stream `error` event as the OpenAI stream's final error event payload.
 *
 * @example
 * streamErrorToOpenAI({ type: "overloaded_error", message: "Overloaded" });
 * // { message: "Overloaded", type: "server_error", code: "upstream_overloaded" }
 */
export function streamErrorToOpenAI(error: { type?: unknown; message?: unknown } | undefined): { message: string; type: ErrorType; code: string } {
  const type = typeof error?.type === "string" ? error.type : undefined;
  const m = mapAnthropic(500, type ?? "api_error");
  const message = typeof error?.message === "string" ? error.message : "The upstream reported an error mid-stream.";
  return { message, type: m.type, code: m.code };
}

function anthropicType(status: number): { status: number; type: AnthropicErrorType } {
  switch (status) {
    case 400: return { status, type: "invalid_request_error" };
    case 401: return { status, type: "authentication_error" };
    case 402: return { status, type: "billing_error" };
    case 403: return { status, type: "permission_error" };
    case 404: return { status, type: "not_found_error" };
    case 413: return { status, type: "request_too_large" };
    case 429: return { status, type: "rate_limit_error" };
    case 503:
    case 529: return { status: 529, type: "overloaded_error" };
    case 504: return { status, type: "timeout_error" };
  }
  return status >= 500 ? { status, type: "api_error" } : { status, type: "invalid_request_error" };
}

/**
 * An OpenAI-shaped error reply (from an OpenAI-compatible upstream, or one of the gateway's own
 * refusals) for an Anthropic client: the status to send and the body.
 *
 * @example
 * const { status, body } = openAIErrorToAnthropic(429, '{"error":{"message":"slow down","type":"rate_limit_error"}}');
 * // status 429, body { type: "error", error: { type: "rate_limit_error", message: "slow down" } }
 */
export function openAIErrorToAnthropic(status: number, body: string | Uint8Array, requestId?: string): { status: number; body: AnthropicErrorBody } {
  const text = typeof body === "string" ? body : new TextDecoder().decode(body);
  let message: string | undefined;
  let code: unknown;
  try {
    const parsed = JSON.parse(text) as { error?: { message?: unknown; code?: unknown } | string };
    message = typeof parsed.error === "string" ? parsed.error : typeof parsed.error?.message === "string" ? parsed.error.message : undefined;
    if (typeof parsed.error === "object") code = parsed.error?.code;
  } catch {
    message = text.slice(0, 500) || undefined;
  }
  // A spent budget is not a rate limit: Anthropic's SDKs retry a 429, never a 402 billing_error.
  const mapped = code === "insufficient_quota" ? { status: 402, type: "billing_error" as const } : anthropicType(status);
  const out: AnthropicErrorBody = { type: "error", error: { type: mapped.type, message: message ?? `HTTP ${status}` } };
  if (typeof code === "string" && code !== "") out.error.details = { error_code: code };
  if (requestId !== undefined) out.request_id = requestId;
  return { status: mapped.status, body: out };
}

/** The Anthropic type for an OpenAI error event met mid-stream (no status there: go by its type/code). */
export function openAIStreamErrorType(error: { type?: unknown; code?: unknown } | undefined): AnthropicErrorType {
  const type = typeof error?.type === "string" ? error.type : "";
  const code = typeof error?.code === "string" ? error.code : "";
  if (code === "upstream_overloaded" || type === "overloaded_error") return "overloaded_error";
  if (type === "rate_limit_error" || type === "requests" || type === "tokens") return "rate_limit_error";
  if (type === "timeout_error" || code.endsWith("timeout")) return "timeout_error";
  if (type === "invalid_request_error") return "invalid_request_error";
  return "api_error";
}

const encoder = new TextEncoder();

/** A refusal whose reply is already in Anthropic's shape; everything else (code, stage, headers) as the original's. */
class AnthropicShapedError extends GatewayError {
  constructor(private readonly wire: Uint8Array, status: number, from: GatewayError, requestId: string) {
    // `request-id` is where Anthropic's SDKs look for it (err.requestID).
    super(status, from.message, from.type, from.code, from.param, { ...from.headers, "request-id": requestId }, from.stage);
  }

  override body(): Uint8Array {
    return this.wire;
  }
}

/**
 * One of the gateway's refusals or upstream failures (OpenAI-shaped) as an Anthropic client on
 * POST /v1/messages gets it: the status and type by {@link openAIErrorToAnthropic}, the request id
 * in `request_id` and the `request-id` header as Anthropic's own errors carry it. The code, stage
 * and headers (Retry-After, x-warden-rule) stay, for the metrics, the ledger and the client.
 *
 * @example
 * const e = anthropicRefusal(new GatewayError(401, "Invalid API key.", "authentication_error", "invalid_api_key"), "req_1");
 * e.status; // 401
 * new TextDecoder().decode(e.body()); // {"type":"error","error":{"type":"authentication_error","message":"Invalid API key."},"request_id":"req_1"}
 */
export function anthropicRefusal(e: GatewayError, requestId: string): GatewayError {
  const { status, body } = openAIErrorToAnthropic(e.status, e.body(), requestId);
  return new AnthropicShapedError(encoder.encode(JSON.stringify(body)), status, e, requestId);
}
