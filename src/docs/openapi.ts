/**
 * The OpenAPI 3.1 document of everything Warden serves, served at GET /openapi.json.
 *
 * Written out here rather than collected from route annotations: the forwarded routes run
 * outside Elysia in production (Bun's router, see src/app.ts), and each error status needs its
 * stable codes spelt out. Drift is caught by src/docs/index.test.ts,
 * which compares these paths with the routes the app really serves.
 *
 * The document is static: no configured model, upstream, key or tenant appears in it, which is
 * why it can be public (see src/docs/index.ts).
 *
 * @example
 * const doc = openApiDocument("0.1.0");
 * Object.keys(doc.paths); // ["/v1/chat/completions", "/v1/completions", ...]
 */
import { componentSchemas } from "./schemas";
import type { JsonSchema } from "./json-schema";

type Operation = JsonSchema;
type Responses = Record<string, JsonSchema>;

const ref = (name: string): JsonSchema => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: JsonSchema, example?: unknown) => ({ "application/json": example === undefined ? { schema } : { schema, example } });
const codes = (list: string[]) => list.map((c) => `\`${c}\``).join(", ");

/** A reply in the OpenAI error shape, with the codes this route can answer with. */
function error(description: string, headers?: Record<string, JsonSchema>): JsonSchema {
  return { description, ...(headers ? { headers } : {}), content: json(ref("Error")) };
}

const header = (description: string, schema: JsonSchema = { type: "string" }) => ({ description, schema });
const REQUEST_ID = header("This request's id (`req_` + 32 hex digits), also in its ledger record.");
const RETRY_AFTER = header("Seconds to wait before trying again.", { type: "integer" });
const RATE_LIMIT_HEADERS = {
  "x-ratelimit-limit-requests": header("The key's or tenant's requests-per-minute limit (the most constraining).", { type: "integer" }),
  "x-ratelimit-remaining-requests": header("Requests left in the current window.", { type: "integer" }),
  "x-ratelimit-reset-requests": header("When the request budget is full again, like `1s` or `6m0s`."),
  "x-ratelimit-limit-tokens": header("The tokens-per-minute limit, when one applies.", { type: "integer" }),
  "x-ratelimit-remaining-tokens": header("Tokens left.", { type: "integer" }),
  "x-ratelimit-reset-tokens": header("When the token budget is full again."),
};

const GUARD_400 = ["invalid_host", "ambiguous_host", "invalid_header", "invalid_path", "invalid_transfer_encoding", "invalid_content_length", "malformed_body"];
const UNAUTHORIZED = error(`No usable API key: ${codes(["missing_api_key", "invalid_api_key", "expired_api_key"])}.`);
const HEADERS_TOO_LARGE = error(`${codes(["headers_too_large"])}: the request headers exceed WARDEN_MAX_HEADER_BYTES.`);
const AUTH_UNAVAILABLE = error(`${codes(["auth_unavailable"])}: the key database cannot be read; Warden fails closed.`);
const INTERNAL = error(`${codes(["internal_error"])}: details are in Warden's log, never in the reply.`);

/** What every authenticated route outside the admin API may answer besides its own replies. */
const AUTHENTICATED: Responses = {
  "400": error(`The request is malformed: ${codes(GUARD_400)}.`),
  "401": UNAUTHORIZED,
  "431": HEADERS_TOO_LARGE,
  "500": INTERNAL,
  "503": AUTH_UNAVAILABLE,
};

/**
 * What Swagger UI shows and "Try it out" sends: one plain request and its reply, instead of an
 * example built from every branch of the schema (all six message roles...).
 */
const EXAMPLES = {
  ChatCompletionRequest: { model: "gpt-4o-mini", messages: [{ role: "user", content: "Say hello." }] },
  ChatCompletion: {
    id: "chatcmpl-abc123",
    object: "chat.completion",
    created: 1767225600,
    model: "gpt-4o-mini",
    choices: [{ index: 0, message: { role: "assistant", content: "Hello!" }, finish_reason: "stop" }],
    usage: { prompt_tokens: 10, completion_tokens: 2, total_tokens: 12 },
  },
  CompletionRequest: { model: "gpt-3.5-turbo-instruct", prompt: "Say hello.", max_tokens: 16 },
  Completion: {
    id: "cmpl-abc123",
    object: "text_completion",
    created: 1767225600,
    model: "gpt-3.5-turbo-instruct",
    choices: [{ index: 0, text: "Hello!", finish_reason: "stop" }],
    usage: { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 },
  },
  EmbeddingRequest: { model: "text-embedding-3-small", input: "Hello" },
  Embeddings: {
    object: "list",
    data: [{ object: "embedding", index: 0, embedding: [0.0023, -0.0093, 0.0151] }],
    model: "text-embedding-3-small",
    usage: { prompt_tokens: 1, total_tokens: 1 },
  },
} as const;
type Example = keyof typeof EXAMPLES;

