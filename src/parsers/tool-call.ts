/**
 * Turning a tool call the model wrote as JSON into OpenAI's parts: a function name and an
 * `arguments` string holding a JSON object. Anything that does not fit is refused (null), and
 * the caller then passes the model's text through as content instead.
 */

import { memberSpan } from "./json-extent.ts";

/** A tool call found in the text, before it gets its index and id. */
export interface FoundCall {
  name: string;
  /** JSON text of an object, as the model wrote it. */
  arguments: string;
  /** The model's own call id, where its format has one (Mistral). */
  id?: string;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Parses `text` as JSON, or returns undefined. */
export function tryParseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** True when `text` is a JSON object. */
export function isJsonObjectText(text: string): boolean {
  return isPlainObject(tryParseJson(text));
}

/**
 * The call in `value`, the parse of the object text `raw` (`raw` itself when `value` is a
 * member of a larger text: pass that member's text). Arguments are taken from the first of
 * `argumentKeys` present: an object is passed on as written, a string (some models quote their
 * arguments) as it is; a missing one means no arguments, `{}`.
 *
 * @example
 * const raw = '{"name": "get_weather", "arguments": {"city": "Paris"}}';
 * callFromJson(JSON.parse(raw), raw, ["arguments"])
 * // { name: "get_weather", arguments: '{"city": "Paris"}' }
 */
export function callFromJson(value: unknown, raw: string, argumentKeys: readonly string[]): FoundCall | null {
  if (!isPlainObject(value)) return null;
  const name = value.name;
  if (typeof name !== "string" || name.length === 0) return null;
  const id = typeof value.id === "string" && value.id.length > 0 ? value.id : undefined;
  for (const key of argumentKeys) {
    if (!(key in value)) continue;
    const args = value[key];
    if (typeof args === "string") return { name, arguments: args, id };
    if (!isPlainObject(args)) return null;
    const span = memberSpan(raw, key);
    return { name, arguments: span ? raw.slice(span[0], span[1]) : JSON.stringify(args), id };
  }
  return { name, arguments: "{}", id };
}

const ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const idBytes = new Uint8Array(24);

/**
 * A fresh tool-call id in OpenAI's shape: `call_` and 24 letters and digits.
 *
 * @example
 * randomToolCallId() // "call_q3ZJ0xk2hT9pW1mB4cYv8aLd"
 */
export function randomToolCallId(): string {
  crypto.getRandomValues(idBytes);
  let id = "call_";
  // 256 % 62 leaves a slight bias towards the first letters; ids need uniqueness, not uniformity.
  for (let i = 0; i < idBytes.length; i++) id += ID_ALPHABET[idBytes[i] % 62];
  return id;
}
