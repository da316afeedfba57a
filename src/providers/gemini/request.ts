/**
 * OpenAI chat request → Gemini generateContent request (the model and streaming choice go in the
 * URL: see ./index.ts `geminiUrl`).
 *
 * | OpenAI | Gemini | |
 * | :-- | :-- | :-- |
 * | system / developer messages | `systemInstruction.parts` | hoisted, in order |
 * | user / assistant | `contents` role user / model | consecutive same-role turns merged |
 * | text parts | `{text}` | |
 * | image_url data: URL, file data: URL, input_audio | `{inlineData}` | http(s) image URLs → 400: Gemini takes bytes or its own file URIs, and the gateway does not fetch URLs for clients |
 * | assistant tool_calls | `{functionCall: {name, args}}` | a thought signature carried in the id (./tool-ids.ts) goes back on the part |
 * | tool messages | `{functionResponse: {name, response}}` in a user turn | the name comes from the matching earlier tool call; a JSON-object result is passed as is, other text as `{"output": text}` |
 * | temperature, top_p, top_k, seed, presence_penalty, frequency_penalty | generationConfig temperature, topP, topK, seed, presencePenalty, frequencyPenalty | |
 * | max_completion_tokens ?? max_tokens | maxOutputTokens | |
 * | stop | stopSequences | |
 * | n | candidateCount | |
 * | response_format json_object / json_schema | responseMimeType application/json (+ responseJsonSchema) | |
 * | tools (function) | `tools[0].functionDeclarations` with `parametersJsonSchema` | full JSON Schema, no conversion to the OpenAPI subset |
 * | tool_choice auto / none / required / named | functionCallingConfig AUTO / NONE / ANY / ANY + allowedFunctionNames | |
 *
 * Refused with 400: `logprobs` / `top_logprobs` (not translated back), a non-empty `logit_bias`,
 * `audio` or an audio `modalities`, the deprecated `functions` / `function_call`,
 * `web_search_options`, non-function tools, `tool_choice` of other types, file ids.
 *
 * Dropped: `user` and `safety_identifier` (no end-user field), `parallel_tool_calls` (no switch),
 * `reasoning_effort` (thinking budgets differ per model), `store`, `metadata`, `service_tier`,
 * `prediction`, `verbosity`, `prompt_cache_key`, `stream_options` (for the stream translator), a
 * message's `name`, an image's `detail`, an assistant's `reasoning_content`.
 */
import type { OpenAIChatRequest, OpenAIMessage } from "../common/openai-wire";
import { functionTools, invalid, parseArguments, parseDataUrl, textOf, unsupported } from "../common/reject";
import { signatureOf } from "./tool-ids";
import type { GeminiContent, GeminiFunctionDeclaration, GeminiGenerationConfig, GeminiPart, GeminiRequest } from "./types";

/**
 * @example
 * toGeminiRequest({ model: "gemini-x", messages: [{ role: "system", content: "Be brief." }, { role: "user", content: "Hi" }], max_tokens: 50 });
 * // { systemInstruction: { parts: [{ text: "Be brief." }] }, contents: [{ role: "user", parts: [{ text: "Hi" }] }], generationConfig: { maxOutputTokens: 50 } }
 */
export function toGeminiRequest(body: OpenAIChatRequest): GeminiRequest {
  refuseUnsupported(body);
  if (!Array.isArray(body.messages)) invalid("messages", "must be an array");

  const system: { text: string }[] = [];
  const contents: GeminiContent[] = [];
  const toolNames = new Map<string, string>(); // tool call id → function name, for the results that follow
  for (let i = 0; i < body.messages.length; i++) convertMessage(body.messages[i], `messages[${i}]`, system, contents, toolNames);

  const out: GeminiRequest = { contents };
  if (system.length > 0) out.systemInstruction = { parts: system };
  const tools = convertTools(body.tools);
  if (tools !== undefined) out.tools = [{ functionDeclarations: tools }];
  const mode = callingConfig(body.tool_choice, tools !== undefined);
  if (mode !== undefined) out.toolConfig = { functionCallingConfig: mode };
  const config = generationConfig(body);
  if (config !== undefined) out.generationConfig = config;
  return out;
}

function refuseUnsupported(body: OpenAIChatRequest): void {
  if (body.logprobs === true) unsupported("logprobs", "log probabilities are not translated from Gemini");
  if (typeof body.top_logprobs === "number" && body.top_logprobs > 0) unsupported("top_logprobs", "log probabilities are not translated from Gemini");
  if (body.logit_bias && typeof body.logit_bias === "object" && Object.keys(body.logit_bias).length > 0) unsupported("logit_bias", "Gemini has no token biases");
  if (body.audio != null || (Array.isArray(body.modalities) && body.modalities.includes("audio"))) unsupported(body.audio != null ? "audio" : "modalities", "audio output is not translated from Gemini");
  if (body.functions !== undefined) unsupported("functions", "deprecated by OpenAI; send `tools`");
  if (body.function_call !== undefined) unsupported("function_call", "deprecated by OpenAI; send `tool_choice`");
  if (body.web_search_options !== undefined) unsupported("web_search_options", "web search is not offered through this gateway");
}