/** The forwarded routes: the whole hot path can refuse, and the upstream can fail. */
function forwardedResponses(ok: Example, streams: boolean): Responses {
  return {
    "200": {
      description: streams ? "The upstream's reply: JSON, or with `stream: true` an SSE stream." : "The upstream's reply.",
      // The x-ratelimit-* headers come only when a limit applies to the key or its tenant.
      headers: {
        "x-request-id": REQUEST_ID,
        ...RATE_LIMIT_HEADERS,
        "x-warden-attempts": header("Present when the reply took more than one upstream attempt (retries and fallbacks are invisible otherwise): how many.", { type: "integer" }),
      },
      content: { ...json(ref(ok), EXAMPLES[ok]), ...(streams ? { "text/event-stream": { schema: ref("EventStream") } } : {}) },
    },
    "400": error(
      `The request is malformed: ${codes(["invalid_json", "invalid_body", "invalid_value", "missing_required_parameter", "unknown_parameter"])} ` +
        `(\`param\` names the field), or refused by the guard: ${codes(GUARD_400)}. ` +
        "The upstream's own 4xx refusals are passed on with their status and code `upstream_rejected`. " +
        `For an Anthropic or Gemini model: ${codes(["unsupported_parameter"])}, a field that provider cannot honour (\`param\` names it), and ${codes(["unsupported_endpoint"])} on /v1/completions and /v1/embeddings.`,
    ),
    "401": UNAUTHORIZED,
    "403": error(
      `${codes(["model_not_allowed"])}: this key may not use \`model\`; ${codes(["content_policy_violation"])}: a WAF rule blocked the request (\`param\` says where); ` +
        `or ${codes(["model_not_priced"])}: the key or its tenant has a budget and \`model\` has no price (WARDEN_PRICES).`,
      { "x-warden-rule": header("The id of the WAF rule that blocked the request, like `secret.aws_access_key`.") },
    ),
    "404": error(`${codes(["model_not_found"])}: no upstream serves \`model\` (GET /v1/models lists them).`),
    "413": error(`${codes(["request_too_large"])}: the body exceeds WARDEN_MAX_BODY_BYTES.`),
    "429": error(
      `${codes(["rate_limit_exceeded"])}: over the key's or tenant's rpm/tpm (or the upstream's own limit), wait \`Retry-After\`; ` +
        `${codes(["request_exceeds_limit"])}: can never pass (prompt larger than tpm, or a limit of 0), no \`Retry-After\`; ` +
        `${codes(["concurrency_limit_exceeded"])}: too many requests in flight. \`type\` is \`requests\` or \`tokens\` like OpenAI's. ` +
        `${codes(["insufficient_quota"])} (type \`insufficient_quota\`, no \`Retry-After\`): the key's or tenant's budget (max_budget_usd) cannot cover the request's worst-case cost.`,
      { "retry-after": RETRY_AFTER, ...RATE_LIMIT_HEADERS },
    ),
    "431": HEADERS_TOO_LARGE,
    "500": INTERNAL,
    "502": error(
      `The upstream failed: ${codes(["upstream_error", "upstream_unavailable", "upstream_interrupted", "upstream_bad_reply", "upstream_auth_failed"])} ` +
        "(the last: the upstream refused Warden's own credentials, WARDEN_UPSTREAM_<NAME>_KEY). " +
        "Each is the last attempt's error, after the retries and fallbacks the model's routing allows.",
    ),
    "503": error(
      `${codes(["upstream_overloaded"])}: an Anthropic or Gemini upstream is overloaded (529 / 503), retry after \`Retry-After\`; ` +
        `${codes(["auth_unavailable"])}; ${codes(["rate_limiter_unavailable"])} and ${codes(["budget_unavailable"])} (Redis down with WARDEN_REDIS_FAILURE=closed); ` +
        `${codes(["audit_unavailable"])}: strict audit mode could not make the record durable, so the reply was not delivered; ` +
        `${codes(["no_healthy_upstream"])}: every upstream of the model (and of its fallbacks) is cooling down after failures, retry after \`Retry-After\`.`,
      { "retry-after": RETRY_AFTER },
    ),
    "504": error(
      `${codes(["upstream_timeout"])}: the upstream did not answer (or finish) within Warden's deadlines, or timed out itself; ` +
        `${codes(["upstream_connect_timeout"])}: no connection to the upstream could be opened within WARDEN_CONNECT_TIMEOUT_MS.`,
    ),
  };
}

