// Mock Anthropic Messages API for the provider adapters' tests and benchmarks.
// Speaks the public wire format (anthropic-version 2023-06-01): POST /v1/messages, plain and
// streamed (the documented event order: message_start, content blocks with ping, message_delta,
// message_stop), POST /v1/messages/count_tokens, GET /v1/models, and Anthropic's error shape {"type":"error","error":{...}}.
//
// It validates what the real API refuses, so a translator that emits a wrong request fails here:
// headers (x-api-key, anthropic-version), required fields (model, max_tokens, messages), unknown
// top-level fields ("Extra inputs are not permitted"), roles, empty text blocks, image sources,
// temperature range, tool definitions, and tool_use / tool_result pairing between turns.
//
// What it answers: `tokens` text tokens "tok0 tok1 ..." (capped by max_tokens → stop_reason
// max_tokens; a stop sequence equal to "tokK" ends the text before it → stop_sequence). When the
// request has tools and tool_choice is any/tool, or the last user text contains the magic word
// `mock:tool`, or the behaviour says `tool`, it calls tools (stop_reason tool_use) with inputs built
// from their schemas. A thinking block comes first when the request enables thinking or the
// behaviour says so (magic word `mock:thinking`).
//
// Behaviour: per server (`behavior`, mutable between tests) and per request with a `mock` object in
// the body (a mock-only field, e.g. {"mock":{"status":529}}). Injected failures: `status` (HTTP error
// with the matching Anthropic error type, 529 overloaded_error), `errorAfterTokens` (a mid-stream
// `event: error` overloaded_error), `resetAfterTokens` (the connection is dropped).
import { runMockCli, sampleFromSchema, serveMock, streamWithFaults, type ProviderMock } from "./mock-server";

export interface AnthropicMockBehavior {
  tokens: number;
  delayMs: number;
  firstByteDelayMs: number;
  status: number;
  errorAfterTokens: number;
  resetAfterTokens: number;
  tool: boolean;
  toolCalls: number;
  thinking: boolean;
}
export interface RecordedRequest { method: string; path: string; headers: Record<string, string>; body: string }
/** A running mock; `url` is the base URL the SDK takes (Base URL as the Anthropic SDK takes it (no /v1)). */
export type AnthropicMock = ProviderMock<RecordedRequest, AnthropicMockBehavior>;

export const DEFAULT_ANTHROPIC_BEHAVIOR: Readonly<AnthropicMockBehavior> = Object.freeze({
  tokens: 16, delayMs: 0, firstByteDelayMs: 0, status: 0,
  errorAfterTokens: -1, resetAfterTokens: -1, tool: false, toolCalls: 1, thinking: false,
});