function generationConfig(body: OpenAIChatRequest): GeminiGenerationConfig | undefined {
  const c: GeminiGenerationConfig = {};
  const num = (v: unknown) => (typeof v === "number" ? v : undefined);
  const set = <K extends keyof GeminiGenerationConfig>(k: K, v: GeminiGenerationConfig[K] | undefined) => {
    if (v !== undefined) c[k] = v;
  };
  set("temperature", num(body.temperature));
  set("topP", num(body.top_p));
  set("topK", num(body.top_k));
  set("seed", num(body.seed));
  if (num(body.presence_penalty) !== 0) set("presencePenalty", num(body.presence_penalty));
  if (num(body.frequency_penalty) !== 0) set("frequencyPenalty", num(body.frequency_penalty));
  const max = body.max_completion_tokens ?? body.max_tokens;
  if (max !== undefined && max !== null) {
    if (typeof max !== "number" || !Number.isInteger(max) || max < 1) invalid(body.max_completion_tokens != null ? "max_completion_tokens" : "max_tokens", "must be a positive integer");
    c.maxOutputTokens = max;
  }
  if (typeof body.n === "number" && body.n !== 1) {
    if (!Number.isInteger(body.n) || body.n < 1) invalid("n", "must be a positive integer");
    c.candidateCount = body.n;
  }
  const stop = body.stop;
  if (typeof stop === "string" && stop !== "") c.stopSequences = [stop];
  else if (Array.isArray(stop)) {
    if (stop.some((s) => typeof s !== "string")) invalid("stop", "must be a string or an array of strings");
    const list = stop.filter((s) => s !== "");
    if (list.length > 0) c.stopSequences = list;
  }
  const format = body.response_format;
  if (format?.type === "json_object") c.responseMimeType = "application/json";
  else if (format?.type === "json_schema") {
    const schema = format.json_schema?.schema;
    if (schema === undefined || schema === null || typeof schema !== "object") invalid("response_format.json_schema.schema", "must be a JSON Schema object");
    c.responseMimeType = "application/json";
    c.responseJsonSchema = schema;
  }
  return Object.keys(c).length > 0 ? c : undefined;
}

function pushTurn(contents: GeminiContent[], role: "user" | "model", parts: GeminiPart[]): void {
  if (parts.length === 0) return;
  const last = contents[contents.length - 1];
  if (last !== undefined && last.role === role) last.parts.push(...parts);
  else contents.push({ role, parts });
}

function convertMessage(m: OpenAIMessage, at: string, system: { text: string }[], contents: GeminiContent[], toolNames: Map<string, string>): void {
  if (m === null || typeof m !== "object") invalid(at, "must be an object");
  switch (m.role) {
    case "system":
    case "developer": {
      const text = textOf(m.content, `${at}.content`);
      if (text !== "") system.push({ text });
      return;
    }
    case "user":
      return pushTurn(contents, "user", userParts(m.content, `${at}.content`));
    case "assistant":
      return pushTurn(contents, "model", modelParts(m, at, toolNames));
    case "tool": {
      if (typeof m.tool_call_id !== "string" || m.tool_call_id === "") invalid(`${at}.tool_call_id`, "a tool message must name the tool call it answers");
      const name = toolNames.get(m.tool_call_id);
      if (name === undefined) invalid(`${at}.tool_call_id`, `no earlier assistant tool call has id '${m.tool_call_id}'`);
      return pushTurn(contents, "user", [{ functionResponse: { name, response: toolResponse(textOf(m.content, `${at}.content`)) } }]);
    }
    default:
      invalid(`${at}.role`, `unknown role '${String((m as { role?: unknown }).role)}'`);
  }
}

/** Gemini wants an object: a JSON-object result is passed as is, anything else under "output". */
function toolResponse(text: string): Record<string, unknown> {
  if (text.startsWith("{")) {
    try {
      const parsed = JSON.parse(text);
      if (parsed !== null && typeof parsed === "object" && !Array.isArray(parsed)) return parsed;
    } catch {
      // plain text that happens to start with a brace
    }
  }
  return { output: text };
}

const AUDIO_TYPES: Record<string, string> = { wav: "audio/wav", mp3: "audio/mp3" };