function forwarded(summary: string, request: Example, reply: Example, streams: boolean, description: string): Operation {
  return {
    tags: ["inference"],
    summary,
    description,
    operationId: request.replace(/Request$/, "").replace(/^./, (c) => `create${c}`),
    requestBody: { required: true, content: json(ref(request), EXAMPLES[request]) },
    responses: forwardedResponses(reply, streams),
  };
}

const STAGES =
  "Runs the hot path in order — guard, auth, WAF, rate limit, adapter (model → upstream), forwarder — and writes one ledger record whatever the outcome.";

/** A reply in Anthropic's error shape (POST /v1/messages). */
const anthropicError = (description: string, headers?: Record<string, JsonSchema>): JsonSchema => ({ description, ...(headers ? { headers } : {}), content: json(ref("AnthropicError")) });
const ANTHROPIC_REQUEST_ID = header("This request's id, where Anthropic's SDKs read it (`x-request-id` carries it too).");

/** POST /v1/messages: the same stages, codes and statuses as chat completions, in Anthropic's shapes. */
function countTokensOperation(): Operation {
  const see = "`error.details.error_code` holds the code.";
  return {
    tags: ["inference"],
    summary: "Count tokens (Anthropic's API)",
    description:
      "The prompt's size in tokens, for Anthropic clients: the Messages request without `max_tokens`. A model with an Anthropic upstream is counted by that upstream (its `anthropic-beta` flags passed on); any other model by Warden, with the tokenizer of its family that the rate limiter uses. Nothing is generated, audited or charged.",
    operationId: "countMessageTokens",
    requestBody: {
      required: true,
      content: json({ type: "object", required: ["model", "messages"], additionalProperties: true, properties: { model: { type: "string" }, messages: { type: "array" }, system: {}, tools: { type: "array" } } }, {
        model: "claude-sonnet-4-5",
        messages: [{ role: "user", content: "Say hello." }],
      }),
    },
    responses: {
      "200": {
        description: "The count.",
        headers: { "request-id": ANTHROPIC_REQUEST_ID },
        content: json({ type: "object", required: ["input_tokens"], properties: { input_tokens: { type: "integer", minimum: 0 } } }, { input_tokens: 12 }),
      },
      "400": anthropicError(`invalid_request_error: a malformed request. ${see}`),
      "401": anthropicError(`authentication_error: no usable API key. ${see}`),
      "403": anthropicError(`permission_error: the key may not use \`model\`. ${see}`),
      "404": anthropicError(`not_found_error: no upstream serves \`model\`. ${see}`),
      "413": anthropicError(`request_too_large: the body exceeds WARDEN_MAX_BODY_BYTES. ${see}`),
      "500": INTERNAL,
      "502": anthropicError(`api_error: the Anthropic upstream failed or could not be reached. ${see}`),
    },
  };
}

