// Mock Gemini API (v1beta) for the provider adapters' tests and benchmarks.
// Speaks the public wire format: POST /v1beta/models/{model}:generateContent,
// :streamGenerateContent?alt=sse (one `data: {GenerateContentResponse}` event per step, CRLF-separated,
// no end marker: the body ends) and, without alt=sse, the JSON-array stream; GET /v1beta/models;
// errors in Google's shape {"error":{"code","message","status","details"}}.
//
// It validates what the real API refuses, so a translator that emits a wrong request fails here:
// the key (x-goog-api-key header or ?key=), unknown field names ("Invalid JSON payload received.
// Unknown name ..."), missing contents, roles other than user/model, empty parts, parts with no or
// two kinds of data, generationConfig ranges, function declaration names, a function response turn
// that does not follow a function call turn or answers a different number of calls, and (as
// Gemini 3 does) a first function call of a model turn without its thought signature.
//
// What it answers: per candidate (generationConfig.candidateCount), `tokens` text tokens
// "tok0 tok1 ..." ("c1tok0 ..." for candidate 1 and so on), capped by maxOutputTokens (MAX_TOKENS),
// cut before a stop sequence equal to "tokK" (STOP). With function declarations and mode ANY, or the
// magic word `mock:tool` in the last user text, or the behaviour `tool`, it also calls functions
// with arguments built from their schemas; the first call of a reply carries a thought signature.
// With `mock:thinking` or thinkingConfig.includeThoughts, a thought part comes first.
//
// Behaviour: per server (`behavior`, mutable between tests) and per request with a `mock` object in
// the body (a mock-only field). Injected failures: `status` (HTTP error with its Google status, 503
// UNAVAILABLE "overloaded"), `errorAfterTokens` (an error object as a stream event), `resetAfterTokens`
// (the connection is dropped), `finishReason` (e.g. "SAFETY" ends every candidate), `blockPrompt`
// (promptFeedback.blockReason, no candidates).
import { runMockCli, sampleFromSchema, serveMock, streamWithFaults, type ProviderMock } from "./mock-server";

export interface GeminiMockBehavior {
  tokens: number;
  delayMs: number;
  firstByteDelayMs: number;
  status: number;
  errorAfterTokens: number;
  resetAfterTokens: number;
  tool: boolean;
  toolCalls: number;
  thinking: boolean;
  finishReason: string;
  blockPrompt: boolean;
  requireThoughtSignatures: boolean;
}
export interface RecordedRequest { method: string; path: string; query: string; headers: Record<string, string>; body: string }
/** A running mock; `url` is the base URL the SDK takes (Base URL without the API version, like the SDKs' default endpoint). */
export type GeminiMock = ProviderMock<RecordedRequest, GeminiMockBehavior>;

export const DEFAULT_GEMINI_BEHAVIOR: Readonly<GeminiMockBehavior> = Object.freeze({
  tokens: 16, delayMs: 0, firstByteDelayMs: 0, status: 0, errorAfterTokens: -1, resetAfterTokens: -1,
  tool: false, toolCalls: 1, thinking: false, finishReason: "", blockPrompt: false, requireThoughtSignatures: true,
});

export const MOCK_THOUGHT_SIGNATURE = "bW9jay1zaWduYXR1cmU="; // base64 "mock-signature"

const MAX_RECORDED = 10_000;
const MODELS = ["mock-gemini", "mock-gemini-lite"];
const JSON_HEADERS = { "content-type": "application/json; charset=UTF-8" };
const SSE_HEADERS = { "content-type": "text/event-stream", "cache-control": "no-cache" };
const STATUS_NAMES: Record<number, string> = {
  400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED",
  500: "INTERNAL", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED",
};
const TOP_LEVEL = new Set(["contents", "tools", "toolConfig", "safetySettings", "systemInstruction", "generationConfig", "cachedContent", "mock"]);
const GENERATION_CONFIG = new Set([
  "stopSequences", "responseMimeType", "responseSchema", "responseJsonSchema", "responseModalities", "candidateCount",
  "maxOutputTokens", "temperature", "topP", "topK", "seed", "presencePenalty", "frequencyPenalty", "responseLogprobs",
  "logprobs", "enableEnhancedCivicAnswers", "speechConfig", "thinkingConfig", "mediaResolution",
]);
const PART_DATA = ["text", "inlineData", "fileData", "functionCall", "functionResponse", "executableCode", "codeExecutionResult"];
const PART_FIELDS = new Set([...PART_DATA, "thought", "thoughtSignature", "videoMetadata", "partMetadata"]);

