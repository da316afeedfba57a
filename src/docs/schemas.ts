/**
 * `components.schemas` of the OpenAPI document: the request bodies the gateway validates with
 * (reused from src/waf/schema.ts and src/admin/schema.ts), and the replies.
 *
 * Replies of the forwarded routes come from the upstream (translated to the OpenAI shape for
 * non-OpenAI providers), so their schemas are summaries of OpenAI's, open to extra fields.
 * Everything Warden answers itself (errors, models, keys, tenants, the ledger) is exact.
 *
 * @example
 * const doc = { components: { schemas: componentSchemas() } };
 */
import { ChatCompletionBody, CompletionBody, EmbeddingBody } from "../waf/schema";
import { CreateKeyBody, TenantBody, UpdateKeyBody } from "../admin/schema";
import { RECORD_VERSION } from "../audit/record";
import { openApiSchema, type JsonSchema } from "./json-schema";

const ref = (name: string): JsonSchema => ({ $ref: `#/components/schemas/${name}` });
const str = (description?: string): JsonSchema => (description ? { type: "string", description } : { type: "string" });
const int = (description?: string): JsonSchema => (description ? { type: "integer", description } : { type: "integer" });
const nullable = (schema: JsonSchema): JsonSchema => ({ anyOf: [schema, { type: "null" }] });
const obj = (properties: Record<string, JsonSchema>, required = Object.keys(properties), extra: JsonSchema = {}): JsonSchema => ({
  type: "object",
  properties,
  required,
  ...extra,
});
/** For replies Warden builds itself: a field added without documenting it fails the tests. */
const exact = (properties: Record<string, JsonSchema>, extra: JsonSchema = {}): JsonSchema => obj(properties, undefined, { additionalProperties: false, ...extra });
const list = (item: string): JsonSchema => exact({ object: { const: "list" }, data: { type: "array", items: ref(item) } });
const isoTime = (description: string): JsonSchema => nullable({ type: "string", format: "date-time", description });
const hex = (description: string): JsonSchema => ({ type: "string", pattern: "^[0-9a-f]{64}$", description });

/** Every `type` src/errors can put in an error body. */
export const ERROR_TYPES = [
  "invalid_request_error",
  "authentication_error",
  "permission_error",
  "not_found_error",
  "rate_limit_error",
  "requests",
  "tokens",
  "insufficient_quota",
  "upstream_error",
  "timeout_error",
  "server_error",
];

const errorBody = exact({
  error: exact({
    message: str("For people: what went wrong and what to do about it."),
    type: { type: "string", enum: ERROR_TYPES },
    param: nullable(str("The request field at fault, if any.")),
    code: nullable(str("Stable and machine-readable: branch on this, not on the message.")),
  }),
});

const usage = obj(
  { prompt_tokens: int(), completion_tokens: int(), total_tokens: int() },
  ["prompt_tokens", "total_tokens"],
  { additionalProperties: true },
);

const chatCompletion = obj(
  {
    id: str(),
    object: { const: "chat.completion" },
    created: int("Unix time, seconds."),
    model: str(),
    choices: {
      type: "array",
      items: obj(
        {
          index: int(),
          message: obj({ role: { const: "assistant" }, content: nullable(str()), tool_calls: { type: "array", items: { type: "object" } } }, ["role"], {
            additionalProperties: true,
          }),
          finish_reason: nullable(str("stop, length, tool_calls, content_filter...")),
        },
        ["index", "message"],
        { additionalProperties: true },
      ),
    },
    usage,
  },
  ["id", "object", "created", "model", "choices"],
  { additionalProperties: true, description: "The upstream's reply in OpenAI's shape (summary; extra fields pass through)." },
);

