/**
 * Refusals raised while translating a client's request: 400s in the OpenAI error shape that name
 * the offending field in `param`, thrown as {@link GatewayError} so app.ts answers and audits them
 * like any other stage's refusal.
 *
 * Shared by the provider folders.
 */
import { GatewayError } from "../../errors";
import type { OpenAIFunctionTool } from "./openai-wire";

/**
 * The client used a feature the target provider cannot honour; silently dropping it would change
 * the meaning of the request.
 *
 * @example
 * if (body.n > 1) unsupported("n", "Anthropic returns one choice per request");
 */
export function unsupported(param: string, why: string): never {
  throw new GatewayError(400, `'${param}' is not supported for this model: ${why}.`, "invalid_request_error", "unsupported_parameter", param, undefined, "adapter");
}

/**
 * The field is malformed (wrong type, out of range, undecodable).
 *
 * @example
 * invalid("messages[2].tool_calls[0].function.arguments", "must be a JSON object");
 */
export function invalid(param: string, why: string): never {
  throw new GatewayError(400, `Invalid '${param}': ${why}.`, "invalid_request_error", "invalid_value", param, undefined, "adapter");
}

/** A data: URL split into its media type and base64 payload, or undefined if it is not one. */
export function parseDataUrl(url: string): { mediaType: string; data: string } | undefined {
  if (!url.startsWith("data:")) return undefined;
  const comma = url.indexOf(",");
  if (comma < 0) return undefined;
  const header = url.slice(5, comma);
  // Only base64 payloads: both providers take base64 and re-encoding percent-escaped text is not worth it.
  if (!header.toLowerCase().endsWith(";base64")) return undefined;
  const mediaType = header.slice(0, header.indexOf(";")).toLowerCase();
  return { mediaType: mediaType === "image/jpg" ? "image/jpeg" : mediaType, data: url.slice(comma + 1) };
}

/** The text of a string-or-parts content, parts joined without a separator; other part kinds go to `other`. */
export function textOf(content: unknown, param: string, other?: (part: Record<string, unknown>, at: string) => void): string {
  if (content === null || content === undefined) return "";
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) invalid(param, "must be a string or an array of content parts");
  let text = "";
  for (let i = 0; i < content.length; i++) {
    const part = content[i] as Record<string, unknown>;
    const at = `${param}[${i}]`;
    if (part?.type === "text" && typeof part.text === "string") text += part.text;
    else if (part?.type === "refusal" && typeof part.refusal === "string") text += part.refusal;
    else if (other !== undefined && part !== null && typeof part === "object") other(part, at);
    else invalid(at, "only text parts are allowed here");
  }
  return text;
}

/**
 * Tool-call arguments are a JSON string in OpenAI's format and an object in Anthropic's and Gemini's.
 *
 * @example
 * parseArguments('{"city":"Paris"}', "messages[1].tool_calls[0].function.arguments"); // { city: "Paris" }
 */
export function parseArguments(args: unknown, at: string): Record<string, unknown> {
  if (args === undefined || args === null || args === "") return {};
  if (typeof args !== "string") invalid(at, "must be a JSON string");
  let parsed: unknown;
  try {
    parsed = JSON.parse(args);
  } catch {
    invalid(at, "is not valid JSON");
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) invalid(at, "must encode a JSON object");
  return parsed as Record<string, unknown>;
}

/**
 * The function tools of an OpenAI request, checked the same way for every provider that can
 * only take function tools: undefined for none, 400 naming the field for anything else.
 *
 * @example
 * for (const { name, description, parameters } of functionTools(body.tools) ?? []) ...
 */
export function functionTools(tools: readonly OpenAIFunctionTool[] | null | undefined): OpenAIFunctionTool["function"][] | undefined {
  if (tools === undefined || tools === null) return undefined;
  if (!Array.isArray(tools)) invalid("tools", "must be an array");
  if (tools.length === 0) return undefined;
  return tools.map((t, i) => {
    if (t?.type !== "function") unsupported(`tools[${i}].type`, `only function tools are supported, not '${String(t?.type)}'`);
    const f = t.function;
    if (typeof f?.name !== "string" || f.name === "") invalid(`tools[${i}].function.name`, "must be a non-empty string");
    const p = f.parameters;
    if (p !== undefined && p !== null && (typeof p !== "object" || Array.isArray(p))) invalid(`tools[${i}].function.parameters`, "must be a JSON Schema object");
    return f;
  });
}