function messagesOperation(): Operation {
  const see = "`error.details.error_code` holds the code, as listed for POST /v1/chat/completions.";
  return {
    tags: ["inference"],
    summary: "Messages (Anthropic's API)",
    description:
      "For Anthropic clients (base URL: Warden's, without /v1), in front of any configured upstream: OpenAI-compatible and Gemini upstreams get it translated, Anthropic upstreams as sent. " +
      `Keys as \`x-api-key\` or \`Authorization: Bearer\`. ${STAGES} Errors come in Anthropic's shape; the status and type follow Anthropic's (503 overloaded is sent as 529).`,
    operationId: "createMessage",
    requestBody: {
      required: true,
      content: json(ref("AnthropicMessagesRequest"), { model: "claude-sonnet-4-5", max_tokens: 256, messages: [{ role: "user", content: "Say hello." }] }),
    },
    responses: {
      "200": {
        description: "The reply: JSON, or with `stream: true` an SSE stream.",
        headers: { "x-request-id": REQUEST_ID, "request-id": ANTHROPIC_REQUEST_ID, ...RATE_LIMIT_HEADERS },
        content: {
          ...json(ref("AnthropicMessage"), {
            id: "msg_abc123",
            type: "message",
            role: "assistant",
            model: "claude-sonnet-4-5",
            content: [{ type: "text", text: "Hello!" }],
            stop_reason: "end_turn",
            stop_sequence: null,
            usage: { input_tokens: 10, output_tokens: 2 },
          }),
          "text/event-stream": { schema: ref("AnthropicEventStream") },
        },
      },
      "400": anthropicError(`invalid_request_error: a malformed request (\`max_tokens\` missing, content with no translation), or the upstream's refusal. ${see}`),
      "401": anthropicError(`authentication_error: no usable API key. ${see}`),
      "402": anthropicError(`billing_error: the key's or tenant's budget cannot cover the request (error_code insufficient_quota). ${see}`),
      "403": anthropicError(`permission_error: the key may not use \`model\`, or a WAF rule blocked the request. ${see}`, {
        "x-warden-rule": header("The id of the WAF rule that blocked the request."),
      }),
      "404": anthropicError(`not_found_error: no upstream serves \`model\`. ${see}`),
      "413": anthropicError(`request_too_large: the body exceeds WARDEN_MAX_BODY_BYTES. ${see}`),
      "429": anthropicError(`rate_limit_error: over a rate limit. ${see}`, { "retry-after": RETRY_AFTER, ...RATE_LIMIT_HEADERS }),
      "431": anthropicError(`invalid_request_error: the request headers exceed WARDEN_MAX_HEADER_BYTES. ${see}`),
      "500": INTERNAL,
      "502": anthropicError(`api_error: the upstream failed or could not be reached. ${see}`),
      "504": anthropicError(`timeout_error: the upstream did not answer in time. ${see}`),
      "529": anthropicError(`overloaded_error: the upstream is overloaded, or a Warden dependency is unavailable (auth, rate limiter, strict audit). ${see}`, { "retry-after": RETRY_AFTER }),
    },
  };
}

const LEDGER_ERRORS: Responses = {
  ...AUTHENTICATED,
  "404": error(`${codes(["not_found"])} (type \`not_found_error\`): no such record, tree size or checkpoint yet.`),
  "503": error(`${codes(["ledger_unavailable"])}: the audit worker is not running; or ${codes(["auth_unavailable"])}.`),
};

const wholeNumber = (name: string, description: string) => ({ name, in: "query", required: true, description, schema: { type: "integer", minimum: 0 } });

const ADMIN_AUTH = "Master key only (WARDEN_MASTER_KEY), sent like any key.";
const ADMIN_ERRORS: Responses = {
  "401": UNAUTHORIZED,
  "403": error(`${codes(["admin_key_required"])}: a valid key, but not the master key.`),
  "404": error(`${codes(["admin_disabled"])}: WARDEN_MASTER_KEY is not set, so the admin API does not exist.`),
  "431": HEADERS_TOO_LARGE,
  "500": INTERNAL,
  "503": AUTH_UNAVAILABLE,
};
const ADMIN_BODY_ERRORS: Responses = {
  "400": error(
    `${codes(["invalid_body", "invalid_value", "missing_required_parameter", "unknown_parameter"])}: \`param\` names the field. Unknown fields are refused, not ignored.`,
  ),
};
const idParam = (what: string) => ({ name: "id", in: "path", required: true, description: `The ${what}'s id.`, schema: { type: "string" } });
const notFound = (code: string, what: string) => ({ "404": error(`${codes([code])}: no ${what} with that id; or ${codes(["admin_disabled"])}.`) });
const ok = (description: string, schema: string, status = "200", headers?: Record<string, JsonSchema>) => ({
  [status]: { description, ...(headers ? { headers } : {}), content: json(ref(schema)) },
});
const NO_STORE = { "cache-control": header("`no-store`: the reply holds a secret.") };

