/**
 * Gemini errors `{"error":{"code","message","status","details"}}` → the OpenAI-shaped failure the
 * client gets, by the gateway's policy for upstream failures:
 *
 * | Gemini status | client status | OpenAI type | code |
 * | :-- | :-- | :-- | :-- |
 * | 400 INVALID_ARGUMENT | 400 | invalid_request_error | upstream_rejected |
 * | 400 with reason API_KEY_INVALID, 401 UNAUTHENTICATED, 403 PERMISSION_DENIED | 502 | upstream_error | upstream_auth_failed (the gateway's key) |
 * | 400 FAILED_PRECONDITION (billing, region) | 502 | upstream_error | upstream_precondition_failed (the gateway's account) |
 * | 404 NOT_FOUND | 404 | invalid_request_error | upstream_not_found |
 * | 429 RESOURCE_EXHAUSTED | 429 | rate_limit_error | rate_limit_exceeded (Retry-After kept) |
 * | 500 INTERNAL | 502 | upstream_error | upstream_error |
 * | 503 UNAVAILABLE | 503 | server_error | upstream_overloaded (Retry-After kept) |
 * | 504 DEADLINE_EXCEEDED | 504 | timeout_error | upstream_timeout |
 * | other | same 4xx / 502 | invalid_request_error / upstream_error | upstream_rejected / upstream_error |
 */
import { GatewayError, type ErrorType } from "../../errors";
import type { GeminiErrorBody } from "./types";

interface Mapped { status: number; type: ErrorType; code: string }

function map(httpStatus: number, status: string | undefined, reason: string | undefined): Mapped {
  if (reason === "API_KEY_INVALID") return { status: 502, type: "upstream_error", code: "upstream_auth_failed" };
  switch (status) {
    case "INVALID_ARGUMENT":
      return { status: 400, type: "invalid_request_error", code: "upstream_rejected" };
    case "UNAUTHENTICATED":
    case "PERMISSION_DENIED":
      return { status: 502, type: "upstream_error", code: "upstream_auth_failed" };
    case "FAILED_PRECONDITION":
      return { status: 502, type: "upstream_error", code: "upstream_precondition_failed" };
    case "NOT_FOUND":
      return { status: 404, type: "invalid_request_error", code: "upstream_not_found" };
    case "RESOURCE_EXHAUSTED":
      return { status: 429, type: "rate_limit_error", code: "rate_limit_exceeded" };
    case "INTERNAL":
      return { status: 502, type: "upstream_error", code: "upstream_error" };
    case "UNAVAILABLE":
      return { status: 503, type: "server_error", code: "upstream_overloaded" };
    case "DEADLINE_EXCEEDED":
      return { status: 504, type: "timeout_error", code: "upstream_timeout" };
  }
  const byStatus: Record<number, string> = { 400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED" };
  if (byStatus[httpStatus] !== undefined) return map(httpStatus, byStatus[httpStatus], undefined);
  if (httpStatus >= 400 && httpStatus < 500) return { status: httpStatus, type: "invalid_request_error", code: "upstream_rejected" };
  return { status: 502, type: "upstream_error", code: "upstream_error" };
}

type GeminiError = Partial<GeminiErrorBody["error"]>;

function parse(body: string): GeminiError | undefined {
  try {
    const parsed = JSON.parse(body) as Partial<GeminiErrorBody> | Partial<GeminiErrorBody>[];
    // Without alt=sse, streamGenerateContent answers a JSON array; its errors can come wrapped in one.
    const e = Array.isArray(parsed) ? parsed[0]?.error : parsed?.error;
    return e && typeof e === "object" ? e : undefined;
  } catch {
    return undefined;
  }
}

const reasonOf = (e: GeminiError | undefined) => e?.details?.find((d) => typeof d?.reason === "string")?.reason;

/**
 * A Gemini error reply as the OpenAI-shaped failure the client gets (throw it, or `.toResponse()`).
 *
 * @example
 * if (!res.ok) throw geminiFailure(res.status, await res.text(), res.headers.get("retry-after"), "gemini");
 */
export function geminiFailure(httpStatus: number, body: string, retryAfter: string | null, upstreamName: string): GatewayError {
  const e = parse(body);
  const m = map(httpStatus, e?.status, reasonOf(e));
  const message = typeof e?.message === "string" ? e.message : body.slice(0, 500) || `HTTP ${httpStatus}`;
  const text = m.status === 502 ? `Upstream '${upstreamName}' failed (${httpStatus}${e?.status ? ` ${e.status}` : ""}): ${message}` : message;
  const headers = retryAfter !== null && (m.status === 429 || m.status === 503) ? { "retry-after": retryAfter } : undefined;
  return new GatewayError(m.status, text, m.type, m.code, null, headers, "upstream");
}

/**
 * An error object met inside a Gemini stream, as the OpenAI stream's final error event payload.
 *
 * @example
 * streamErrorToOpenAI({ code: 503, status: "UNAVAILABLE", message: "overloaded" });
 * // { message: "overloaded", type: "server_error", code: "upstream_overloaded" }
 */
export function streamErrorToOpenAI(e: GeminiError | undefined): { message: string; type: ErrorType; code: string } {
  const m = map(typeof e?.code === "number" ? e.code : 500, e?.status, reasonOf(e));
  return { message: typeof e?.message === "string" ? e.message : "The upstream reported an error mid-stream.", type: m.type, code: m.code };
}