const ID_PREFIX = Math.random().toString(36).slice(2, 10);
let idCounter = 0;
const nextId = () => `mock${ID_PREFIX}${(idCounter++).toString(36)}`;

function error(code: number, message: string, status?: string, details?: unknown[]): Response {
  const body: Record<string, unknown> = { code, message, status: status ?? STATUS_NAMES[code] ?? (code >= 500 ? "INTERNAL" : "INVALID_ARGUMENT") };
  if (details !== undefined) body.details = details;
  const headers: Record<string, string> = { ...JSON_HEADERS };
  if (code === 429 || code === 503) headers["retry-after"] = "1";
  return new Response(JSON.stringify({ error: body }), { status: code, headers });
}

class Invalid extends Error {}
const fail = (message: string): never => {
  throw new Invalid(message);
};
const unknownName = (name: string, at: string): never => fail(`Invalid JSON payload received. Unknown name "${name}" at '${at}': Cannot find field.`);

function textTokens(v: unknown): number {
  if (typeof v === "string") return Math.ceil(v.length / 4);
  if (Array.isArray(v)) return v.reduce((s: number, x) => s + textTokens(x), 0);
  if (v && typeof v === "object") {
    const o = v as Record<string, unknown>;
    return textTokens(o.text ?? o.parts ?? "");
  }
  return 0;
}

/** The checks the real API makes that a translator could get wrong; throws Invalid with its message. */
function validate(body: Record<string, any>, b: GeminiMockBehavior): void {
  for (const key of Object.keys(body)) if (!TOP_LEVEL.has(key)) unknownName(key, "");
  const gc = body.generationConfig;
  if (gc !== undefined) {
    for (const key of Object.keys(gc)) if (!GENERATION_CONFIG.has(key)) unknownName(key, "generation_config");
    if (gc.candidateCount !== undefined && (!Number.isInteger(gc.candidateCount) || gc.candidateCount < 1 || gc.candidateCount > 8)) fail("* GenerateContentRequest.generation_config.candidate_count: must be between 1 and 8");
    if (gc.temperature !== undefined && (gc.temperature < 0 || gc.temperature > 2)) fail("* GenerateContentRequest.generation_config.temperature: must be between 0 and 2");
    if (gc.topP !== undefined && (gc.topP < 0 || gc.topP > 1)) fail("* GenerateContentRequest.generation_config.top_p: must be between 0 and 1");
    if (gc.maxOutputTokens !== undefined && (!Number.isInteger(gc.maxOutputTokens) || gc.maxOutputTokens < 1)) fail("* GenerateContentRequest.generation_config.max_output_tokens: must be positive");
    if (gc.stopSequences !== undefined && (!Array.isArray(gc.stopSequences) || gc.stopSequences.length > 5)) fail("* GenerateContentRequest.generation_config.stop_sequences: at most 5 stop sequences");
  }
  if (body.systemInstruction !== undefined) {
    const parts = body.systemInstruction?.parts;
    if (!Array.isArray(parts) || parts.some((p: any) => typeof p?.text !== "string")) fail("* GenerateContentRequest.system_instruction.parts: must be text parts");
  }
  const declared = new Set<string>();
  for (const [i, tool] of (body.tools ?? []).entries()) {
    for (const key of Object.keys(tool)) if (!["functionDeclarations", "googleSearch", "codeExecution", "urlContext"].includes(key)) unknownName(key, `tools[${i}]`);
    for (const [j, d] of (tool.functionDeclarations ?? []).entries()) {
      if (typeof d?.name !== "string" || !/^[a-zA-Z_][a-zA-Z0-9_.:-]{0,63}$/.test(d.name)) fail(`* GenerateContentRequest.tools[${i}].function_declarations[${j}].name: Invalid function name.`);
      for (const key of Object.keys(d)) if (!["name", "description", "parameters", "parametersJsonSchema", "response", "responseJsonSchema", "behavior"].includes(key)) unknownName(key, `tools[${i}].function_declarations[${j}]`);
      if (d.parameters !== undefined && d.parametersJsonSchema !== undefined) fail(`* GenerateContentRequest.tools[${i}].function_declarations[${j}]: parameters and parameters_json_schema are mutually exclusive`);
      declared.add(d.name);
    }
  }
  const fcc = body.toolConfig?.functionCallingConfig;
  if (fcc !== undefined) {
    if (!["AUTO", "ANY", "NONE", "VALIDATED"].includes(fcc.mode)) fail(`Invalid value at 'tool_config.function_calling_config.mode' (type.googleapis.com/google.ai.generativelanguage.v1beta.FunctionCallingConfig.Mode), "${fcc.mode}"`);
    if (fcc.allowedFunctionNames !== undefined && fcc.mode !== "ANY" && fcc.mode !== "VALIDATED") fail("* GenerateContentRequest.tool_config.function_calling_config.allowed_function_names: only allowed with mode ANY or VALIDATED");
    for (const n of fcc.allowedFunctionNames ?? []) if (!declared.has(n)) fail(`* GenerateContentRequest.tool_config.function_calling_config.allowed_function_names: '${n}' is not declared`);
  }
  if (!Array.isArray(body.contents) || body.contents.length === 0) fail("* GenerateContentRequest.contents: contents is not specified");
  let previousCalls = 0;
  body.contents.forEach((c: any, i: number) => {
    if (c?.role !== undefined && c.role !== "user" && c.role !== "model") fail("Please use a valid role: user, model.");
    if (!Array.isArray(c?.parts) || c.parts.length === 0) fail(`* GenerateContentRequest.contents[${i}].parts: contents.parts must not be empty.`);
    let calls = 0;
    let responses = 0;
    c.parts.forEach((p: any, j: number) => {
      for (const key of Object.keys(p ?? {})) if (!PART_FIELDS.has(key)) unknownName(key, `contents[${i}].parts[${j}]`);
      const kinds = PART_DATA.filter((k) => p[k] !== undefined);
      if (kinds.length !== 1) fail(`* GenerateContentRequest.contents[${i}].parts[${j}].data: required oneof field 'data' must have one initialized field`);
      if (p.inlineData && (typeof p.inlineData.mimeType !== "string" || typeof p.inlineData.data !== "string")) fail(`* GenerateContentRequest.contents[${i}].parts[${j}].inline_data: mime_type and data are required`);
      if (p.functionCall) {
        if (c.role !== "model") fail(`* GenerateContentRequest.contents[${i}].parts[${j}].function_call: function calls are only allowed in model turns`);
        if (calls === 0 && b.requireThoughtSignatures && p.thoughtSignature === undefined) {
          fail(`Function call is missing a thought_signature in functionCall parts. This is required for tools to work correctly. Additional data, function call \`${p.functionCall.name}\`, position ${j + 1}.`);
        }
        calls++;
      }
      if (p.functionResponse) {
        if (typeof p.functionResponse.name !== "string" || p.functionResponse.response === null || typeof p.functionResponse.response !== "object") fail(`* GenerateContentRequest.contents[${i}].parts[${j}].function_response: name and an object response are required`);
        responses++;
      }
    });
    if (responses > 0 && previousCalls === 0) fail("Please ensure that function response turn comes immediately after a function call turn.");
    if (previousCalls > 0 && responses !== previousCalls) fail("Please ensure that the number of function response parts is equal to the number of function call parts of the function call turn.");
    previousCalls = calls;
  });
}