const completion = obj(
  {
    id: str(),
    object: { const: "text_completion" },
    created: int("Unix time, seconds."),
    model: str(),
    choices: {
      type: "array",
      items: obj({ index: int(), text: str(), finish_reason: nullable(str()) }, ["index", "text"], { additionalProperties: true }),
    },
    usage,
  },
  ["id", "object", "created", "model", "choices"],
  { additionalProperties: true, description: "The upstream's reply in OpenAI's shape (summary; extra fields pass through)." },
);

const embeddings = obj(
  {
    object: { const: "list" },
    data: {
      type: "array",
      items: obj({
        object: { const: "embedding" },
        index: int(),
        embedding: {
          anyOf: [{ type: "array", items: { type: "number" } }, { type: "string", contentEncoding: "base64", description: "little-endian float32s, with encoding_format base64" }],
        },
      }),
    },
    model: str(),
    usage,
  },
  ["object", "data", "model"],
  { additionalProperties: true },
);

const sse: JsonSchema = {
  type: "string",
  description:
    "Server-sent events, one JSON chunk per `data:` line (`chat.completion.chunk` or `text_completion` objects), ending with `data: [DONE]`. " +
    "A stream that fails after it started ends with a `data: {\"error\":{...}}` event in the error shape instead (codes `upstream_stream_interrupted`, `upstream_idle_timeout`, `upstream_timeout`, `audit_unavailable`). " +
    "Warden sends `: keep-alive` comment lines while the upstream is silent.",
  example: 'data: {"id":"chatcmpl-1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"Hi"}}]}\n\ndata: [DONE]\n\n',
};

/** POST /v1/messages speaks Anthropic's Messages API: request, reply, stream and error shapes. */
const ANTHROPIC_ERROR_TYPES = ["invalid_request_error", "authentication_error", "billing_error", "permission_error", "not_found_error", "request_too_large", "rate_limit_error", "api_error", "timeout_error", "overloaded_error"];
const anthropicError = obj(
  {
    type: { const: "error" },
    error: obj(
      {
        type: { type: "string", enum: ANTHROPIC_ERROR_TYPES },
        message: str("For people: what went wrong and what to do about it."),
        details: exact({ error_code: str("Warden's stable error code (the `code` of the OpenAI-shaped error): Anthropic's SDKs expose it as `errorCode`.") }),
      },
      ["type", "message"],
      { additionalProperties: false },
    ),
    request_id: str("This request's id, also in the `request-id` header and the ledger."),
  },
  ["type", "error", "request_id"],
  { additionalProperties: false },
);
const anthropicRequest: JsonSchema = {
  type: "object",
  description:
    "Anthropic's Messages request (anthropic-version 2023-06-01). Translated to OpenAI's chat format for the WAF, the token count and OpenAI-compatible or Gemini upstreams; " +
    "sent as it is to an Anthropic upstream. Content the translation has no form for (server tools, non-PDF documents, images inside tool results) is refused with 400.",
  properties: {
    model: str(),
    max_tokens: { type: "integer", minimum: 1 },
    messages: { type: "array", items: { type: "object" } },
    system: { anyOf: [str(), { type: "array", items: { type: "object" } }] },
    stream: { type: "boolean" },
    tools: { type: "array", items: { type: "object" } },
  },
  required: ["model", "max_tokens", "messages"],
  additionalProperties: true,
};
const anthropicMessage = obj(
  {
    id: str(),
    type: { const: "message" },
    role: { const: "assistant" },
    model: str(),
    content: { type: "array", items: obj({ type: str() }, ["type"], { additionalProperties: true }) },
    stop_reason: nullable(str()),
    usage: obj({ input_tokens: int(), output_tokens: int() }, ["input_tokens", "output_tokens"], { additionalProperties: true }),
  },
  ["id", "type", "role", "model", "content", "stop_reason", "usage"],
  { additionalProperties: true },
);
const anthropicSse: JsonSchema = {
  type: "string",
  description:
    "Anthropic's stream: `message_start`, per content block `content_block_start` / `content_block_delta` / `content_block_stop`, `message_delta` (stop reason, usage), `message_stop`. " +
    "A stream that fails after it started ends with an `event: error` in the error shape (error_code `upstream_stream_interrupted`, `upstream_idle_timeout`, `upstream_timeout`, `audit_unavailable`). " +
    "Warden sends `: keep-alive` comment lines while the upstream is silent.",
  example: 'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","content":[],"usage":{"input_tokens":0,"output_tokens":0}}}\n\nevent: message_stop\ndata: {"type":"message_stop"}\n\n',
};

