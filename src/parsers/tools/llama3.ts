/**
 * Llama 3.1 / 3.2 / 3.3 JSON tool calls: the whole reply is the call, a JSON object with the
 * function's name and its `parameters` (some prompts say `arguments`), possibly after the
 * `<|python_tag|>` token, several calls separated by `;`:
 *
 *     <|python_tag|>{"name": "get_weather", "parameters": {"city": "Paris"}}; {"name": ...}
 *
 * So a call is only looked for at the very start of the content. There, an object is held
 * until its JSON is complete; it is let out as content straight away if its first key cannot
 * begin a call (a reply in JSON mode is not held whole), and as content when it turns out
 * malformed or not a call. After the calls, any other text is content again. The
 * `<|python_tag|>` with code after it (the built-in tools' Python) stays content, tag included.
 */

import { isSpaceCode, partialStart, skipSpace } from "../markers.ts";
import { newJsonExtent, scanJsonExtent } from "../json-extent.ts";
import { callFromJson, tryParseJson } from "../tool-call.ts";
import type { ExtractorFactory } from "./types.ts";

const PYTHON_TAG = "<|python_tag|>";
const PYTHON_TAGS = [PYTHON_TAG];
const ARGUMENT_KEYS = ["parameters", "arguments"];
// The keys a call object may start with; any other first key means it is no call.
const FIRST_KEYS = new Set(["name", "type", "parameters", "arguments"]);
const FIRST_KEY = /^\{\s*(?:"((?:[^"\\]|\\.)*)"|[^\s"])/;
const HEAD_CHARS = 64;

const START = 0; // nothing but whitespace yet
const TAG = 1; // after <|python_tag|>
const OBJECT = 2; // inside a JSON object that may be a call
const AFTER = 3; // after a call: separators, then maybe another
const PASS = 4; // plain text to the end

/**
 * @example
 * const ex = llama3Extractor({ text: console.log, call: console.log }, { maxBlockChars: 1 << 18 });
 * ex.push('{"name": "f", "parameters": {"x": 1}}'); // calls sink.call({ name: "f", arguments: '{"x": 1}' })
 */
export const llama3Extractor: ExtractorFactory = (sink, limits) => {
  let state = START;
  // Whitespace, tags and separators seen before the current object: dropped if it is a call.
  let raw = "";
  // A tail that may be the start of <|python_tag|>.
  let held = "";
  let sawSemicolon = false;
  let parts: string[] = [];
  let length = 0;
  let head = "";
  let headChecked = false;
  const extent = newJsonExtent();

  function passFrom(text: string): void {
    state = PASS;
    const all = raw + text;
    raw = "";
    if (all.length > 0) sink.text(all);
  }

  function resetObject(): void {
    parts = [];
    length = 0;
    head = "";
    headChecked = false;
    Object.assign(extent, newJsonExtent());
  }

  // False once the object's first key shows it is no call.
  function headMayBeCall(piece: string): boolean {
    if (head.length < HEAD_CHARS) head += piece.slice(0, HEAD_CHARS - head.length);
    const m = FIRST_KEY.exec(head);
    if (m === null) return head.length < HEAD_CHARS;
    headChecked = true;
    return m[1] !== undefined && FIRST_KEYS.has(m[1]);
  }

  function push(text: string): void {
    const s = held.length > 0 ? held + text : text;
    held = "";
    let pos = 0;
    while (pos < s.length) {
      if (state === PASS) {
        sink.text(pos === 0 ? s : s.slice(pos));
        return;
      }
      if (state === OBJECT) {
        const end = scanJsonExtent(extent, s, pos);
        const stop = end < 0 ? s.length : end;
        const piece = s.slice(pos, stop);
        parts.push(piece);
        length += piece.length;
        pos = stop;
        if (!headChecked && !headMayBeCall(piece)) {
          const text = parts.join("");
          resetObject();
          passFrom(text);
          continue;
        }
        if (end < 0) {
          if (raw.length + length > limits.maxBlockChars) {
            const text = parts.join("");
            resetObject();
            passFrom(text);
          }
          return;
        }
        const text = parts.join("");
        resetObject();
        const call = callFromJson(tryParseJson(text), text, ARGUMENT_KEYS);
        if (call === null) {
          passFrom(text);
          continue;
        }
        sink.call(call);
        raw = "";
        sawSemicolon = false;
        state = AFTER;
        continue;
      }
      // START, TAG or AFTER: skip whitespace, then decide what comes.
      const at = skipSpace(s, pos);
      if (at > pos) raw += s.slice(pos, at);
      pos = at;
      if (pos === s.length) return;
      const c = s.charCodeAt(pos);
      if (c === 123 /* { */) {
        state = OBJECT;
        continue;
      }
      if (state === AFTER && c === 59 /* ; */ && !sawSemicolon) {
        raw += ";";
        sawSemicolon = true;
        pos++;
        continue;
      }
      if (state !== TAG) {
        if (s.startsWith(PYTHON_TAG, pos)) {
          raw += PYTHON_TAG;
          pos += PYTHON_TAG.length;
          state = TAG;
          continue;
        }
        if (partialStart(s, pos, PYTHON_TAGS) === pos) {
          held = s.slice(pos);
          return;
        }
      }
      passFrom(s.slice(pos));
      return;
    }
  }

  // Lets out what is held outside an object; separators after a call are dropped.
  function flushOutside(): void {
    if (held.length > 0 || state === START || state === TAG || (state === AFTER && !isSeparator(raw))) {
      const text = raw + held;
      raw = "";
      held = "";
      if (text.length > 0) sink.text(text);
      if (state !== START) state = PASS;
    } else {
      raw = "";
    }
  }

  function end(): void {
    if (state === OBJECT) {
      const text = parts.join("");
      resetObject();
      passFrom(text);
      return;
    }
    flushOutside();
  }

  return {
    push,
    end,
    interrupt: () => {
      if (state !== PASS) flushOutside();
    },
    get inBlock() {
      return state === OBJECT || state === TAG;
    },
  };
};

function isSeparator(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (!isSpaceCode(c) && c !== 59) return false;
  }
  return true;
}