/** A value that satisfies a (simple) JSON Schema, for function arguments. */

function lastUserText(contents: any[]): string {
  for (let i = contents.length - 1; i >= 0; i--) {
    if ((contents[i].role ?? "user") !== "user") continue;
    return contents[i].parts.filter((p: any) => typeof p.text === "string").map((p: any) => p.text).join(" ");
  }
  return "";
}

interface Plan {
  model: string;
  candidates: number;
  thought: string | null;
  n: number;
  finish: string;
  calls: { name: string; args: unknown }[];
  blocked: boolean;
  promptTokens: number;
}

const tokenWord = (candidate: number, i: number) => (candidate === 0 ? `tok${i}` : `c${candidate}tok${i}`);
const tokenText = (candidate: number, i: number) => (i === 0 ? tokenWord(candidate, 0) : ` ${tokenWord(candidate, i)}`);

function plan(model: string, body: Record<string, any>, b: GeminiMockBehavior): Plan {
  const gc = body.generationConfig ?? {};
  const cue = lastUserText(body.contents);
  const decls: any[] = (body.tools ?? []).flatMap((t: any) => t.functionDeclarations ?? []);
  const fcc = body.toolConfig?.functionCallingConfig;
  const mode = fcc?.mode ?? "AUTO";
  const calls: Plan["calls"] = [];
  if (decls.length > 0 && mode !== "NONE" && (mode === "ANY" || b.tool || cue.includes("mock:tool"))) {
    const allowed: string[] | undefined = fcc?.allowedFunctionNames;
    const pool = allowed ? decls.filter((d) => allowed.includes(d.name)) : decls;
    for (let i = 0; i < Math.max(1, b.toolCalls | 0); i++) {
      const d = pool[i % pool.length];
      calls.push({ name: d.name, args: sampleFromSchema(d.parametersJsonSchema ?? d.parameters) ?? {} });
    }
  }
  let n = Math.max(0, b.tokens | 0);
  let finish = "STOP";
  const stops: string[] = gc.stopSequences ?? [];
  const stopAt = Array.from({ length: n }, (_, k) => k).find((k) => stops.includes(`tok${k}`));
  if (stopAt !== undefined) n = stopAt;
  else if (typeof gc.maxOutputTokens === "number" && gc.maxOutputTokens < n) {
    n = gc.maxOutputTokens;
    finish = "MAX_TOKENS";
  }
  if (b.finishReason) finish = b.finishReason;
  const thinking = b.thinking || cue.includes("mock:thinking") || gc.thinkingConfig?.includeThoughts === true;
  return {
    model,
    candidates: gc.candidateCount ?? 1,
    thought: thinking ? "Let me think about tok0." : null,
    n,
    finish,
    calls,
    blocked: b.blockPrompt,
    promptTokens: Math.max(1, textTokens(body.contents) + textTokens(body.systemInstruction ?? "")),
  };
}