const model = exact(
  { id: str("The model name clients send as `model`."), object: { const: "model" }, created: int("When this Warden process started, Unix seconds."), owned_by: str("The upstream that serves it.") },
  { example: { id: "gpt-4o-mini", object: "model", created: 1767225600, owned_by: "openai" } },
);

const wafPolicy: JsonSchema = {
  type: "object",
  additionalProperties: { type: "string", enum: ["block", "redact", "flag", "off"] },
  description: "rule → action, for rules `*`, a category (`injection`, `pii`, `secret`) or `<category>.<rule>`.",
};
const limit = (what: string) => nullable(int(`${what}; null for no limit.`));

const keyFields = {
  object: { const: "api_key" },
  id: str("The key's id (not its secret)."),
  tenant: str(),
  name: nullable(str()),
  redacted_key: str("`wdn-…` and the secret's last four characters."),
  status: { type: "string", enum: ["active", "disabled", "expired", "revoked"] },
  enabled: { type: "boolean" },
  models: nullable({ type: "array", items: str(), description: "The models this key may use; null for every model." }),
  rpm: limit("Requests per minute"),
  tpm: limit("Tokens per minute"),
  max_concurrent: limit("Requests in flight"),
  max_budget_usd: nullable({ type: "number" }),
  spent_usd: { type: "number", minimum: 0, description: "Lifetime spend at WARDEN_PRICES, in dollars (micro-dollar precision); written every WARDEN_SPEND_FLUSH_MS." },
  expires_at: isoTime("Null: never."),
  metadata: { type: "object", additionalProperties: { type: "string" } },
  waf_policy: nullable(wafPolicy),
  created_at: { type: "string", format: "date-time" },
  updated_at: { type: "string", format: "date-time" },
  revoked_at: isoTime("Null unless revoked."),
};
const key = exact(keyFields);
const keyWithSecret = exact({ ...keyFields, key: { type: "string", pattern: "^wdn-", description: "The secret. Shown this once: Warden keeps only its SHA-256." } });

const tenant = exact({
  object: { const: "tenant" },
  id: str(),
  rpm: limit("Requests per minute shared by the tenant's keys"),
  tpm: limit("Tokens per minute shared by the tenant's keys"),
  max_concurrent: limit("Requests in flight across the tenant's keys"),
  max_budget_usd: nullable({ type: "number" }),
  spent_usd: { type: "number", minimum: 0, description: "Lifetime spend of the tenant's keys together, in dollars." },
  waf_policy: nullable(wafPolicy),
  metadata: { type: "object", additionalProperties: { type: "string" } },
  created_at: { type: "string", format: "date-time" },
  updated_at: { type: "string", format: "date-time" },
});

const ready = exact({
  status: { type: "string", enum: ["ready", "not_ready"] },
  checks: exact({
    upstreams: { type: "boolean", description: "At least one upstream is configured." },
    core: { type: "boolean", description: "The Rust core library is loaded." },
    audit_worker: { type: "boolean", description: "The audit worker answers." },
  }),
  core_version: nullable(str()),
});

