/**
 * Token counting for rate limits and usage: prompt tokens of chat, completions and embeddings
 * requests (before forwarding), and completion text streamed without a usage block.
 *
 * Counts use the model family's tiktoken encoding (models.ts), OpenAI's chat formatting
 * convention (chat.ts), and per-tenant caches (tenant-cache.ts). They are exact for OpenAI
 * models' plain text; estimates where documented: images and other non-text parts, tool
 * schemas beyond the cookbook's shape, pathological runs longer than MAX_PIECE_CHARS, and
 * every non-OpenAI model (counted with cl100k_base).
 */

import { walkChatRequest } from "./chat.ts";
import { countTokens } from "./count.ts";
import { getEncoding, type EncodingName } from "./encodings.ts";
import { encodingFor } from "./models.ts";
import { walkCompletionsRequest, walkEmbeddingsRequest } from "./prompts.ts";
import { countRequest, type RequestWalker } from "./request-count.ts";
import type { RequestSink } from "./sink.ts";
import { tenantCounts } from "./tenant-cache.ts";

export { encodingFor } from "./models.ts";
export { preloadEncodings, isEncodingLoaded, ENCODING_NAMES, type EncodingName } from "./encodings.ts";
export { MAX_PIECE_CHARS } from "./count.ts";
export {
  configureTokenCaches,
  clearTokenCaches,
  tokenCacheStats,
  DEFAULT_LIMITS,
  type TokenCacheLimits,
  type TokenCacheStats,
} from "./tenant-cache.ts";

/** The endpoints whose prompts we count, as they appear after `/v1/`. */
export type PromptEndpoint = "chat/completions" | "completions" | "embeddings";

// One walker per encoding for chat: the tool-definition constants differ between encodings.
const chatWalkers = {
  o200k_base: (body: unknown, sink: RequestSink) => walkChatRequest(body, "o200k_base", sink),
  cl100k_base: (body: unknown, sink: RequestSink) => walkChatRequest(body, "cl100k_base", sink),
  p50k_base: (body: unknown, sink: RequestSink) => walkChatRequest(body, "p50k_base", sink),
} satisfies Record<EncodingName, RequestWalker>;

/**
 * Prompt tokens of a chat/completions body: messages (string or parts content, names, tool
 * calls), tool definitions and the reply priming. `cacheScope` is the tenant: cached counts
 * are never shared between scopes.
 *
 * @example
 * countChatPromptTokens("gpt-4o", { messages: [{ role: "user", content: "hello world" }] }, "tenant-a");
 * // 3 (message) + 1 ("user") + 2 ("hello world") + 3 (reply priming) = 9
 */
export function countChatPromptTokens(model: string, body: object, cacheScope: string): number {
  const name = encodingFor(model);
  return countRequest(getEncoding(name), chatWalkers[name], body, tenantCounts(cacheScope));
}

/**
 * Prompt tokens of a request to one of the counted endpoints.
 *
 * @example
 * countPromptTokens("embeddings", "text-embedding-3-small", { input: ["hello world", "hi"] }, "tenant-a"); // 3
 * countPromptTokens("completions", "gpt-3.5-turbo-instruct", { prompt: [1, 2, 3] }, "tenant-a");           // 3
 */
export function countPromptTokens(endpoint: PromptEndpoint, model: string, body: object, cacheScope: string): number {
  if (endpoint === "chat/completions") return countChatPromptTokens(model, body, cacheScope);
  const walk = endpoint === "completions" ? walkCompletionsRequest : walkEmbeddingsRequest;
  return countRequest(getEncoding(encodingFor(model)), walk, body, tenantCounts(cacheScope));
}

/**
 * Tokens of a plain text under the model's encoding, uncached: for completion text streamed
 * by an upstream that sends no usage block. Count the accumulated text once when the stream
 * ends: summing per-delta counts over-counts wherever a delta boundary splits a word.
 *
 * @example
 * countText("gpt-4", "hello world"); // 2
 */
export function countText(model: string, text: string): number {
  return countTokens(getEncoding(encodingFor(model)), text);
}