const MAX_RECORDED = 10_000;
const MODELS = ["mock-claude", "mock-claude-mini"];
const JSON_HEADERS = { "content-type": "application/json" };
const SSE_HEADERS = { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache" };
const TOP_LEVEL = new Set([
  "model", "messages", "max_tokens", "system", "stop_sequences", "stream", "temperature", "top_p", "top_k",
  "tools", "tool_choice", "metadata", "thinking", "service_tier", "output_config", "container",
  "context_management", "mcp_servers", "cache_control", "inference_geo", "mock",
]);
const BLOCK_TYPES = new Set(["text", "image", "document", "tool_use", "tool_result", "thinking", "redacted_thinking", "search_result"]);
const IMAGE_TYPES = new Set(["image/jpeg", "image/png", "image/gif", "image/webp"]);

const ID_PREFIX = Math.random().toString(36).slice(2, 10);
let idCounter = 0;
const nextId = (kind: string) => `${kind}_mock${ID_PREFIX}${(idCounter++).toString(36)}`;

const tokenText = (i: number) => (i === 0 ? "tok0" : ` tok${i}`);
const contentFor = (n: number) => Array.from({ length: n }, (_, i) => `tok${i}`).join(" ");

const ERROR_TYPES: Record<number, string> = {
  400: "invalid_request_error", 401: "authentication_error", 402: "billing_error", 403: "permission_error",
  404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error", 500: "api_error",
  504: "timeout_error", 529: "overloaded_error",
};

function error(status: number, message: string, type?: string): Response {
  const t = type ?? ERROR_TYPES[status] ?? (status >= 500 ? "api_error" : "invalid_request_error");
  const body = JSON.stringify({ type: "error", error: { type: t, message }, request_id: nextId("req") });
  const headers: Record<string, string> = { ...JSON_HEADERS };
  if (status === 429 || status === 529) headers["retry-after"] = "1";
  return new Response(body, { status, headers });
}

class Invalid extends Error {}
const fail = (message: string): never => {
  throw new Invalid(message);
};

// Rough prompt size: ~4 characters per token.
function textTokens(v: unknown): number {
  if (typeof v === "string") return Math.ceil(v.length / 4);
  if (Array.isArray(v)) return v.reduce((s: number, x) => s + textTokens(x), 0);
  if (v && typeof v === "object") {
    const o = v as Record<string, unknown>;
    return textTokens(o.text ?? o.content ?? o.thinking ?? "");
  }
  return 0;
}

/** The checks the real API makes that a translator could get wrong; throws Invalid with its message. */
function validate(body: Record<string, any>): void {
  for (const key of Object.keys(body)) if (!TOP_LEVEL.has(key)) fail(`${key}: Extra inputs are not permitted`);
  if (typeof body.model !== "string" || body.model === "") fail("model: Field required");
  if (body.max_tokens === undefined) fail("max_tokens: Field required");
  if (!Number.isInteger(body.max_tokens) || body.max_tokens < 1) fail("max_tokens: Input should be a valid integer greater than or equal to 1");
  if (!Array.isArray(body.messages)) fail("messages: Field required");
  if (body.messages.length === 0) fail("messages: at least one message is required");
  if (body.temperature !== undefined && (typeof body.temperature !== "number" || body.temperature < 0 || body.temperature > 1)) fail("temperature: Input should be less than or equal to 1");
  if (body.stop_sequences !== undefined && (!Array.isArray(body.stop_sequences) || body.stop_sequences.some((s: unknown) => typeof s !== "string"))) fail("stop_sequences: Input should be a valid list of strings");
  if (body.system !== undefined && typeof body.system !== "string") {
    if (!Array.isArray(body.system)) fail("system: Input should be a valid string or list");
    body.system.forEach((b: any, i: number) => {
      if (b?.type !== "text" || typeof b.text !== "string") fail(`system.${i}: Input should be a text block`);
    });
  }
  const toolNames = new Set<string>();
  if (body.tools !== undefined) {
    if (!Array.isArray(body.tools)) fail("tools: Input should be a valid list");
    body.tools.forEach((t: any, i: number) => {
      if (typeof t?.name !== "string" || !/^[a-zA-Z0-9_-]{1,128}$/.test(t.name)) fail(`tools.${i}.name: String should match pattern '^[a-zA-Z0-9_-]{1,128}$'`);
      if (t.input_schema?.type !== "object") fail(`tools.${i}.input_schema.type: Input should be 'object'`);
      for (const k of Object.keys(t)) if (!["name", "description", "input_schema", "strict", "cache_control", "type"].includes(k)) fail(`tools.${i}.${k}: Extra inputs are not permitted`);
      toolNames.add(t.name);
    });
  }
  const tc = body.tool_choice;
  if (tc !== undefined) {
    if (!["auto", "any", "tool", "none"].includes(tc?.type)) fail("tool_choice.type: Input should be 'auto', 'any', 'tool' or 'none'");
    if (tc.type === "tool" && !toolNames.has(tc.name)) fail(`tool_choice.name: Tool '${tc.name}' not found in tools`);
  }
  let pendingToolUses: string[] = [];
  body.messages.forEach((m: any, i: number) => {
    if (m?.role !== "user" && m?.role !== "assistant") fail(`messages.${i}.role: Input should be 'user' or 'assistant'`);
    const blocks: any[] = typeof m.content === "string" ? [{ type: "text", text: m.content }] : m.content;
    if (!Array.isArray(blocks)) fail(`messages.${i}.content: Input should be a valid string or list`);
    const results = new Set<string>();
    blocks.forEach((b: any, j: number) => {
      const at = `messages.${i}.content.${j}`;
      if (!BLOCK_TYPES.has(b?.type)) fail(`${at}.type: Input tag '${b?.type}' found using 'type' does not match any of the expected tags`);
      if (b.type === "text" && (typeof b.text !== "string" || b.text === "") && !(i === body.messages.length - 1 && m.role === "assistant")) fail("messages: text content blocks must be non-empty");
      if (b.type === "image") {
        const s = b.source;
        if (s?.type === "base64") {
          if (!IMAGE_TYPES.has(s.media_type)) fail(`${at}.source.base64.media_type: Input should be 'image/jpeg', 'image/png', 'image/gif' or 'image/webp'`);
          if (typeof s.data !== "string" || s.data === "") fail(`${at}.source.base64.data: Field required`);
        } else if (s?.type !== "url" || typeof s.url !== "string") fail(`${at}.source: Input should be a base64 or url source`);
      }
      if (b.type === "tool_use") {
        if (m.role !== "assistant") fail(`${at}: tool_use blocks are only allowed in assistant messages`);
        if (typeof b.id !== "string" || typeof b.name !== "string") fail(`${at}: tool_use blocks need an id and a name`);
        if (b.input === null || typeof b.input !== "object" || Array.isArray(b.input)) fail(`${at}.input: Input should be a valid dictionary`);
      }
      if (b.type === "tool_result") {
        if (m.role !== "user") fail(`${at}: tool_result blocks are only allowed in user messages`);
        if (!pendingToolUses.includes(b.tool_use_id)) fail(`${at}: unexpected \`tool_use_id\` found in \`tool_result\` blocks: ${b.tool_use_id}. Each \`tool_result\` block must have a corresponding \`tool_use\` block in the previous message.`);
        results.add(b.tool_use_id);
      }
    });
    const missing = pendingToolUses.filter((id) => !results.has(id));
    if (missing.length > 0) fail(`messages.${i - 1}: \`tool_use\` ids were found without \`tool_result\` blocks immediately after: ${missing.join(", ")}. Each \`tool_use\` block must have a corresponding \`tool_result\` block in the next message.`);
    pendingToolUses = m.role === "assistant" ? blocks.filter((b) => b.type === "tool_use").map((b) => b.id) : [];
  });
}

/** A value that satisfies a (simple) JSON Schema, for tool inputs. */

function lastUserText(messages: any[]): string {
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i];
    if (m.role !== "user") continue;
    if (typeof m.content === "string") return m.content;
    return m.content.filter((b: any) => b.type === "text").map((b: any) => b.text).join(" ");
  }
  return "";
}

