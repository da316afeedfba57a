/**
 * Reading the JSON inside a tool-call block: one call object, or (some models batch them) an
 * array of call objects. All or nothing: one bad element and the block is no call at all.
 */

import { elementSpans } from "../json-extent.ts";
import { callFromJson, tryParseJson, type FoundCall } from "../tool-call.ts";

/**
 * The calls in `text`, or null when it is not valid JSON of that shape.
 *
 * @example
 * callsInJson('{"name": "f", "arguments": {}}', ["arguments"]) // [{ name: "f", arguments: "{}" }]
 * callsInJson('{"name": "f", "arguments": {', ["arguments"]) // null
 */
export function callsInJson(text: string, argumentKeys: readonly string[]): FoundCall[] | null {
  const value = tryParseJson(text);
  if (!Array.isArray(value)) {
    const call = callFromJson(value, text, argumentKeys);
    return call ? [call] : null;
  }
  if (value.length === 0) return null;
  const spans = elementSpans(text);
  const calls: FoundCall[] = [];
  for (let i = 0; i < value.length; i++) {
    const call = callFromJson(value[i], text.slice(spans[i][0], spans[i][1]), argumentKeys);
    if (!call) return null;
    calls.push(call);
  }
  return calls;
}