function usage(p: Plan, final: boolean): Record<string, unknown> {
  if (!final) return { promptTokenCount: p.promptTokens, totalTokenCount: p.promptTokens };
  const candidates = p.blocked ? 0 : p.candidates * (p.n + p.calls.length * 8);
  const thoughts = p.thought && !p.blocked ? p.candidates * 6 : 0;
  const u: Record<string, unknown> = { promptTokenCount: p.promptTokens, candidatesTokenCount: candidates, totalTokenCount: p.promptTokens + candidates + thoughts };
  if (thoughts > 0) u.thoughtsTokenCount = thoughts;
  return u;
}

function callParts(p: Plan): Record<string, unknown>[] {
  return p.calls.map((c, i) => (i === 0 ? { functionCall: { name: c.name, args: c.args }, thoughtSignature: MOCK_THOUGHT_SIGNATURE } : { functionCall: { name: c.name, args: c.args } }));
}

function whole(p: Plan, responseId: string): Record<string, unknown> {
  if (p.blocked) return { promptFeedback: { blockReason: "SAFETY" }, usageMetadata: usage(p, true), modelVersion: p.model, responseId };
  const candidates = Array.from({ length: p.candidates }, (_, k) => {
    const parts: Record<string, unknown>[] = [];
    if (p.thought) parts.push({ text: p.thought, thought: true });
    if (p.n > 0) parts.push({ text: Array.from({ length: p.n }, (_, i) => tokenWord(k, i)).join(" ") });
    parts.push(...callParts(p));
    return { content: { parts, role: "model" }, finishReason: p.finish, index: k };
  });
  return { candidates, usageMetadata: usage(p, true), modelVersion: p.model, responseId };
}

/** The streamed responses; `tokenAt[i]` is the text-token number step i carries, or -1. */
function steps(p: Plan, responseId: string): { events: Record<string, unknown>[]; tokenAt: number[] } {
  const events: Record<string, unknown>[] = [];
  const tokenAt: number[] = [];
  const push = (candidates: unknown[], final: boolean, token = -1) => {
    events.push({ candidates, usageMetadata: usage(p, final), modelVersion: p.model, responseId });
    tokenAt.push(token);
  };
  if (p.blocked) {
    events.push({ promptFeedback: { blockReason: "SAFETY" }, usageMetadata: usage(p, true), modelVersion: p.model, responseId });
    tokenAt.push(-1);
    return { events, tokenAt };
  }
  const each = (parts: (k: number) => unknown[], extra: (k: number) => Record<string, unknown> = () => ({})) =>
    Array.from({ length: p.candidates }, (_, k) => ({ content: { parts: parts(k), role: "model" }, index: k, ...extra(k) }));
  if (p.thought) push(each(() => [{ text: p.thought, thought: true }]), false);
  for (let i = 0; i < p.n; i++) {
    const last = i === p.n - 1 && p.calls.length === 0;
    push(each((k) => [{ text: tokenText(k, i) }], () => (last ? { finishReason: p.finish } : {})), last, i);
  }
  if (p.calls.length > 0 || p.n === 0) push(each(() => (p.calls.length > 0 ? callParts(p) : [{ text: "" }]), () => ({ finishReason: p.finish })), true);
  return { events, tokenAt };
}