interface Plan {
  model: string;
  thinking: string | null;
  n: number; // text tokens
  tools: { id: string; name: string; input: unknown }[];
  stopReason: string;
  stopSequence: string | null;
  inputTokens: number;
  outputTokens: number;
}

function plan(body: Record<string, any>, b: AnthropicMockBehavior): Plan {
  const cue = lastUserText(body.messages);
  const tools: any[] = Array.isArray(body.tools) ? body.tools : [];
  const choice = body.tool_choice?.type;
  const wantsTool = tools.length > 0 && choice !== "none" && (choice === "any" || choice === "tool" || b.tool || cue.includes("mock:tool"));
  const thinking = b.thinking || cue.includes("mock:thinking") || (body.thinking && body.thinking.type !== "disabled") ? "Let me think about tok0." : null;
  let n = Math.max(0, b.tokens | 0);
  let stopReason = "end_turn";
  let stopSequence: string | null = null;
  const calls: Plan["tools"] = [];
  if (wantsTool) {
    const count = choice === "tool" || body.tool_choice?.disable_parallel_tool_use ? 1 : Math.max(1, b.toolCalls | 0);
    for (let i = 0; i < count; i++) {
      const t = choice === "tool" ? tools.find((x) => x.name === body.tool_choice.name) : tools[i % tools.length];
      calls.push({ id: nextId("toolu"), name: t.name, input: sampleFromSchema(t.input_schema) ?? {} });
    }
    stopReason = "tool_use";
  } else {
    const stops: string[] = body.stop_sequences ?? [];
    for (let k = 0; k < n; k++) {
      if (stops.includes(`tok${k}`)) {
        n = k;
        stopReason = "stop_sequence";
        stopSequence = `tok${k}`;
        break;
      }
    }
    if (stopReason === "end_turn" && body.max_tokens < n) {
      n = body.max_tokens;
      stopReason = "max_tokens";
    }
  }
  const inputTokens = Math.max(1, textTokens(body.messages) + textTokens(body.system ?? ""));
  const outputTokens = n + calls.length * 8 + (thinking ? 6 : 0);
  return { model: body.model, thinking, n, tools: calls, stopReason, stopSequence, inputTokens, outputTokens };
}