function userParts(content: OpenAIMessage["content"], at: string): GeminiPart[] {
  if (typeof content === "string") return content === "" ? [] : [{ text: content }];
  if (content === null || content === undefined) return [];
  if (!Array.isArray(content)) invalid(at, "must be a string or an array of content parts");
  const parts: GeminiPart[] = [];
  for (let i = 0; i < content.length; i++) {
    const part = content[i] as unknown as Record<string, any>;
    const pat = `${at}[${i}]`;
    switch (part?.type) {
      case "text":
        if (typeof part.text !== "string") invalid(`${pat}.text`, "must be a string");
        if (part.text !== "") parts.push({ text: part.text });
        break;
      case "image_url": {
        const url = part.image_url?.url;
        if (typeof url !== "string" || url === "") invalid(`${pat}.image_url.url`, "must be a URL");
        if (!url.startsWith("data:")) unsupported(`${pat}.image_url.url`, "Gemini takes images as inline data; send a base64 data: URL");
        const parsed = parseDataUrl(url);
        if (parsed === undefined || !parsed.mediaType.startsWith("image/")) invalid(`${pat}.image_url.url`, "must be a base64 image data: URL");
        parts.push({ inlineData: { mimeType: parsed.mediaType, data: parsed.data } });
        break;
      }
      case "file": {
        if (part.file?.file_id !== undefined) unsupported(`${pat}.file.file_id`, "uploaded files are not shared with Gemini; send file_data");
        const parsed = typeof part.file?.file_data === "string" ? parseDataUrl(part.file.file_data) : undefined;
        if (parsed === undefined) invalid(`${pat}.file.file_data`, "must be a base64 data: URL");
        parts.push({ inlineData: { mimeType: parsed.mediaType, data: parsed.data } });
        break;
      }
      case "input_audio": {
        const mime = AUDIO_TYPES[String(part.input_audio?.format)];
        if (mime === undefined || typeof part.input_audio?.data !== "string") invalid(`${pat}.input_audio`, "must have base64 data and a format of wav or mp3");
        parts.push({ inlineData: { mimeType: mime, data: part.input_audio.data } });
        break;
      }
      default:
        invalid(`${pat}.type`, `unknown content part type '${String(part?.type)}'`);
    }
  }
  return parts;
}

function modelParts(m: OpenAIMessage, at: string, toolNames: Map<string, string>): GeminiPart[] {
  const parts: GeminiPart[] = [];
  const text = textOf(m.content, `${at}.content`);
  if (text !== "") parts.push({ text });
  else if (typeof m.refusal === "string" && m.refusal !== "") parts.push({ text: m.refusal });
  const calls = m.tool_calls;
  if (calls === undefined || calls === null) return parts;
  if (!Array.isArray(calls)) invalid(`${at}.tool_calls`, "must be an array");
  for (let j = 0; j < calls.length; j++) {
    const call = calls[j];
    const cat = `${at}.tool_calls[${j}]`;
    if (call?.type !== undefined && call.type !== "function") unsupported(`${cat}.type`, "only function tool calls can be replayed");
    if (typeof call?.id !== "string" || call.id === "") invalid(`${cat}.id`, "must be a non-empty string");
    if (typeof call.function?.name !== "string" || call.function.name === "") invalid(`${cat}.function.name`, "must be a non-empty string");
    toolNames.set(call.id, call.function.name);
    const part: GeminiPart = { functionCall: { name: call.function.name, args: parseArguments(call.function.arguments, `${cat}.function.arguments`) } };
    const signature = signatureOf(call.id);
    if (signature !== undefined) part.thoughtSignature = signature;
    parts.push(part);
  }
  return parts;
}

function convertTools(tools: OpenAIChatRequest["tools"]): GeminiFunctionDeclaration[] | undefined {
  return functionTools(tools)?.map((f) => {
    const decl: GeminiFunctionDeclaration = { name: f.name };
    if (typeof f.description === "string" && f.description !== "") decl.description = f.description;
    if (f.parameters !== undefined && f.parameters !== null) decl.parametersJsonSchema = f.parameters;
    return decl;
  });
}

function callingConfig(choice: OpenAIChatRequest["tool_choice"], haveTools: boolean): NonNullable<GeminiRequest["toolConfig"]>["functionCallingConfig"] | undefined {
  if (choice === undefined || choice === null || !haveTools) return undefined;
  if (choice === "auto") return { mode: "AUTO" };
  if (choice === "none") return { mode: "NONE" };
  if (choice === "required") return { mode: "ANY" };
  if (typeof choice === "object" && choice.type === "function") {
    const name = (choice as { function?: { name?: unknown } }).function?.name;
    if (typeof name !== "string" || name === "") invalid("tool_choice.function.name", "must be a non-empty string");
    return { mode: "ANY", allowedFunctionNames: [name] };
  }
  if (typeof choice === "object") unsupported("tool_choice", `tool_choice of type '${String(choice.type)}' has no Gemini equivalent`);
  invalid("tool_choice", "must be 'auto', 'none', 'required' or a function choice");
}
