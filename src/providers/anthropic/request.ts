/**
 * OpenAI chat request → Anthropic Messages request.
 *
 * Field by field (anything not listed is an unknown extension and is dropped):
 *
 * | OpenAI | Anthropic | |
 * | :-- | :-- | :-- |
 * | system / developer messages | top-level `system` | hoisted from wherever they stand, in order |
 * | user / assistant messages | `messages` | consecutive same-role turns merged (tool results join the user turn) |
 * | assistant `tool_calls` | `tool_use` blocks | arguments parsed; not a JSON object → 400 |
 * | `tool` messages | `tool_result` blocks in a user turn | |
 * | image_url data: / http(s) | image block, base64 / url source | jpeg, png, gif, webp; other types → 400 |
 * | file (PDF data: URL) | document block | `file_id` → 400 (no shared file store) |
 * | max_completion_tokens ?? max_tokens | `max_tokens` | required upstream: `defaultMaxTokens` when absent |
 * | temperature, top_p, top_k | same | temperature > 1 → 400 (Anthropic's range is 0..1; rescaling would change the meaning) |
 * | stop | `stop_sequences` | |
 * | stream | `stream` | `stream_options.include_usage` is for the stream translator |
 * | tools (function) | `tools` with `input_schema` | other tool types → 400 |
 * | tool_choice auto/none/required/named | auto/none/any/tool | `allowed_tools` → 400 |
 * | parallel_tool_calls: false | `tool_choice.disable_parallel_tool_use` | |
 * | user (else safety_identifier) | `metadata.user_id` | |
 * | response_format json_schema | `output_config.format` | json_object → 400 (no schema to give) |
 *
 * Refused with 400 (dropping them would silently change the answer): `n` > 1, `logprobs` /
 * `top_logprobs`, a non-empty `logit_bias`, non-zero `frequency_penalty` / `presence_penalty`,
 * `audio` or an audio `modalities`, input_audio parts, the deprecated `functions` /
 * `function_call`, `web_search_options`.
 *
 * Dropped (hints or OpenAI-side features with no effect on the text): `seed`, `store`, `metadata`,
 * `service_tier`, `prediction`, `reasoning_effort`, `verbosity`, `prompt_cache_key`, a message's
 * `name`, an image's `detail`, an assistant's `reasoning_content` (Anthropic only takes back
 * thinking blocks with their signature, which an OpenAI client never had).
 */
import type { OpenAIChatRequest, OpenAIMessage } from "../common/openai-wire";
import { functionTools, invalid, parseArguments, parseDataUrl, textOf, unsupported } from "../common/reject";
import type { AnthropicContentBlock, AnthropicMessage, AnthropicRequest, AnthropicTextBlock, AnthropicTool, AnthropicToolChoice } from "./types";

export interface AnthropicRequestOptions {
  /** Anthropic requires `max_tokens`; used when the client gave neither limit. */
  defaultMaxTokens: number;
}

const IMAGE_TYPES = new Set(["image/jpeg", "image/png", "image/gif", "image/webp"]);

/**
 * @example
 * const req = toAnthropicRequest({ model: "claude-x", messages: [{ role: "system", content: "Be brief." }, { role: "user", content: "Hi" }] }, { defaultMaxTokens: 4096 });
 * // { model: "claude-x", max_tokens: 4096, system: "Be brief.", messages: [{ role: "user", content: [{ type: "text", text: "Hi" }] }] }
 */
export function toAnthropicRequest(body: OpenAIChatRequest, opts: AnthropicRequestOptions): AnthropicRequest {
  refuseUnsupported(body);
  if (!Array.isArray(body.messages)) invalid("messages", "must be an array");

  const system: AnthropicTextBlock[] = [];
  const messages: AnthropicMessage[] = [];
  for (let i = 0; i < body.messages.length; i++) convertMessage(body.messages[i], `messages[${i}]`, system, messages);

  const out: AnthropicRequest = { model: body.model, max_tokens: maxTokens(body, opts.defaultMaxTokens), messages };
  if (system.length === 1) out.system = system[0].text;
  else if (system.length > 1) out.system = system;

  if (typeof body.temperature === "number") {
    if (body.temperature < 0 || body.temperature > 1) unsupported("temperature", "Anthropic models take a temperature between 0 and 1");
    out.temperature = body.temperature;
  }
  if (typeof body.top_p === "number") out.top_p = body.top_p;
  if (typeof body.top_k === "number") out.top_k = body.top_k;
  const stop = stopSequences(body.stop);
  if (stop !== undefined) out.stop_sequences = stop;
  if (body.stream === true) out.stream = true;

  const tools = convertTools(body.tools);
  if (tools !== undefined) out.tools = tools;
  const choice = convertToolChoice(body.tool_choice, body.parallel_tool_calls, tools !== undefined);
  if (choice !== undefined) out.tool_choice = choice;

  const user = typeof body.user === "string" && body.user !== "" ? body.user : typeof body.safety_identifier === "string" ? body.safety_identifier : undefined;
  if (user !== undefined && user !== "") out.metadata = { user_id: user };

  const format = body.response_format;
  if (format?.type === "json_schema") {
    const schema = format.json_schema?.schema;
    if (schema === undefined || schema === null || typeof schema !== "object") invalid("response_format.json_schema.schema", "must be a JSON Schema object");
    out.output_config = { format: { type: "json_schema", schema } };
  } else if (format?.type === "json_object") {
    unsupported("response_format", "Anthropic's structured output needs a schema; use {\"type\":\"json_schema\"}");
  }
  return out;
}