const auditRecord = exact(
  {
    v: { const: RECORD_VERSION, description: "The record format's version; older ledgers may also hold earlier versions." },
    seq: int("Position in the ledger, from 0."),
    time_ms: int(),
    request_id: str(),
    key_id: nullable(str()),
    tenant: nullable(str()),
    route: str(),
    model: nullable(str()),
    upstream: nullable(str()),
    status: int("The status the client got."),
    refusal: nullable(exact({ stage: str("guard, auth, waf, ratelimit, adapter, forwarder, upstream, audit"), code: str("The error code the client got.") })),
    usage: nullable(exact({ prompt_tokens: int(), completion_tokens: int() })),
    latency_us: exact({ total: int(), upstream_first_byte: nullable(int()) }),
    request_sha256: hex("SHA-256 of the request body as received (the body itself is never stored)."),
    response_sha256: hex("SHA-256 of the reply body as sent."),
    waf: {
      type: "array",
      description: "WAF findings; never the matched text, which may be the very secret found.",
      items: exact({ rule: str("Like `secret.aws_access_key`."), action: { type: "string", enum: ["block", "redact", "flag"] }, param: str("Where, like `messages[1].content`.") }),
    },
    rate_limit: nullable(
      exact({
        outcome: { type: "string", enum: ["allowed", "limited", "unenforced"], description: "unenforced: the shared store was down and the limiter failed open." },
        reason: nullable({ type: "string", enum: ["requests", "tokens", "concurrency", "unavailable"] }),
        subject: nullable(str("`key:<id>` or `tenant:<id>`, when limited.")),
      }),
    ),
    analysis: nullable(
      exact(
        {
          content_bytes: int(),
          entropy_mbits: int("Byte entropy of the reply's text, millibits per byte."),
          token_count: int(),
          token_entropy_mbits: int("Entropy of the reply's word tokens, millibits per token."),
          flags: { type: "array", items: { type: "string", enum: ["degenerate_repetition", "high_entropy_span"] } },
        },
        { description: "Analysis of the reply's text." },
      ),
    ),
  },
  {
    description:
      "One ledger leaf: canonical JSON (sorted keys, integers only). The reply body is exactly the leaf bytes, so SHA-256(0x00 ‖ body) is its RFC 9162 leaf hash.",
  },
);

const proof = (description: string) => ({ type: "array", items: hex("A node hash."), description });

/**
 * @example
 * componentSchemas().Error // { type: "object", properties: { error: ... } }
 */
export function componentSchemas(): Record<string, JsonSchema> {
  return {
    Error: errorBody,
    ChatCompletionRequest: { ...openApiSchema(ChatCompletionBody), description: "OpenAI's chat completion request. Unknown fields pass through to the upstream (vLLM's top_k, ...)." },
    CompletionRequest: { ...openApiSchema(CompletionBody), description: "OpenAI's legacy completion request. Unknown fields pass through." },
    EmbeddingRequest: { ...openApiSchema(EmbeddingBody), description: "OpenAI's embeddings request. `stream: true` is refused: embeddings cannot be streamed." },
    ChatCompletion: chatCompletion,
    Completion: completion,
    Embeddings: embeddings,
    EventStream: sse,
    AnthropicMessagesRequest: anthropicRequest,
    AnthropicMessage: anthropicMessage,
    AnthropicEventStream: anthropicSse,
    AnthropicError: anthropicError,
    Model: model,
    ModelList: list("Model"),
    Health: exact({ status: { const: "ok" } }),
    Ready: ready,
    AuditRecord: auditRecord,
    InclusionProof: exact({
      seq: int(),
      size: int("The tree size the proof is for."),
      leaf_hash: hex("SHA-256(0x00 ‖ leaf)."),
      proof: proof("RFC 9162 inclusion proof, leaf to root."),
    }),
    ConsistencyProof: exact({ from: int(), to: int(), proof: proof("RFC 9162 consistency proof between the two tree sizes.") }),
    CreateKeyRequest: openApiSchema(CreateKeyBody),
    UpdateKeyRequest: openApiSchema(UpdateKeyBody),
    TenantRequest: openApiSchema(TenantBody),
    ApiKey: key,
    ApiKeyWithSecret: keyWithSecret,
    ApiKeyList: list("ApiKey"),
    Tenant: tenant,
    TenantList: list("Tenant"),
  };
}
