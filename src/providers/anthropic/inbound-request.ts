/**
 * Inbound direction: an Anthropic Messages request (a client using Anthropic's SDK against Warden's
 * POST /v1/messages) → an OpenAI chat request for an OpenAI-compatible upstream.
 *
 * | Anthropic | OpenAI | |
 * | :-- | :-- | :-- |
 * | system (string or text blocks) | one system message | blocks joined with "\n" |
 * | user text / image (base64, url) / document (PDF base64) | text / image_url / file parts | other blocks → 400 |
 * | user tool_result | a `tool` message, before the turn's other content | images inside a result → 400; `is_error` dropped |
 * | assistant text / tool_use | content / tool_calls | thinking and redacted_thinking dropped (no OpenAI input form) |
 * | max_tokens | max_tokens | the field every OpenAI-compatible server reads |
 * | temperature, top_p, stop_sequences, stream | temperature, top_p, stop, stream | stream adds `stream_options.include_usage` so the reply can carry usage |
 * | tools (custom) | function tools | server tools (web search, code execution, ...) → 400 |
 * | tool_choice auto / any / tool / none, disable_parallel_tool_use | auto / required / function / none, parallel_tool_calls: false | |
 * | metadata.user_id | user | |
 *
 * Dropped: `top_k` (not OpenAI's; vLLM-style extensions are not assumed), `thinking`,
 * `service_tier`, `container`, `cache_control` marks, citations settings.
 */
import type { OpenAIChatRequest, OpenAIContentPart, OpenAIFunctionTool, OpenAIMessage, OpenAIToolCall } from "../common/openai-wire";
import { invalid, unsupported } from "../common/reject";
import type { AnthropicRequest } from "./types";

/**
 * @example
 * fromAnthropicRequest({ model: "m", max_tokens: 100, system: "Be brief.", messages: [{ role: "user", content: "Hi" }] });
 * // { model: "m", max_tokens: 100, messages: [{ role: "system", content: "Be brief." }, { role: "user", content: "Hi" }] }
 */
export function fromAnthropicRequest(body: AnthropicRequest): OpenAIChatRequest {
  if (body === null || typeof body !== "object") invalid("body", "must be a JSON object");
  if (typeof body.model !== "string" || body.model === "") invalid("model", "is required");
  if (typeof body.max_tokens !== "number" || !Number.isInteger(body.max_tokens) || body.max_tokens < 1) invalid("max_tokens", "is required and must be a positive integer");
  if (!Array.isArray(body.messages)) invalid("messages", "must be an array");

  const messages: OpenAIMessage[] = [];
  const system = systemText(body.system);
  if (system !== "") messages.push({ role: "system", content: system });
  for (let i = 0; i < body.messages.length; i++) convertTurn(body.messages[i], `messages.${i}`, messages);

  const out: OpenAIChatRequest = { model: body.model, messages, max_tokens: body.max_tokens };
  if (typeof body.temperature === "number") out.temperature = body.temperature;
  if (typeof body.top_p === "number") out.top_p = body.top_p;
  if (Array.isArray(body.stop_sequences) && body.stop_sequences.length > 0) out.stop = body.stop_sequences;
  if (body.stream === true) {
    out.stream = true;
    out.stream_options = { include_usage: true };
  }
  if (Array.isArray(body.tools) && body.tools.length > 0) {
    out.tools = body.tools.map((t, i) => {
      if (t.type !== undefined && t.type !== null && t.type !== "custom") unsupported(`tools.${i}.type`, `Anthropic server tool '${t.type}' cannot run on this model`);
      if (typeof t.name !== "string" || t.name === "") invalid(`tools.${i}.name`, "is required");
      const fn: OpenAIFunctionTool = { type: "function", function: { name: t.name, parameters: t.input_schema ?? { type: "object", properties: {} } } };
      if (typeof t.description === "string") fn.function.description = t.description;
      if (t.strict === true) fn.function.strict = true;
      return fn;
    });
  }
  const choice = body.tool_choice;
  if (choice !== undefined && choice !== null) {
    if (choice.type === "auto") out.tool_choice = "auto";
    else if (choice.type === "any") out.tool_choice = "required";
    else if (choice.type === "none") out.tool_choice = "none";
    else if (choice.type === "tool") out.tool_choice = { type: "function", function: { name: choice.name } };
    else invalid("tool_choice.type", `unknown tool_choice type '${String((choice as { type?: unknown }).type)}'`);
    if ("disable_parallel_tool_use" in choice && choice.disable_parallel_tool_use === true) out.parallel_tool_calls = false;
  }
  const user = body.metadata?.user_id;
  if (typeof user === "string" && user !== "") out.user = user;
  return out;
}

