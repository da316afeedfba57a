/**
 * What a chat/completions request costs, following OpenAI's published convention (the cookbook
 * "How to count tokens with tiktoken", checked there against the API's usage numbers):
 *
 * - every message costs 3 tokens of formatting, plus the tokens of each of its string fields
 *   (role, content, name, tool_call_id, …), plus 1 more when it has a name;
 * - every request costs 3 more: the reply is primed with `<|start|>assistant<|message|>`;
 * - tool (function) definitions cost what the cookbook's `num_tokens_for_tools` says: per
 *   function 7 (o200k) or 10 (cl100k) + "name:description"; if it has properties, 3 + per
 *   property 3 + "key:type:description" (+ per enum value 3 + its tokens, − 3 once per enum);
 *   12 once after all functions. The description's final "." is dropped, as the model sees it.
 *
 * Beyond the cookbook (estimates, chosen here and documented):
 * - content parts: text parts count their text; an image costs 85 tokens at `detail: "low"`
 *   and 765 otherwise (OpenAI's figure for a 1024×1024 image at high detail: we never fetch
 *   the image, so its size is unknown); any other part (audio, file) costs the same 765;
 * - tool calls in assistant messages count their function name and arguments;
 * - schema parts the cookbook ignores (nested `properties`, `items`, `anyOf`, `minimum`, …) and
 *   non-function tools count as the tokens of their compact JSON.
 * - `response_format` schemas and `tool_choice` are not counted.
 */

import type { EncodingName } from "./encodings.ts";
import { isRecord, type ItemVisitor, type RequestSink, type TextSink } from "./sink.ts";

export const TOKENS_PER_MESSAGE = 3;
export const TOKENS_PER_NAME = 1;
export const REPLY_PRIMING_TOKENS = 3;

export const LOW_DETAIL_IMAGE_TOKENS = 85;
export const IMAGE_TOKENS = 765;
export const OTHER_PART_TOKENS = 765;

const FUNCTION_INIT_O200K = 7;
const FUNCTION_INIT_CL100K = 10;
const PROPERTIES_INIT = 3;
const PROPERTY_KEY = 3;
const ENUM_INIT = -3;
const ENUM_ITEM = 3;
const FUNCTIONS_END = 12;

function visitPart(part: unknown, sink: TextSink): void {
  if (typeof part === "string") {
    sink.text(part);
    return;
  }
  if (!isRecord(part)) return;
  switch (part.type) {
    case "text":
    case "input_text":
    case "output_text":
      if (typeof part.text === "string") sink.text(part.text);
      return;
    case "refusal":
      if (typeof part.refusal === "string") sink.text(part.refusal);
      return;
    case "image_url":
    case "input_image": {
      const image = isRecord(part.image_url) ? part.image_url : part;
      sink.fixed(image.detail === "low" ? LOW_DETAIL_IMAGE_TOKENS : IMAGE_TOKENS);
      return;
    }
    default:
      sink.fixed(OTHER_PART_TOKENS);
  }
}

function visitContent(content: unknown, sink: TextSink): void {
  if (typeof content === "string") sink.text(content);
  else if (Array.isArray(content)) for (const part of content) visitPart(part, sink);
}

/** `{ name, arguments }` of a function call, or `{ name, input }` of a custom tool call. */
function visitCall(call: unknown, sink: TextSink): void {
  if (!isRecord(call)) return;
  if (typeof call.name === "string") sink.text(call.name);
  if (typeof call.arguments === "string") sink.text(call.arguments);
  if (typeof call.input === "string") sink.text(call.input);
}

function visitToolCalls(calls: unknown, sink: TextSink): void {
  if (!Array.isArray(calls)) return;
  for (const call of calls) {
    if (isRecord(call)) visitCall(call.function ?? call.custom, sink);
  }
}

/**
 * One chat message: 3 + its string fields (+ 1 with a name), content parts and tool calls.
 *
 * @example
 * // { role: "user", content: "hi" } → 3 + tokens("user") + tokens("hi")
 */
