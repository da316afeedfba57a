/**
 * Google Gemini upstreams (POST {base}/v1beta/models/{model}:generateContent, and
 * :streamGenerateContent?alt=sse for streams; key in `x-goog-api-key`): self-contained translation
 * from OpenAI's chat format and back.
 *
 * {@link toGeminiRequest} → POST {@link geminiUrl} with {@link geminiHeaders} → {@link fromGeminiResponse},
 * or for streams {@link createGeminiStreamTranslator} (fits `body.pipeThrough(translatorStream(t))`);
 * error replies through {@link geminiFailure}.
 */
import { rebuiltHeaders } from "../common/headers";

export { toGeminiRequest } from "./request";
export { fromGeminiResponse, finishReason, usageFromGemini } from "./response";
export { createGeminiStreamTranslator, type GeminiStreamOptions } from "./stream";
export { geminiFailure, streamErrorToOpenAI } from "./errors";
export { signatureOf, toolCallId } from "./tool-ids";
export type * from "./types";

/**
 * The generate URL for a model under an upstream base URL, which may name the API version
 * (`.../v1beta`, `.../v1`) or not (then v1beta: function declarations with JSON Schema,
 * responseJsonSchema and thought signatures are v1beta features).
 *
 * @example
 * geminiUrl("https://generativelanguage.googleapis.com", "gemini-2.5-flash", false);
 * // "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent"
 * geminiUrl("https://generativelanguage.googleapis.com/v1beta", "models/gemini-2.5-flash", true);
 * // "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
 */
export function geminiUrl(baseUrl: string, model: string, stream: boolean): string {
  let base = baseUrl.replace(/\/+$/, "");
  if (!/\/v1(alpha|beta)?$/.test(base)) base += "/v1beta";
  const name = model.startsWith("models/") ? model.slice(7) : model;
  return `${base}/models/${encodeURIComponent(name)}:${stream ? "streamGenerateContent?alt=sse" : "generateContent"}`;
}

/** Client headers worth passing on; the rest (credentials, hop-by-hop) stay behind. */
const FORWARDED = ["user-agent"] as const;

/**
 * Upstream headers, rebuilt from an allow-list like the OpenAI provider's. The key goes in a header,
 * never in the URL's `?key=`, so it stays out of URL logs.
 *
 * @example
 * geminiHeaders("AIza...", request.headers, "req_1");
 * // { "content-type": "application/json", "x-goog-api-key": "AIza...", "x-request-id": "req_1", ... }
 */
export function geminiHeaders(key: string | undefined, client?: Headers, requestId?: string): Record<string, string> {
  const fixed: Record<string, string> = { "content-type": "application/json" };
  if (key !== undefined) fixed["x-goog-api-key"] = key;
  return rebuiltHeaders(fixed, client, requestId, FORWARDED);
}