const OVERLOADED = { error: { code: 503, message: "The model is overloaded. Please try again later.", status: "UNAVAILABLE" } };

function stream(req: Request, p: Plan, b: GeminiMockBehavior, onAbort: () => void): Response {
  const { events, tokenAt } = steps(p, nextId());
  const frame = (json: unknown) => `data: ${JSON.stringify(json)}\r\n\r\n`;
  return streamWithFaults(req, events.map(frame), tokenAt, b, frame(OVERLOADED), onAbort, SSE_HEADERS);
}

const ROUTE = /^\/(v1beta|v1)\/models\/([^/:]+):(generateContent|streamGenerateContent)$/;

export async function startMockGemini(opts: { port?: number; hostname?: string; behavior?: Partial<GeminiMockBehavior>; record?: boolean; apiKey?: string } = {}): Promise<GeminiMock> {
  const initial: GeminiMockBehavior = { ...DEFAULT_GEMINI_BEHAVIOR, ...opts.behavior };
  const record = opts.record ?? true;

  async function handle(req: Request): Promise<Response> {
    const url = new URL(req.url);
    const text = req.method === "POST" ? await req.text() : "";
    if (record) {
      mock.requests.push({ method: req.method, path: url.pathname, query: url.search, headers: (req.headers as any).toJSON(), body: text });
      if (mock.requests.length > MAX_RECORDED) mock.requests.shift();
    }
    let body: Record<string, any> | null = null;
    let badJson = false;
    try {
      const parsed = text ? JSON.parse(text) : null;
      if (parsed && typeof parsed === "object" && !Array.isArray(parsed)) body = parsed;
      else if (text) badJson = true;
    } catch {
      badJson = true;
    }
    const b: GeminiMockBehavior = body?.mock && typeof body.mock === "object" ? { ...mock.behavior, ...body.mock } : mock.behavior;
    if (b.firstByteDelayMs > 0) {
      await Bun.sleep(b.firstByteDelayMs);
      if (req.signal.aborted) {
        mock.aborts++;
        return new Response(null, { status: 499 });
      }
    }

    const key = req.headers.get("x-goog-api-key") ?? url.searchParams.get("key");
    if (key === null || key === "") return error(403, "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.", "PERMISSION_DENIED");
    if (opts.apiKey !== undefined && key !== opts.apiKey) {
      return error(400, "API key not valid. Please pass a valid API key.", "INVALID_ARGUMENT", [{ "@type": "type.googleapis.com/google.rpc.ErrorInfo", reason: "API_KEY_INVALID", domain: "googleapis.com", metadata: { service: "generativelanguage.googleapis.com" } }]);
    }
    if (req.method === "GET" && /^\/(v1beta|v1)\/models$/.test(url.pathname)) {
      const models = MODELS.map((m) => ({ name: `models/${m}`, displayName: m, inputTokenLimit: 1048576, outputTokenLimit: 65536, supportedGenerationMethods: ["generateContent", "countTokens"] }));
      return new Response(JSON.stringify({ models }), { headers: JSON_HEADERS });
    }
    const route = req.method === "POST" ? ROUTE.exec(url.pathname) : null;
    if (route === null) return error(404, `The requested URL ${url.pathname} was not found on this server.`);
    if (b.status && b.status !== 200) return error(b.status, b.status === 503 ? "The model is overloaded. Please try again later." : `Mock injected error (status ${b.status})`);
    if (badJson || body === null) return error(400, "Invalid JSON payload received.");
    try {
      validate(body, b);
    } catch (e) {
      if (e instanceof Invalid) return error(400, e.message);
      throw e;
    }
    const p = plan(decodeURIComponent(route[2]), body, b);
    if (route[3] === "generateContent") return new Response(JSON.stringify(whole(p, nextId())), { headers: JSON_HEADERS });
    if (url.searchParams.get("alt") === "sse") return stream(req, p, b, () => { mock.aborts++; });
    return new Response(JSON.stringify(steps(p, nextId()).events), { headers: JSON_HEADERS });
  }

  const mock: GeminiMock = serveMock<RecordedRequest, GeminiMockBehavior>(opts, initial, handle, (e) => error(500, String(e)));
  return mock;
}

if (import.meta.main) await runMockCli<GeminiMockBehavior>("gemini", 9200, startMockGemini);