function admin(tags: string, summary: string, operationId: string, responses: Responses, extra: JsonSchema = {}): Operation {
  return { tags: [tags], summary, description: ADMIN_AUTH, operationId, ...extra, responses: { ...ADMIN_ERRORS, ...responses } };
}

/** Paths, in the order README.md lists them. */
function paths(): Record<string, Record<string, Operation>> {
  return {
    "/v1/chat/completions": {
      post: forwarded("Chat completion", "ChatCompletionRequest", "ChatCompletion", true, `OpenAI-compatible; forwarded to the upstream that serves \`model\`. ${STAGES}`),
    },
    "/v1/completions": {
      post: forwarded("Completion (legacy)", "CompletionRequest", "Completion", true, `OpenAI-compatible; forwarded to the upstream that serves \`model\`. ${STAGES}`),
    },
    "/v1/embeddings": {
      post: forwarded("Embeddings", "EmbeddingRequest", "Embeddings", false, `OpenAI-compatible; never streamed. ${STAGES}`),
    },
    "/v1/messages": { post: messagesOperation() },
    "/v1/messages/count_tokens": { post: countTokensOperation() },
    "/v1/models": {
      get: {
        tags: ["models"],
        summary: "List models",
        description: "The configured models this key may use.",
        operationId: "listModels",
        responses: { ...ok("The models.", "ModelList"), ...AUTHENTICATED },
      },
    },
    "/v1/models/{id}": {
      get: {
        tags: ["models"],
        summary: "Get a model",
        operationId: "getModel",
        parameters: [{ name: "id", in: "path", required: true, description: "A model name; it may contain slashes (`meta-llama/Llama-3.1-8B`), raw or as %2F.", schema: { type: "string" } }],
        responses: { ...ok("The model.", "Model"), ...AUTHENTICATED, "404": error(`${codes(["model_not_found"])}: not configured, or not allowed for this key.`) },
      },
    },
    "/health": {
      get: {
        tags: ["operations"],
        summary: "Liveness",
        description: "200 while the process serves HTTP. No key needed.",
        operationId: "health",
        security: [],
        responses: ok("Alive.", "Health"),
      },
    },
    "/ready": {
      get: {
        tags: ["operations"],
        summary: "Readiness",
        description: "200 when upstreams are configured, the Rust core is loaded and the audit worker answers; 503 otherwise. No key needed.",
        operationId: "ready",
        security: [],
        responses: { ...ok("Ready.", "Ready"), "503": { description: "Not ready: `checks` says what is missing.", content: json(ref("Ready")) } },
      },
    },
    "/metrics": {
      get: {
        tags: ["operations"],
        summary: "Prometheus metrics",
        description:
          "Prometheus text exposition (format 0.0.4). When WARDEN_METRICS_TOKEN is set a scrape needs `Authorization: Bearer <token>` (the master key works too); " +
          "without it the endpoint is open to whoever reaches the port. The metrics hold no keys, prompts or request ids, but they do show traffic and tenant names.",
        operationId: "metrics",
        // {} = no credential: the token is only asked for when the operator set one.
        security: [{ metricsToken: [] }, {}],
        responses: {
          "200": { description: "The metrics.", content: { "text/plain; version=0.0.4; charset=utf-8": { schema: { type: "string" } } } },
          "401": error(`${codes(["invalid_metrics_token"])}: WARDEN_METRICS_TOKEN is set and the request did not carry it (or the master key).`, {
            "www-authenticate": header('`Bearer realm="warden-metrics"`'),
          }),
        },
      },
    },
    "/v1/audit/checkpoint": {
      get: {
        tags: ["ledger"],
        summary: "Latest signed checkpoint",
        description:
          "A C2SP `tlog-checkpoint` (origin, tree size, base64 root hash) in a C2SP `signed-note` signed with Ed25519; verify it with `golang.org/x/mod/sumdb/note` and the key `warden version` prints.",
        operationId: "getCheckpoint",
        responses: { "200": { description: "The signed note.", content: { "text/plain; charset=utf-8": { schema: { type: "string" } } } }, ...LEDGER_ERRORS },
      },
    },
    "/v1/audit/records/{seq}": {
      get: {
        tags: ["ledger"],
        summary: "One ledger record",
        description: "A tenant's key sees only its tenant's records; the master key sees all.",
        operationId: "getRecord",
        parameters: [{ name: "seq", in: "path", required: true, schema: { type: "integer", minimum: 0 } }],
        responses: {
          ...ok("The record, exactly the leaf bytes.", "AuditRecord"),
          ...LEDGER_ERRORS,
          "400": error(`${codes(["invalid_value"])}: \`seq\` is not a whole number; or a guard refusal.`),
          "403": error(`${codes(["record_not_visible"])}: the record belongs to another tenant.`),
        },
      },
    },
    "/v1/audit/proof/inclusion": {
      get: {
        tags: ["ledger"],
        summary: "RFC 9162 inclusion proof",
        description: "Proves record `seq` is in the tree of `size` records. Same visibility as the record.",
        operationId: "getInclusionProof",
        parameters: [wholeNumber("seq", "The record."), wholeNumber("size", "The tree size, from a checkpoint.")],
        responses: {
          ...ok("The proof.", "InclusionProof"),
          ...LEDGER_ERRORS,
          "400": error(`${codes(["invalid_value"])}: \`param\` names the query parameter.`),
          "403": error(`${codes(["record_not_visible"])}: the record belongs to another tenant.`),
        },
      },
    },
    "/v1/audit/proof/consistency": {
      get: {
        tags: ["ledger"],
        summary: "RFC 9162 consistency proof",
        description: "Proves the tree of `to` records extends the tree of `from` records. Open to every authenticated caller: it reveals no record.",
        operationId: "getConsistencyProof",
        parameters: [wholeNumber("from", "The older tree size."), wholeNumber("to", "The newer tree size.")],
        responses: { ...ok("The proof.", "ConsistencyProof"), ...LEDGER_ERRORS, "400": error(`${codes(["invalid_value"])}: \`param\` names the query parameter.`) },
      },
    },
    "/admin/keys": {
      post: admin("admin", "Create a key", "createKey", { ...ok("The key, with its secret.", "ApiKeyWithSecret", "201", NO_STORE), ...ADMIN_BODY_ERRORS }, {
        requestBody: { required: true, content: json(ref("CreateKeyRequest")) },
      }),
      get: admin("admin", "List keys", "listKeys", { ...ok("The keys (never their secrets).", "ApiKeyList"), ...ADMIN_BODY_ERRORS }, {
        parameters: [{ name: "tenant", in: "query", required: false, description: "Only this tenant's keys.", schema: { type: "string" } }],
      }),
    },
    "/admin/keys/{id}": {
      get: admin("admin", "Get a key", "getKey", { ...ok("The key.", "ApiKey"), ...notFound("key_not_found", "key") }, { parameters: [idParam("key")] }),
      patch: admin("admin", "Change a key", "updateKey", { ...ok("The key as changed.", "ApiKey"), ...ADMIN_BODY_ERRORS, ...notFound("key_not_found", "key") }, {
        description: `${ADMIN_AUTH} Only the fields sent change; the tenant is fixed when the key is made.`,
        parameters: [idParam("key")],
        requestBody: { required: true, content: json(ref("UpdateKeyRequest")) },
      }),
    },
    "/admin/keys/{id}/revoke": {
      post: admin("admin", "Revoke a key", "revokeKey", { ...ok("The revoked key; it stops working at once.", "ApiKey"), ...notFound("key_not_found", "key") }, {
        parameters: [idParam("key")],
      }),
    },
    "/admin/keys/{id}/rotate": {
      post: admin(
        "admin",
        "Rotate a key",
        "rotateKey",
        {
          ...ok("The key with its new secret; the old secret stops working.", "ApiKeyWithSecret", "200", NO_STORE),
          ...notFound("key_not_found", "key"),
          "409": error(`${codes(["key_revoked"])}: a revoked key cannot be rotated; create a new one.`),
        },
        { parameters: [idParam("key")] },
      ),
    },
    "/admin/tenants": {
      get: admin("admin", "List tenants", "listTenants", ok("The tenants.", "TenantList")),
    },
    "/admin/tenants/{id}": {
      put: admin("admin", "Create or replace a tenant", "putTenant", { ...ok("The tenant.", "Tenant"), ...ADMIN_BODY_ERRORS }, {
        description: `${ADMIN_AUTH} Tenant limits are shared by all of its keys; fields left out are reset.`,
        parameters: [idParam("tenant")],
        requestBody: { required: true, content: json(ref("TenantRequest")) },
      }),
      get: admin("admin", "Get a tenant", "getTenant", { ...ok("The tenant.", "Tenant"), ...notFound("tenant_not_found", "tenant") }, { parameters: [idParam("tenant")] }),
    },
    "/dashboard": {
      get: {
        tags: ["dashboard"],
        summary: "The operator's dashboard",
        description:
          "One HTML page (its script and stylesheet beside it, under /dashboard/). The page holds no data: what it shows comes from /metrics and /v1/audit, called with the admin key typed into it.",
        operationId: "dashboardPage",
        security: [],
        responses: { "200": { description: "The page.", content: { "text/html": { schema: { type: "string" } } } } },
      },
    },
    "/dashboard/session": {
      get: {
        tags: ["dashboard"],
        summary: "Check the dashboard's sign-in key",
        description: "204 for the master key. The dashboard calls it at sign-in: /metrics may be open and the ledger takes tenants' keys, so neither can tell.",
        operationId: "dashboardSession",
        responses: {
          "204": { description: "The master key.", headers: { "cache-control": header("`no-store`.") } },
          "401": UNAUTHORIZED,
          "403": error(`${codes(["admin_key_required"])}: a valid key, but not the master key.`),
          "404": error(`${codes(["admin_disabled"])}: WARDEN_MASTER_KEY is not set.`),
          "503": AUTH_UNAVAILABLE,
        },
      },
    },
    "/openapi.json": {
      get: {
        tags: ["docs"],
        summary: "This document",
        operationId: "openApiDocument",
        security: [],
        responses: { "200": { description: "OpenAPI 3.1.", content: json({ type: "object" }) } },
      },
    },
    "/docs": {
      get: {
        tags: ["docs"],
        summary: "Swagger UI for this document",
        description: "Served by the binary itself, assets included: no CDN, works offline.",
        operationId: "apiDocsPage",
        security: [],
        responses: { "200": { description: "The page.", content: { "text/html": { schema: { type: "string" } } } } },
      },
    },
  };
}