function systemText(system: AnthropicRequest["system"]): string {
  if (system === undefined || system === null) return "";
  if (typeof system === "string") return system;
  if (!Array.isArray(system)) invalid("system", "must be a string or an array of text blocks");
  return system.map((b, i) => {
    if (b?.type !== "text" || typeof b.text !== "string") invalid(`system.${i}`, "only text blocks are allowed");
    return b.text;
  }).join("\n");
}

function convertTurn(m: AnthropicRequest["messages"][number], at: string, out: OpenAIMessage[]): void {
  if (m === null || typeof m !== "object") invalid(at, "must be an object");
  if (m.role !== "user" && m.role !== "assistant") invalid(`${at}.role`, "must be 'user' or 'assistant'");
  if (typeof m.content === "string") {
    out.push({ role: m.role, content: m.content });
    return;
  }
  if (!Array.isArray(m.content)) invalid(`${at}.content`, "must be a string or an array of content blocks");
  if (m.role === "assistant") out.push(assistantMessage(m.content, at));
  else userMessages(m.content, at, out);
}

function assistantMessage(blocks: unknown[], at: string): OpenAIMessage {
  let text = "";
  const calls: OpenAIToolCall[] = [];
  for (let i = 0; i < blocks.length; i++) {
    const b = blocks[i] as Record<string, any>;
    const bat = `${at}.content.${i}`;
    if (b?.type === "text") text += String(b.text ?? "");
    else if (b?.type === "tool_use") {
      if (typeof b.id !== "string" || typeof b.name !== "string") invalid(bat, "a tool_use block needs an id and a name");
      calls.push({ id: b.id, type: "function", function: { name: b.name, arguments: JSON.stringify(b.input ?? {}) } });
    } else if (b?.type === "thinking" || b?.type === "redacted_thinking") continue;
    else unsupported(`${bat}.type`, `assistant block '${String(b?.type)}' has no OpenAI form`);
  }
  const msg: OpenAIMessage = { role: "assistant", content: text === "" && calls.length > 0 ? null : text };
  if (calls.length > 0) msg.tool_calls = calls;
  return msg;
}

/** Tool results become `tool` messages, which OpenAI wants right after the assistant's calls. */
function userMessages(blocks: unknown[], at: string, out: OpenAIMessage[]): void {
  const parts: OpenAIContentPart[] = [];
  for (let i = 0; i < blocks.length; i++) {
    const b = blocks[i] as Record<string, any>;
    const bat = `${at}.content.${i}`;
    switch (b?.type) {
      case "text":
        parts.push({ type: "text", text: String(b.text ?? "") });
        break;
      case "image":
        parts.push({ type: "image_url", image_url: { url: sourceUrl(b.source, `${bat}.source`) } });
        break;
      case "document": {
        const s = b.source;
        if (s?.type !== "base64" || s.media_type !== "application/pdf") unsupported(`${bat}.source`, "only base64 PDF documents can be passed on");
        const file: { file_data: string; filename?: string } = { file_data: `data:application/pdf;base64,${s.data}` };
        if (typeof b.title === "string") file.filename = b.title;
        parts.push({ type: "file", file });
        break;
      }
      case "tool_result":
        if (typeof b.tool_use_id !== "string") invalid(`${bat}.tool_use_id`, "is required");
        out.push({ role: "tool", tool_call_id: b.tool_use_id, content: toolResultText(b.content, `${bat}.content`) });
        break;
      default:
        unsupported(`${bat}.type`, `content block '${String(b?.type)}' has no OpenAI form`);
    }
  }
  if (parts.length === 0) return;
  // A turn of plain text stays a plain string: the form every OpenAI-compatible server accepts.
  const plain = parts.every((p) => p.type === "text");
  out.push({ role: "user", content: plain ? parts.map((p) => (p as { text: string }).text).join("") : parts });
}

function sourceUrl(source: Record<string, any> | undefined, at: string): string {
  if (source?.type === "base64" && typeof source.data === "string") return `data:${source.media_type};base64,${source.data}`;
  if (source?.type === "url" && typeof source.url === "string") return source.url;
  unsupported(at, "only base64 and url image sources can be passed on");
}

function toolResultText(content: unknown, at: string): string {
  if (content === undefined || content === null) return "";
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) invalid(at, "must be a string or an array of blocks");
  let text = "";
  for (let i = 0; i < content.length; i++) {
    const b = content[i] as Record<string, any>;
    if (b?.type !== "text") unsupported(`${at}.${i}.type`, "OpenAI tool results carry text only");
    text += String(b.text ?? "");
  }
  return text;
}
