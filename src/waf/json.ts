/**
 * Parses a request body into a JSON object, refusing bodies nested deeper than the configured
 * limit (WARDEN_MAX_JSON_DEPTH).
 *
 * The depth is checked on the raw bytes before JSON.parse: a body of a million `[` is refused
 * after one cheap scan instead of being built into a million nested arrays first, and nothing
 * later (schema check, WAF, re-serialisation after redaction) ever walks a deep value.
 */
import { GatewayError } from "../errors";

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;

/**
 * The deepest nesting of objects and arrays in `bytes`, stopping early once it passes `limit`.
 *
 * String contents are skipped with `indexOf` (memchr speed), so a body that is mostly message
 * text costs a handful of native searches, not a JavaScript loop over every byte. The scan
 * trusts nothing: on malformed input it returns some number and JSON.parse reports the error.
 *
 * @example
 * jsonDepth(new TextEncoder().encode('{"a":[1,{"b":"]]]"}]}'), 64); // 3
 */
export function jsonDepth(bytes: Uint8Array, limit: number): number {
  let depth = 0;
  let deepest = 0;
  const end = bytes.length;
  for (let i = 0; i < end; i++) {
    const b = bytes[i]!;
    if (b === QUOTE) {
      i = closingQuote(bytes, i + 1);
      if (i < 0) return deepest;
    } else if (b === OPEN_BRACE || b === OPEN_BRACKET) {
      if (++depth > deepest) {
        deepest = depth;
        if (deepest > limit) return deepest;
      }
    } else if (b === CLOSE_BRACE || b === CLOSE_BRACKET) {
      depth--;
    }
  }
  return deepest;
}

/** Index of the quote that ends the string starting at `from`, or -1 when it never ends. */
function closingQuote(bytes: Uint8Array, from: number): number {
  let at = from;
  for (;;) {
    const q = bytes.indexOf(QUOTE, at);
    if (q < 0) return -1;
    // The quote is escaped when an odd number of backslashes stand right before it.
    let slashes = 0;
    for (let j = q - 1; j >= from && bytes[j] === BACKSLASH; j--) slashes++;
    if ((slashes & 1) === 0) return q;
    at = q + 1;
  }
}

const decoder = new TextDecoder();

/**
 * Parses a request body that must be a JSON object at most `maxDepth` levels deep.
 *
 * Errors carry the same messages and codes as the adapter's parse, so clients see one shape
 * whichever stage refuses first: 400 `invalid_json` for bad JSON or a non-object, 400
 * `json_too_deep` for nesting past the limit.
 *
 * @example
 * const body = parseBody(bytes, config.maxJsonDepth); // { model: "gpt-4o", messages: [...] }
 */
export function parseBody(bytes: Uint8Array, maxDepth: number): Record<string, unknown> {
  const depth = jsonDepth(bytes, maxDepth);
  if (depth > maxDepth) {
    throw new GatewayError(
      400,
      `The JSON body of your request is nested more than ${maxDepth} levels deep.`,
      "invalid_request_error",
      "json_too_deep",
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(decoder.decode(bytes));
  } catch {
    throw new GatewayError(
      400,
      "We could not parse the JSON body of your request. The request body must be a JSON object.",
      "invalid_request_error",
      "invalid_json",
    );
  }
  if (json === null || typeof json !== "object" || Array.isArray(json)) {
    throw new GatewayError(400, "The request body must be a JSON object.", "invalid_request_error", "invalid_json");
  }
  return json as Record<string, unknown>;
}