/**
 * @param version Warden's version, for `info.version`.
 */
export function openApiDocument(version: string) {
  return {
    openapi: "3.1.0",
    info: {
      title: "Warden",
      version,
      summary: "OpenAI-compatible LLM governance gateway",
      description:
        "Point an OpenAI SDK at Warden's `/v1` and use a Warden key. Every refusal comes in OpenAI's error shape with a stable `code`.\n\n" +
        "Keys go in `Authorization: Bearer <key>` or `x-api-key: <key>` (Authorization wins when both are sent). " +
        "Without WARDEN_MASTER_KEY, client auth and the admin API are off (development only).\n\n" +
        "Every forwarded request, served or refused, becomes a record in an append-only ledger with RFC 9162 proofs and signed C2SP checkpoints (tag `ledger`).",
      license: { name: "Apache-2.0", identifier: "Apache-2.0" },
    },
    // No `servers`: clients resolve paths against wherever they fetched this document, which is
    // right behind a reverse proxy too.
    tags: [
      { name: "inference", description: "OpenAI-compatible, forwarded to the upstreams." },
      { name: "models", description: "The configured models." },
      { name: "ledger", description: "The audit ledger: records, proofs, checkpoints." },
      { name: "admin", description: "Virtual keys and tenants. Master key only." },
      { name: "operations", description: "Health, readiness, metrics." },
      { name: "dashboard", description: "The operator's dashboard." },
      { name: "docs", description: "This documentation." },
    ],
    security: [{ bearer: [] }, { apiKey: [] }],
    paths: paths(),
    components: {
      securitySchemes: {
        bearer: { type: "http", scheme: "bearer", description: "A Warden key (`wdn-…`) or, for /admin, the master key." },
        apiKey: { type: "apiKey", in: "header", name: "x-api-key", description: "The same keys, for clients that send `x-api-key`." },
        metricsToken: { type: "http", scheme: "bearer", description: "WARDEN_METRICS_TOKEN, for /metrics only." },
      },
      schemas: componentSchemas(),
    },
  };
}

export type OpenApiDocument = ReturnType<typeof openApiDocument>;
