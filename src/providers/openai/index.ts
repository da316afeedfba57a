/**
 * OpenAI-compatible upstreams (OpenAI, vLLM, SGLang, Ollama, LM Studio, ...): the request
 * already speaks their wire format, so the adapter only chooses the URL and the headers.
 *
 * Upstream requests are rebuilt from an allow-list: nothing the client sent reaches the upstream
 * unless named here. Hop-by-hop headers, Content-Length/Transfer-Encoding (Bun frames the body
 * we hand it) and the client's own credentials never pass.
 */
import type { Upstream } from "../../config";
import { rebuiltHeaders } from "../common/headers";

export type Endpoint = "chat/completions" | "completions" | "embeddings";

/** Client headers that mean something to an OpenAI-compatible upstream and leak nothing. */
const FORWARDED = ["accept", "openai-beta", "user-agent"] as const;

/** One model on one upstream: where its requests go, computed once at start (and on SIGHUP). */
export interface UpstreamTarget {
  upstream: Upstream;
  /** The model name the upstream knows (the client's, unless the upstream's MODELS renamed it). */
  model: string;
  /** Per-endpoint URLs and the fixed headers. */
  urls: Record<Endpoint, string>;
  baseHeaders: Record<string, string>;
}

export function prepare(upstream: Upstream, model: string): UpstreamTarget {
  const baseHeaders: Record<string, string> = { "content-type": "application/json" };
  if (upstream.key !== undefined) baseHeaders.authorization = `Bearer ${upstream.key}`;
  return {
    upstream,
    model,
    urls: {
      "chat/completions": `${upstream.url}/chat/completions`,
      completions: `${upstream.url}/completions`,
      embeddings: `${upstream.url}/embeddings`,
    },
    baseHeaders,
  };
}

/**
 * @example
 * const headers = upstreamHeaders(target, request.headers, "req_123");
 * // { "content-type": "application/json", authorization: "Bearer <upstream key>", "x-request-id": "req_123", ... }
 */
export function upstreamHeaders(target: UpstreamTarget, client: Headers, requestId: string): Record<string, string> {
  return rebuiltHeaders(target.baseHeaders, client, requestId, FORWARDED);
}