function refuseUnsupported(body: OpenAIChatRequest): void {
  if (typeof body.n === "number" && body.n > 1) unsupported("n", "Anthropic returns one choice per request");
  if (body.logprobs === true) unsupported("logprobs", "Anthropic does not return log probabilities");
  if (typeof body.top_logprobs === "number" && body.top_logprobs > 0) unsupported("top_logprobs", "Anthropic does not return log probabilities");
  if (body.logit_bias && typeof body.logit_bias === "object" && Object.keys(body.logit_bias).length > 0) unsupported("logit_bias", "Anthropic has no token biases");
  for (const p of ["frequency_penalty", "presence_penalty"] as const) {
    if (typeof body[p] === "number" && body[p] !== 0) unsupported(p, "Anthropic has no repetition penalties");
  }
  if (body.audio != null || (Array.isArray(body.modalities) && body.modalities.includes("audio"))) unsupported(body.audio != null ? "audio" : "modalities", "Anthropic does not produce audio");
  if (body.functions !== undefined) unsupported("functions", "deprecated by OpenAI; send `tools`");
  if (body.function_call !== undefined) unsupported("function_call", "deprecated by OpenAI; send `tool_choice`");
  if (body.web_search_options !== undefined) unsupported("web_search_options", "web search is not offered through this gateway");
}

function maxTokens(body: OpenAIChatRequest, fallback: number): number {
  const v = body.max_completion_tokens ?? body.max_tokens;
  if (v === undefined || v === null) return fallback;
  if (typeof v !== "number" || !Number.isInteger(v) || v < 1) invalid(body.max_completion_tokens != null ? "max_completion_tokens" : "max_tokens", "must be a positive integer");
  return v;
}

function stopSequences(stop: OpenAIChatRequest["stop"]): string[] | undefined {
  if (stop === undefined || stop === null) return undefined;
  if (typeof stop === "string") return stop === "" ? undefined : [stop];
  if (!Array.isArray(stop) || stop.some((s) => typeof s !== "string")) invalid("stop", "must be a string or an array of strings");
  const list = stop.filter((s) => s !== "");
  return list.length > 0 ? list : undefined;
}

/** Appends blocks to the conversation, merging into the previous turn when the role repeats. */
function pushTurn(messages: AnthropicMessage[], role: "user" | "assistant", blocks: AnthropicContentBlock[]): void {
  if (blocks.length === 0) return; // Anthropic rejects empty turns; an empty message carries nothing anyway
  const last = messages[messages.length - 1];
  if (last !== undefined && last.role === role) (last.content as AnthropicContentBlock[]).push(...blocks);
  else messages.push({ role, content: blocks });
}

function convertMessage(m: OpenAIMessage, at: string, system: AnthropicTextBlock[], messages: AnthropicMessage[]): void {
  if (m === null || typeof m !== "object") invalid(at, "must be an object");
  switch (m.role) {
    case "system":
    case "developer": {
      const text = textOf(m.content, `${at}.content`);
      if (text !== "") system.push({ type: "text", text });
      return;
    }
    case "user":
      return pushTurn(messages, "user", userBlocks(m.content, `${at}.content`));
    case "assistant":
      return pushTurn(messages, "assistant", assistantBlocks(m, at));
    case "tool": {
      if (typeof m.tool_call_id !== "string" || m.tool_call_id === "") invalid(`${at}.tool_call_id`, "a tool message must name the tool call it answers");
      const text = textOf(m.content, `${at}.content`);
      const result: AnthropicContentBlock = { type: "tool_result", tool_use_id: m.tool_call_id };
      if (text !== "") result.content = text;
      return pushTurn(messages, "user", [result]);
    }
    default:
      invalid(`${at}.role`, `unknown role '${String((m as { role?: unknown }).role)}'`);
  }
}

function userBlocks(content: OpenAIMessage["content"], at: string): AnthropicContentBlock[] {
  if (typeof content === "string") return content === "" ? [] : [{ type: "text", text: content }];
  if (content === null || content === undefined) return [];
  if (!Array.isArray(content)) invalid(at, "must be a string or an array of content parts");
  const blocks: AnthropicContentBlock[] = [];
  for (let i = 0; i < content.length; i++) {
    const part = content[i] as unknown as Record<string, any>;
    const pat = `${at}[${i}]`;
    switch (part?.type) {
      case "text":
        if (typeof part.text !== "string") invalid(`${pat}.text`, "must be a string");
        if (part.text !== "") blocks.push({ type: "text", text: part.text });
        break;
      case "image_url":
        blocks.push(imageBlock(part.image_url?.url, `${pat}.image_url.url`));
        break;
      case "file":
        blocks.push(documentBlock(part.file, `${pat}.file`));
        break;
      case "input_audio":
        unsupported(pat, "Anthropic models do not take audio input");
      default:
        invalid(`${pat}.type`, `unknown content part type '${String(part?.type)}'`);
    }
  }
  return blocks;
}