function message(p: Plan): string {
  const content: unknown[] = [];
  if (p.thinking) content.push({ type: "thinking", thinking: p.thinking, signature: "mock-signature" });
  if (p.n > 0) content.push({ type: "text", text: contentFor(p.n) });
  for (const t of p.tools) content.push({ type: "tool_use", id: t.id, name: t.name, input: t.input });
  return JSON.stringify({
    id: nextId("msg"), type: "message", role: "assistant", model: p.model, content,
    stop_reason: p.stopReason, stop_sequence: p.stopSequence,
    usage: { input_tokens: p.inputTokens, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: p.outputTokens, service_tier: "standard" },
  });
}

const sse = (name: string, data: unknown) => `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`;

/** The stream as a list of events; `tokenAt[i]` is the text-token number event i carries, or -1. */
function streamEvents(p: Plan): { events: string[]; tokenAt: number[] } {
  const events: string[] = [];
  const tokenAt: number[] = [];
  const push = (e: string, token = -1) => { events.push(e); tokenAt.push(token); };
  push(sse("message_start", { type: "message_start", message: { id: nextId("msg"), type: "message", role: "assistant", model: p.model, content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: p.inputTokens, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 1, service_tier: "standard" } } }));
  let index = 0;
  let pinged = false;
  const ping = () => { if (!pinged) { pinged = true; push(sse("ping", { type: "ping" })); } };
  if (p.thinking) {
    push(sse("content_block_start", { type: "content_block_start", index, content_block: { type: "thinking", thinking: "", signature: "" } }));
    ping();
    const half = Math.floor(p.thinking.length / 2);
    push(sse("content_block_delta", { type: "content_block_delta", index, delta: { type: "thinking_delta", thinking: p.thinking.slice(0, half) } }));
    push(sse("content_block_delta", { type: "content_block_delta", index, delta: { type: "thinking_delta", thinking: p.thinking.slice(half) } }));
    push(sse("content_block_delta", { type: "content_block_delta", index, delta: { type: "signature_delta", signature: "mock-signature" } }));
    push(sse("content_block_stop", { type: "content_block_stop", index }));
    index++;
  }
  if (p.n > 0) {
    push(sse("content_block_start", { type: "content_block_start", index, content_block: { type: "text", text: "" } }));
    ping();
    for (let i = 0; i < p.n; i++) push(sse("content_block_delta", { type: "content_block_delta", index, delta: { type: "text_delta", text: tokenText(i) } }), i);
    push(sse("content_block_stop", { type: "content_block_stop", index }));
    index++;
  }
  for (const t of p.tools) {
    push(sse("content_block_start", { type: "content_block_start", index, content_block: { type: "tool_use", id: t.id, name: t.name, input: {} } }));
    ping();
    // Like the real API: an empty first fragment, then the JSON in pieces that split keys and values.
    const json = JSON.stringify(t.input);
    const cut = Math.ceil(json.length / 3);
    for (const piece of ["", json.slice(0, cut), json.slice(cut, 2 * cut), json.slice(2 * cut)]) {
      push(sse("content_block_delta", { type: "content_block_delta", index, delta: { type: "input_json_delta", partial_json: piece } }));
    }
    push(sse("content_block_stop", { type: "content_block_stop", index }));
    index++;
  }
  push(sse("message_delta", { type: "message_delta", delta: { stop_reason: p.stopReason, stop_sequence: p.stopSequence }, usage: { output_tokens: p.outputTokens } }));
  push(sse("message_stop", { type: "message_stop" }));
  return { events, tokenAt };
}

