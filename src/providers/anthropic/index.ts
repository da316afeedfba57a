/**
 * Anthropic Messages upstreams (POST {base}/v1/messages, `x-api-key`, `anthropic-version: 2023-06-01`):
 * self-contained translation between OpenAI's chat format and Anthropic's, in both directions.
 *
 * Outbound (an OpenAI client, an Anthropic upstream):
 *   {@link toAnthropicRequest} → POST {@link anthropicMessagesUrl} with {@link anthropicHeaders} →
 *   {@link fromAnthropicResponse}, or for streams {@link createAnthropicStreamTranslator};
 *   error replies through {@link anthropicFailure}.
 * Inbound (an Anthropic client on Warden's POST /v1/messages, an OpenAI-compatible upstream):
 *   {@link fromAnthropicRequest} → upstream → {@link toAnthropicResponse}, or for streams
 *   {@link createOpenAIToAnthropicStreamTranslator}; errors through {@link openAIErrorToAnthropic}.
 *   Its token counting, POST /v1/messages/count_tokens, goes to an Anthropic upstream as it is
 *   ({@link countTokensUpstream}).
 *
 * Every stream translator also fits a web stream: `body.pipeThrough(translatorStream(t))`.
 */
import { GatewayError } from "../../errors";
import { rebuiltHeaders } from "../common/headers";
import type { UpstreamTarget } from "../openai";
import { anthropicFailure } from "./errors";
import { ANTHROPIC_VERSION } from "./types";

export { toAnthropicRequest, type AnthropicRequestOptions } from "./request";
export { fromAnthropicResponse, finishReason, usageFromAnthropic } from "./response";
export { createAnthropicStreamTranslator, type AnthropicStreamOptions } from "./stream";
export { fromAnthropicRequest } from "./inbound-request";
export { toAnthropicResponse, stopReason, usageToAnthropic } from "./inbound-response";
export { createOpenAIToAnthropicStreamTranslator } from "./inbound-stream";
export { anthropicFailure, anthropicRefusal, openAIErrorToAnthropic, openAIStreamErrorType, streamErrorToOpenAI } from "./errors";
export { createSseParser, type SseCommentHandler, type SseHandler, type SseParser } from "../common/sse";
export { translatorStream, type StreamTranslator } from "../common/transform";
export { ANTHROPIC_VERSION } from "./types";
export type * from "./types";

/**
 * The messages endpoint under an upstream base URL. Both spellings work: with `/v1` (the convention
 * of WARDEN_UPSTREAM_<NAME>_URL for OpenAI upstreams) and without (the Anthropic SDK's base URL).
 *
 * @example
 * anthropicMessagesUrl("https://api.anthropic.com");    // "https://api.anthropic.com/v1/messages"
 * anthropicMessagesUrl("https://api.anthropic.com/v1"); // "https://api.anthropic.com/v1/messages"
 */
export function anthropicMessagesUrl(baseUrl: string): string {
  const base = baseUrl.replace(/\/+$/, "");
  return base.endsWith("/v1") ? `${base}/messages` : `${base}/v1/messages`;
}

/**
 * Client headers worth passing on: Anthropic's beta flags (extended context, interleaved thinking,
 * ...), which an Anthropic SDK client sends for features its request uses; the rest
 * (credentials, hop-by-hop, OpenAI's betas) stay behind.
 */
const FORWARDED = ["user-agent", "anthropic-beta"] as const;

/**
 * Upstream headers, rebuilt from an allow-list like the OpenAI provider's.
 *
 * @example
 * anthropicHeaders("sk-ant-...", request.headers, "req_1");
 * // { "content-type": "application/json", "x-api-key": "sk-ant-...", "anthropic-version": "2023-06-01", "x-request-id": "req_1", ... }
 */
export function anthropicHeaders(key: string | undefined, client?: Headers, requestId?: string): Record<string, string> {
  const fixed: Record<string, string> = { "content-type": "application/json", "anthropic-version": ANTHROPIC_VERSION };
  if (key !== undefined) fixed["x-api-key"] = key;
  return rebuiltHeaders(fixed, client, requestId, FORWARDED);
}

/**
 * POST /v1/messages/count_tokens at an Anthropic upstream, for an Anthropic client's request
 * (the Messages request without max_tokens), under the upstream's name for the model. The
 * upstream's error replies become the same failures as for /v1/messages.
 *
 * @example
 * const { input_tokens } = await countTokensUpstream(target, { model: "claude-x", messages }, request.headers, "req_1", signal);
 */
export async function countTokensUpstream(target: UpstreamTarget, body: Record<string, unknown>, client: Headers, requestId: string, signal: AbortSignal): Promise<{ input_tokens: number }> {
  const res = await fetch(`${anthropicMessagesUrl(target.upstream.url)}/count_tokens`, {
    method: "POST",
    headers: anthropicHeaders(target.upstream.key, client, requestId),
    body: JSON.stringify({ ...body, model: target.model }),
    signal,
    redirect: "manual",
  }).catch(() => {
    throw new GatewayError(502, `Could not reach upstream '${target.upstream.name}'.`, "upstream_error", "upstream_unavailable", null, undefined, "forwarder");
  });
  const text = await res.text().catch(() => "");
  if (!res.ok) throw anthropicFailure(res.status, text, res.headers.get("retry-after"), target.upstream.name);
  const count = (JSON.parse(text) as { input_tokens?: unknown }).input_tokens;
  if (typeof count !== "number") throw new GatewayError(502, `Upstream '${target.upstream.name}' sent a token count that is not a number.`, "upstream_error", "upstream_bad_reply", null, undefined, "upstream");
  return { input_tokens: count };
}
