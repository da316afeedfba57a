/**
 * Provider dispatch: which wire format an upstream speaks (WARDEN_UPSTREAM_<NAME>_PROVIDER), which
 * one the client speaks (the route: /v1/chat/completions is OpenAI's, /v1/messages Anthropic's),
 * and what the forwarder must do between the two.
 *
 * The hot path stays untouched for the common case: an OpenAI client and an OpenAI-compatible
 * upstream need no plan at all ({@link needsPlan} is false) and the forwarder sends the client's
 * bytes as they are. Every other pair gets an {@link Exchange}: the upstream URL, headers and
 * body, and how the reply, the stream and an error reply are turned into the client's format.
 *
 * | client ↓ / upstream → | openai | anthropic | gemini |
 * | :-- | :-- | :-- | :-- |
 * | openai (chat) | pass-through (no plan) | OpenAI → Anthropic, reply back | OpenAI → Gemini, reply back |
 * | anthropic (/v1/messages) | OpenAI body (already translated for the WAF), reply → Anthropic | pass-through in Anthropic's format | OpenAI → Gemini, reply → OpenAI → Anthropic |
 *
 * Anthropic client to Anthropic upstream is a pass-through, not a round trip through OpenAI's
 * format: thinking blocks with their signatures, cache_control, top_k, documents and every other
 * field the OpenAI shape has no room for reach the upstream as the client sent them, and the reply
 * comes back byte for byte. The WAF still inspects the request in its OpenAI form (app.ts
 * translates it for that); if the WAF redacted something, the redacted OpenAI form is translated
 * back instead (./anthropic/request.ts), so the redaction is what the upstream sees.
 */
import type { Upstream } from "../config";
import { GatewayError } from "../errors";
import { prepare, upstreamHeaders, type Endpoint, type UpstreamTarget } from "./openai";
import { prepareAzure } from "./azure";
import {
  anthropicFailure,
  anthropicHeaders,
  anthropicMessagesUrl,
  createAnthropicStreamTranslator,
  createOpenAIToAnthropicStreamTranslator,
  fromAnthropicResponse,
  openAIStreamErrorType,
  toAnthropicRequest,
  toAnthropicResponse,
} from "./anthropic";
import { createGeminiStreamTranslator, fromGeminiResponse, geminiFailure, geminiHeaders, geminiUrl, toGeminiRequest } from "./gemini";
import type { OpenAIChatCompletion, OpenAIChatRequest } from "./common/openai-wire";
import { chainTranslators, type StreamTranslator } from "./common/transform";
import type { OutputParser } from "../parsers";

export type { Endpoint, UpstreamTarget } from "./openai";
export type { StreamTranslator } from "./common/transform";

/** The wire format a client speaks, chosen by the route it called. */
export type Dialect = "openai" | "anthropic";

/**
 * Anthropic requires `max_tokens`; an OpenAI client that sends neither limit gets this many.
 * 4096 is the smallest ceiling among current Claude models, so it is valid for every one of them.
 */
export const ANTHROPIC_DEFAULT_MAX_TOKENS = 4096;

/**
 * The part of one model on one upstream computed once at start (and on SIGHUP): URLs and
 * fixed headers. For Anthropic every endpoint maps to the Messages URL (only chat is ever sent
 * there, see {@link supports}); Gemini's URL depends on streaming and is built per request.
 *
 * @example
 * prepareTarget({ name: "claude", url: "https://api.anthropic.com", key: "sk-ant-…", models: ["claude-x"], renamed: {}, provider: "anthropic", weight: 1, apiVersion: undefined }, "claude-x").urls["chat/completions"];
 * // "https://api.anthropic.com/v1/messages"
 */
export function prepareTarget(upstream: Upstream, model: string): UpstreamTarget {
  const sent = upstream.renamed[model] ?? model;
  switch (upstream.provider) {
    case "anthropic": {
      const url = anthropicMessagesUrl(upstream.url);
      return { upstream, model: sent, urls: { "chat/completions": url, completions: url, embeddings: url }, baseHeaders: anthropicHeaders(upstream.key) };
    }
    case "gemini":
      return { upstream, model: sent, urls: { "chat/completions": upstream.url, completions: upstream.url, embeddings: upstream.url }, baseHeaders: geminiHeaders(upstream.key) };
    case "azure":
      return prepareAzure(upstream, sent);
    default:
      return prepare(upstream, sent);
  }
}