const OVERLOADED_EVENT = sse("error", { type: "error", error: { type: "overloaded_error", message: "Overloaded" } });

function stream(req: Request, p: Plan, b: AnthropicMockBehavior, onAbort: () => void): Response {
  const { events, tokenAt } = streamEvents(p);
  return streamWithFaults(req, events, tokenAt, b, OVERLOADED_EVENT, onAbort, { ...SSE_HEADERS, "request-id": nextId("req") });
}

export async function startMockAnthropic(opts: { port?: number; hostname?: string; behavior?: Partial<AnthropicMockBehavior>; record?: boolean; apiKey?: string } = {}): Promise<AnthropicMock> {
  const initial: AnthropicMockBehavior = { ...DEFAULT_ANTHROPIC_BEHAVIOR, ...opts.behavior };
  const record = opts.record ?? true;

  async function handle(req: Request): Promise<Response> {
    const url = new URL(req.url);
    const path = url.pathname;
    const text = req.method === "POST" ? await req.text() : "";
    if (record) {
      mock.requests.push({ method: req.method, path, headers: (req.headers as any).toJSON(), body: text });
      if (mock.requests.length > MAX_RECORDED) mock.requests.shift();
    }
    let body: Record<string, any> | null = null;
    try {
      const parsed = text ? JSON.parse(text) : null;
      if (parsed && typeof parsed === "object" && !Array.isArray(parsed)) body = parsed;
    } catch {
      // reported below, after the checks that come first in the real API
    }
    const b: AnthropicMockBehavior = body?.mock && typeof body.mock === "object" ? { ...mock.behavior, ...body.mock } : mock.behavior;
    if (b.firstByteDelayMs > 0) {
      await Bun.sleep(b.firstByteDelayMs);
      if (req.signal.aborted) {
        mock.aborts++;
        return new Response(null, { status: 499 });
      }
    }

    const key = req.headers.get("x-api-key");
    if (key === null || key === "") return error(401, "x-api-key header is required", "authentication_error");
    if (opts.apiKey !== undefined && key !== opts.apiKey) return error(401, "invalid x-api-key", "authentication_error");
    if (req.method === "GET" && path === "/v1/models") {
      const data = MODELS.map((id) => ({ type: "model", id, display_name: id, created_at: "2025-01-01T00:00:00Z" }));
      return new Response(JSON.stringify({ data, has_more: false, first_id: MODELS[0], last_id: MODELS.at(-1) }), { headers: JSON_HEADERS });
    }
    if (req.method === "POST" && path === "/v1/messages/count_tokens") {
      // The token counting endpoint: the same request shape without max_tokens, the prompt's size back.
      if (body === null || typeof body.model !== "string" || !Array.isArray(body.messages)) return error(400, "model and messages are required");
      return new Response(JSON.stringify({ input_tokens: Math.max(1, textTokens(body.messages) + textTokens(body.system ?? "")) }), { headers: JSON_HEADERS });
    }
    if (req.method !== "POST" || path !== "/v1/messages") return error(404, `Not found: ${req.method} ${path}`);
    if (req.headers.get("anthropic-version") === null) return error(400, "anthropic-version: header is required");
    if (b.status && b.status !== 200) return error(b.status, b.status === 529 ? "Overloaded" : `Mock injected error (status ${b.status})`);
    if (body === null) return error(400, "There was an issue with the format of your request: the body must be a JSON object");
    try {
      validate(body);
    } catch (e) {
      if (e instanceof Invalid) return error(400, e.message);
      throw e;
    }
    const p = plan(body, b);
    if (body.stream === true) return stream(req, p, b, () => { mock.aborts++; });
    return new Response(message(p), { headers: { ...JSON_HEADERS, "request-id": nextId("req") } });
  }

  const mock: AnthropicMock = serveMock<RecordedRequest, AnthropicMockBehavior>(opts, initial, handle, (e) => error(500, String(e)));
  return mock;
}

if (import.meta.main) await runMockCli<AnthropicMockBehavior>("anthropic", 9100, startMockAnthropic);