export const visitChatMessage: ItemVisitor<unknown> = (message, sink) => {
  if (!isRecord(message)) return;
  sink.fixed(TOKENS_PER_MESSAGE);
  for (const key in message) {
    const value = message[key];
    if (key === "content") visitContent(value, sink);
    else if (key === "tool_calls") visitToolCalls(value, sink);
    else if (key === "function_call") visitCall(value, sink);
    else if (typeof value === "string") {
      sink.text(value);
      if (key === "name") sink.fixed(TOKENS_PER_NAME);
    }
  }
};

function withoutFinalPeriod(text: string): string {
  return text.endsWith(".") ? text.slice(0, -1) : text;
}

function stringField(record: Record<string, unknown>, key: string): string {
  const value = record[key];
  return typeof value === "string" ? value : "";
}

function visitProperty(key: string, property: unknown, sink: TextSink): void {
  sink.fixed(PROPERTY_KEY);
  if (!isRecord(property)) {
    sink.text(`${key}::`);
    return;
  }
  if (Array.isArray(property.enum)) {
    sink.fixed(ENUM_INIT);
    for (const value of property.enum) {
      sink.fixed(ENUM_ITEM);
      sink.text(typeof value === "string" ? value : JSON.stringify(value));
    }
  }
  const type = Array.isArray(property.type) ? property.type.join(",") : stringField(property, "type");
  sink.text(`${key}:${type}:${withoutFinalPeriod(stringField(property, "description"))}`);
  for (const field in property) {
    if (field === "type" || field === "description" || field === "enum") continue;
    sink.text(`${field}:${JSON.stringify(property[field])}`);
  }
}

function visitFunction(definition: Record<string, unknown>, functionInit: number, sink: TextSink): void {
  sink.fixed(functionInit);
  sink.text(`${stringField(definition, "name")}:${withoutFinalPeriod(stringField(definition, "description"))}`);
  const parameters = definition.parameters;
  const properties = isRecord(parameters) ? parameters.properties : undefined;
  if (!isRecord(properties)) return;
  let first = true;
  for (const key in properties) {
    if (first) sink.fixed(PROPERTIES_INIT);
    first = false;
    visitProperty(key, properties[key], sink);
  }
}

function visitToolDefinitions(body: Record<string, unknown>, functionInit: number, sink: TextSink): void {
  let functions = 0;
  if (Array.isArray(body.tools)) {
    for (const tool of body.tools) {
      if (isRecord(tool) && tool.type === "function" && isRecord(tool.function)) {
        visitFunction(tool.function, functionInit, sink);
        functions++;
      } else {
        sink.text(JSON.stringify(tool));
      }
    }
  }
  if (Array.isArray(body.functions)) {
    for (const definition of body.functions) {
      if (!isRecord(definition)) continue;
      visitFunction(definition, functionInit, sink);
      functions++;
    }
  }
  if (functions > 0) sink.fixed(FUNCTIONS_END);
}

const visitToolsO200k: ItemVisitor<Record<string, unknown>> = (body, sink) =>
  visitToolDefinitions(body, FUNCTION_INIT_O200K, sink);
const visitToolsCl100k: ItemVisitor<Record<string, unknown>> = (body, sink) =>
  visitToolDefinitions(body, FUNCTION_INIT_CL100K, sink);

function hasItems(value: unknown): boolean {
  return Array.isArray(value) && value.length > 0;
}

/**
 * Reports a chat/completions body to `sink`: one item per message, one for all tool
 * definitions (they are re-sent unchanged every turn), and the reply priming.
 *
 * @example
 * walkChatRequest({ messages: [{ role: "user", content: "hi" }] }, "o200k_base", sink);
 */
export function walkChatRequest(body: unknown, encoding: EncodingName, sink: RequestSink): void {
  if (!isRecord(body)) return;
  if (Array.isArray(body.messages)) {
    for (const message of body.messages) sink.item(visitChatMessage, message);
  }
  if (hasItems(body.tools) || hasItems(body.functions)) {
    sink.item(encoding === "o200k_base" ? visitToolsO200k : visitToolsCl100k, body);
  }
  sink.fixed(REPLY_PRIMING_TOKENS);
}