function imageBlock(url: unknown, at: string): AnthropicContentBlock {
  if (typeof url !== "string" || url === "") invalid(at, "must be a URL");
  if (url.startsWith("data:")) {
    const parsed = parseDataUrl(url);
    if (parsed === undefined) invalid(at, "a data: URL must be base64-encoded");
    if (!IMAGE_TYPES.has(parsed.mediaType)) unsupported(at, `Anthropic accepts image/jpeg, image/png, image/gif and image/webp, not ${parsed.mediaType}`);
    return { type: "image", source: { type: "base64", media_type: parsed.mediaType, data: parsed.data } };
  }
  if (url.startsWith("https://") || url.startsWith("http://")) return { type: "image", source: { type: "url", url } };
  invalid(at, "must be an http(s) URL or a base64 data: URL");
}

function documentBlock(file: { file_data?: unknown; file_id?: unknown; filename?: unknown } | undefined, at: string): AnthropicContentBlock {
  if (file?.file_id !== undefined) unsupported(`${at}.file_id`, "uploaded files are not shared with Anthropic; send file_data");
  const parsed = typeof file?.file_data === "string" ? parseDataUrl(file.file_data) : undefined;
  if (parsed === undefined) invalid(`${at}.file_data`, "must be a base64 data: URL");
  if (parsed.mediaType !== "application/pdf") unsupported(`${at}.file_data`, `Anthropic documents are PDFs, not ${parsed.mediaType}`);
  const block: AnthropicContentBlock = { type: "document", source: { type: "base64", media_type: "application/pdf", data: parsed.data } };
  if (typeof file?.filename === "string" && file.filename !== "") block.title = file.filename;
  return block;
}

function assistantBlocks(m: OpenAIMessage, at: string): AnthropicContentBlock[] {
  const blocks: AnthropicContentBlock[] = [];
  const text = textOf(m.content, `${at}.content`);
  if (text !== "") blocks.push({ type: "text", text });
  else if (typeof m.refusal === "string" && m.refusal !== "") blocks.push({ type: "text", text: m.refusal });
  const calls = m.tool_calls;
  if (calls === undefined || calls === null) return blocks;
  if (!Array.isArray(calls)) invalid(`${at}.tool_calls`, "must be an array");
  for (let j = 0; j < calls.length; j++) {
    const call = calls[j];
    const cat = `${at}.tool_calls[${j}]`;
    if (call?.type !== undefined && call.type !== "function") unsupported(`${cat}.type`, "only function tool calls can be replayed");
    if (typeof call?.id !== "string" || call.id === "") invalid(`${cat}.id`, "must be a non-empty string");
    if (typeof call.function?.name !== "string") invalid(`${cat}.function.name`, "must be a string");
    blocks.push({ type: "tool_use", id: call.id, name: call.function.name, input: parseArguments(call.function.arguments, `${cat}.function.arguments`) });
  }
  return blocks;
}

function convertTools(tools: OpenAIChatRequest["tools"]): AnthropicTool[] | undefined {
  return functionTools(tools)?.map((f) => {
    const tool: AnthropicTool = { name: f.name, input_schema: f.parameters ?? { type: "object", properties: {} } };
    if (typeof f.description === "string" && f.description !== "") tool.description = f.description;
    if (f.strict === true) tool.strict = true;
    return tool;
  });
}

function convertToolChoice(choice: OpenAIChatRequest["tool_choice"], parallel: unknown, haveTools: boolean): AnthropicToolChoice | undefined {
  const single = parallel === false;
  if (choice === undefined || choice === null) return single && haveTools ? { type: "auto", disable_parallel_tool_use: true } : undefined;
  let out: AnthropicToolChoice;
  if (choice === "none") return haveTools ? { type: "none" } : undefined;
  if (choice === "auto") out = { type: "auto" };
  else if (choice === "required") out = { type: "any" };
  else if (typeof choice === "object" && choice.type === "function") {
    const name = (choice as { function?: { name?: unknown } }).function?.name;
    if (typeof name !== "string" || name === "") invalid("tool_choice.function.name", "must be a non-empty string");
    out = { type: "tool", name };
  } else if (typeof choice === "object") {
    unsupported("tool_choice", `tool_choice of type '${String(choice.type)}' has no Anthropic equivalent`);
  } else invalid("tool_choice", "must be 'auto', 'none', 'required' or a function choice");
  if (single) out.disable_parallel_tool_use = true;
  return out;
}