/**
 * Whether the upstream's provider serves an endpoint: OpenAI-compatible servers all three,
 * Anthropic and Gemini chat only (through translation).
 */
export function supports(upstream: Upstream, endpoint: Endpoint): boolean {
  return speaksOpenAI(upstream) || endpoint === "chat/completions";
}

/** OpenAI's wire format: any OpenAI-compatible server, and Azure at its deployment URLs. */
export function speaksOpenAI(upstream: Upstream): boolean {
  return upstream.provider === "openai" || upstream.provider === "azure";
}

/**
 * True unless client and upstream both speak OpenAI's format and the reply needs no parsing
 * (the forwarder's fast path).
 */
export function needsPlan(target: UpstreamTarget, dialect: Dialect, parsed = false): boolean {
  return dialect !== "openai" || !speaksOpenAI(target.upstream) || parsed;
}

/** What the forwarder knows of a request when it plans the exchange. */
export interface ExchangeCall {
  target: UpstreamTarget;
  endpoint: Endpoint;
  dialect: Dialect;
  /** The request in OpenAI's chat format, after the WAF (redactions applied): what translations start from. */
  json: Record<string, unknown>;
  /** The client's own bytes: what a pass-through sends when the WAF changed nothing. */
  body: Uint8Array;
  /** The WAF rewrote the request, so `body` must not be sent as it is. */
  redacted: boolean;
  stream: boolean;
  requestId: string;
  clientHeaders: Headers;
  /** An open model's output parser (WARDEN_MODEL_<ID>_PARSER), for OpenAI-compatible upstreams. */
  parser?: OutputParser;
}

/** One upstream exchange, planned: what to send, and how the answer reaches the client. */
export interface Exchange {
  url: string;
  headers: Record<string, string>;
  body: string | Uint8Array;
  /** The client's format: the shape of the forwarder's own stream error events, and the last event's. */
  dialect: Dialect;
  /** A whole upstream reply (JSON) → the client's reply; absent: passed on as it is. */
  reply?: (json: unknown) => unknown;
  /** A translator from the upstream's SSE to the client's; absent: passed on as it is. */
  stream?: () => StreamTranslator;
  /** An upstream error reply → the gateway's failure; absent: the forwarder's OpenAI mapping. */
  failure?: (status: number, body: string, retryAfter: string | null) => GatewayError;
}

/**
 * Plans the exchange for any pair but OpenAI → OpenAI. Request translation refuses what the
 * upstream cannot honour with a 400 naming the field (GatewayError, stage "adapter").
 *
 * @example
 * const x = planExchange({ target, endpoint: "chat/completions", dialect: "openai", json, body, redacted: false, stream: false, requestId, clientHeaders });
 * await fetch(x.url, { method: "POST", headers: x.headers, body: x.body });
 */
