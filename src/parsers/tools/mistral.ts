/**
 * Mistral tool calls, after the `[TOOL_CALLS]` control token, in both forms mistral-common
 * decodes (src/mistral_common/tokens/tokenizers/tools.py):
 *
 * - tokenizer v2 to v7 (Mistral 7B v0.3, Mixtral 8x22B, Nemo): one JSON array of calls, each
 *   with `name`, `arguments` and sometimes `id`:
 *   `[TOOL_CALLS][{"name": "get_weather", "arguments": {"city": "Paris"}}]`
 * - tokenizer v11 and later (Mistral Small 3.2, Magistral, Devstral): one token per call, the
 *   name, an optional `[CALL_ID]` with the call's id, `[ARGS]` and the arguments object:
 *   `[TOOL_CALLS]get_weather[ARGS]{"city": "Paris"}[TOOL_CALLS]get_time[CALL_ID]a1b2c3d4e[ARGS]{}`
 *   (with the control tokens skipped in decoding it reads `get_weather{"city": "Paris"}`,
 *   which is accepted too).
 *
 * Text before the first call is content. A call is held until its JSON ends; a malformed one,
 * or a `[TOOL_CALLS]` followed by something that cannot be a name, is content as written.
 */

import { skipSpace } from "../markers.ts";
import { newJsonExtent, scanJsonExtent } from "../json-extent.ts";
import { isJsonObjectText, type FoundCall } from "../tool-call.ts";
import { callsInJson } from "./json-calls.ts";
import { flushPlain, LEAD_AFTER_CALL, LEAD_NONE, newPlainText, scanPlain, takeSep } from "./plain-text.ts";
import type { ExtractorFactory } from "./types.ts";

const TOOL_CALLS = "[TOOL_CALLS]";
const OPENERS = [TOOL_CALLS];
const ARGS = "[ARGS]";
const CALL_ID = "[CALL_ID]";
const NAME = /^[A-Za-z0-9_.:-]{1,256}$/;
const ID = /^[A-Za-z0-9_-]{1,64}$/;
const MAX_HEADER_CHARS = 300;

const TEXT = 0;
const DECIDE = 1; // after [TOOL_CALLS]: an array or a name follows
const ARRAY = 2; // the v3 array of calls
const HEADER = 3; // v11: name, [CALL_ID] id, [ARGS]
const OBJECT = 4; // v11: the arguments

// Letters, digits, _ . : - and the brackets of [ARGS] and [CALL_ID]: anything else (a space in
// prose that mentions [TOOL_CALLS]) ends the header at once, so prose is not held.
function isHeaderCode(c: number): boolean {
  return (
    (c >= 48 && c <= 58) || // 0-9 :
    (c >= 65 && c <= 93) || // A-Z [ \ ]
    (c >= 97 && c <= 122) || // a-z
    c === 95 ||
    c === 45 ||
    c === 46
  );
}

/** The v11 call in header `name[CALL_ID]id[ARGS]` and arguments text, or null. */
function callFromHeader(header: string, args: string): FoundCall | null {
  let name = header.trim();
  if (name.endsWith(ARGS)) name = name.slice(0, -ARGS.length).trimEnd();
  let id: string | undefined;
  const idAt = name.indexOf(CALL_ID);
  if (idAt >= 0) {
    id = name.slice(idAt + CALL_ID.length).trim();
    name = name.slice(0, idAt).trimEnd();
    if (!ID.test(id)) return null;
  }
  if (!NAME.test(name) || !isJsonObjectText(args)) return null;
  return { name, arguments: args, id };
}

/**
 * @example
 * const ex = mistralExtractor({ text: console.log, call: console.log }, { maxBlockChars: 1 << 18 });
 * ex.push('[TOOL_CALLS]f[ARGS]{"x": 1}'); // calls sink.call({ name: "f", arguments: '{"x": 1}' })
 */
export const mistralExtractor: ExtractorFactory = (sink, limits) => {
  const plain = newPlainText();
  let state = TEXT;
  // Separator, [TOOL_CALLS] and the whitespace after it: let out with a call that fails.
  let raw = "";
  let header = "";
  let parts: string[] = [];
  let length = 0;
  const extent = newJsonExtent();

  function finishAsText(text: string): void {
    sink.text(raw + header + text);
    plain.lead = LEAD_NONE;
    reset();
  }

  function reset(): void {
    state = TEXT;
    raw = "";
    header = "";
    parts = [];
    length = 0;
    Object.assign(extent, newJsonExtent());
  }

  function finishJson(text: string): void {
    const calls = state === ARRAY ? callsInJson(text, ["arguments"]) : [callFromHeader(header, text)];
    if (calls === null || calls.some((c) => c === null)) {
      finishAsText(text);
      return;
    }
    for (const call of calls) sink.call(call!);
    plain.lead = LEAD_AFTER_CALL;
    reset();
  }

  function push(text: string): void {
    let s = text;
    if (state === TEXT && plain.partial.length > 0) {
      s = plain.partial + text;
      plain.partial = "";
    }
    let pos = 0;
    while (pos < s.length) {
      if (state === TEXT) {
        const at = scanPlain(plain, s, pos, OPENERS, sink.text);
        if (at < 0) return;
        raw = takeSep(plain) + TOOL_CALLS;
        state = DECIDE;
        pos = at + TOOL_CALLS.length;
      } else if (state === DECIDE) {
        const at = skipSpace(s, pos);
        if (at > pos) raw += s.slice(pos, at);
        pos = at;
        if (pos < s.length) state = s.charCodeAt(pos) === 91 /* [ */ ? ARRAY : HEADER;
      } else if (state === HEADER) {
        // Ends at the arguments' "{", or (as text) at a character no header has, or too long.
        let at = pos;
        const limit = Math.min(s.length, pos + MAX_HEADER_CHARS - header.length);
        while (at < limit && s.charCodeAt(at) !== 123 && isHeaderCode(s.charCodeAt(at))) at++;
        header += s.slice(pos, at);
        pos = at;
        if (at < s.length && s.charCodeAt(at) === 123) state = OBJECT;
        else if (at < s.length || header.length >= MAX_HEADER_CHARS) finishAsText("");
      } else {
        const end = scanJsonExtent(extent, s, pos);
        const stop = end < 0 ? s.length : end;
        parts.push(s.slice(pos, stop));
        length += stop - pos;
        pos = stop;
        if (end >= 0) finishJson(parts.join(""));
        else if (raw.length + header.length + length > limits.maxBlockChars) finishAsText(parts.join(""));
      }
    }
  }

  function end(): void {
    if (state === TEXT) flushPlain(plain, sink.text);
    else finishAsText(parts.join(""));
  }

  return {
    push,
    end,
    interrupt: () => flushPlain(plain, sink.text),
    get inBlock() {
      return state !== TEXT;
    },
  };
};