export function planExchange(c: ExchangeCall): Exchange {
  const { target, dialect, requestId } = c;
  const upstream = target.upstream;
  // The upstream's name for the model (an alias, a fallback, an Azure deployment): what it is sent
  // and what the reply names, as a pass-through reply names the model that actually answered.
  const model = target.model;
  const renamed = c.json.model !== model;
  const json = (renamed ? { ...c.json, model } : c.json) as unknown as OpenAIChatRequest;
  // Translated streams need usage from the upstream for the client's usage chunk (or message_delta).
  const includeUsage = json.stream_options?.include_usage === true;
  const chunkId = `chatcmpl-${requestId.slice(4)}`;
  const toClient = dialect === "anthropic" ? (completion: OpenAIChatCompletion) => toAnthropicResponse(completion, model) : undefined;
  const clientStream = dialect === "anthropic" ? () => createOpenAIToAnthropicStreamTranslator(model, `msg_${requestId.slice(4)}`) : undefined;

  switch (upstream.provider) {
    case "anthropic": {
      const headers = anthropicHeaders(upstream.key, c.clientHeaders, requestId);
      const failure = (status: number, body: string, retryAfter: string | null) => anthropicFailure(status, body, retryAfter, upstream.name);
      const url = target.urls["chat/completions"];
      if (dialect === "anthropic") {
        // Native: the client's own request and the upstream's own reply (see the module comment).
        const body = c.redacted
          ? JSON.stringify(toAnthropicRequest(json, { defaultMaxTokens: ANTHROPIC_DEFAULT_MAX_TOKENS }))
          : renamed
            ? JSON.stringify({ ...(JSON.parse(bodyDecoder.decode(c.body)) as object), model })
            : c.body;
        return { url, headers, body, dialect, failure };
      }
      return {
        url,
        headers,
        body: JSON.stringify(toAnthropicRequest(json, { defaultMaxTokens: ANTHROPIC_DEFAULT_MAX_TOKENS })),
        dialect,
        reply: (r) => fromAnthropicResponse(r as never, model),
        stream: () => createAnthropicStreamTranslator(model, chunkId, { includeUsage }),
        failure,
      };
    }
    case "gemini": {
      const fromGemini = (r: unknown) => fromGeminiResponse(r as never, model);
      const geminiStream = () => createGeminiStreamTranslator(model, chunkId, { includeUsage });
      return {
        url: geminiUrl(upstream.url, model, c.stream),
        headers: geminiHeaders(upstream.key, c.clientHeaders, requestId),
        body: JSON.stringify(toGeminiRequest(json)),
        dialect,
        reply: toClient === undefined ? fromGemini : (r) => toClient(fromGemini(r)),
        stream: clientStream === undefined ? geminiStream : () => chainTranslators(geminiStream(), clientStream()),
        failure: (status, body, retryAfter) => geminiFailure(status, body, retryAfter, upstream.name),
      };
    }
    default: {
      // An OpenAI-compatible upstream behind an Anthropic client (app.ts has already translated the
      // request: the WAF inspected that form) or behind an output parser; errors use the
      // forwarder's OpenAI mapping.
      const parser = c.parser;
      const parse = parser === undefined ? undefined : (r: unknown) => parser.completion(r as OpenAIChatCompletion);
      const parsing = parser === undefined ? undefined : () => parser.sse();
      return {
        url: target.urls[c.endpoint],
        headers: upstreamHeaders(target, c.clientHeaders, requestId),
        body: !renamed && !c.redacted && dialect === "openai" ? c.body : JSON.stringify(json),
        dialect,
        reply: toClient === undefined ? parse : parse === undefined ? (r) => toClient(r as OpenAIChatCompletion) : (r) => toClient(parse(r)),
        stream: clientStream === undefined ? parsing : parsing === undefined ? clientStream : () => chainTranslators(parsing(), clientStream()),
      };
    }
  }
}

const bodyDecoder = new TextDecoder();

const ANTHROPIC_STOP = '{"type":"message_stop"}';
const tailDecoder = new TextDecoder();

/**
 * True for the chunk that carries a stream's last event: `data: [DONE]` for OpenAI clients,
 * `message_stop` for Anthropic ones (what strict audit mode holds back until the record is durable).
 */
export function endsWithFinalEvent(dialect: Dialect, c: Uint8Array): boolean {
  const tail = tailDecoder.decode(c.subarray(Math.max(0, c.length - 32))).trimEnd();
  return dialect === "anthropic" ? tail.endsWith(ANTHROPIC_STOP) : tail.endsWith("data: [DONE]");
}

/**
 * The event that ends a stream the gateway had to cut, in the client's format: the OpenAI SDKs
 * throw on `data: {"error":...}`, Anthropic's on `event: error`.
 *
 * @example
 * streamErrorEvent("anthropic", "Upstream 'x' sent nothing for 300000 ms.", "upstream_idle_timeout");
 * // 'event: error\ndata: {"type":"error","error":{"type":"timeout_error","message":"…","details":{"error_code":"upstream_idle_timeout"}}}\n\n'
 */
export function streamErrorEvent(dialect: Dialect, message: string, code: string): string {
  if (dialect === "anthropic") {
    const type = openAIStreamErrorType({ type: "upstream_error", code });
    return `event: error\ndata: ${JSON.stringify({ type: "error", error: { type, message, details: { error_code: code } } })}\n\n`;
  }
  return `data: ${JSON.stringify({ error: { message, type: "upstream_error", param: null, code } })}\n\n`;
}
