/**
 * DeepSeek tool calls, written with the model's special tokens. DeepSeek-V3 and R1 (as their
 * chat templates and vLLM's deepseek_v3 parser have it):
 *
 *     <｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather
 *     ```json
 *     {"city": "Paris"}
 *     ```<｜tool▁call▁end｜><｜tool▁calls▁end｜>
 *
 * DeepSeek-V3.1 drops the type and the code fence (vLLM's deepseek_v31 parser):
 *
 *     <｜tool▁calls▁begin｜><｜tool▁call▁begin｜>get_weather<｜tool▁sep｜>{"city": "Paris"}<｜tool▁call▁end｜><｜tool▁calls▁end｜>
 *
 * Both are read. The bars are U+FF5C and the word joiners U+2581, not ASCII. Each call is
 * emitted when its end token arrives; a call that cannot be read is content as written. A
 * call without the surrounding calls-begin token is accepted too.
 */

import { findFirst, isSpaceCode, markerAt, partialStart, skipSpace } from "../markers.ts";
import { isJsonObjectText, type FoundCall } from "../tool-call.ts";
import { flushPlain, LEAD_AFTER_CALL, LEAD_NONE, newPlainText, scanPlain, takeSep } from "./plain-text.ts";
import type { ExtractorFactory } from "./types.ts";

export const CALLS_BEGIN = "<｜tool▁calls▁begin｜>";
export const CALLS_END = "<｜tool▁calls▁end｜>";
export const CALL_BEGIN = "<｜tool▁call▁begin｜>";
export const CALL_END = "<｜tool▁call▁end｜>";
export const TOOL_SEP = "<｜tool▁sep｜>";

const OPENERS = [CALLS_BEGIN, CALL_BEGIN];
const IN_REGION = [CALL_BEGIN, CALLS_END];
const CALL_ENDS = [CALL_END];
// V3/R1 after the separator: the name, then the arguments in a json code fence.
const FENCED = /^([^\n]+)\n```(?:json)?[ \t]*\n([\s\S]*?)\n?```\s*$/;
const NAME = /^[^\s<>]{1,256}$/;

/**
 * The call in the text between a call's begin and end tokens, or null.
 *
 * @example
 * parseDeepSeekCall(`get_weather${TOOL_SEP}{"city": "Paris"}`) // { name: "get_weather", arguments: '{"city": "Paris"}' }
 */
export function parseDeepSeekCall(body: string): FoundCall | null {
  const sep = body.indexOf(TOOL_SEP);
  if (sep < 0) return null;
  const head = body.slice(0, sep).trim();
  const rest = body.slice(sep + TOOL_SEP.length);
  const argsAt = skipSpace(rest);
  let name: string;
  let args: string;
  if (rest.charCodeAt(argsAt) === 123 /* { */) {
    name = head;
    args = rest.slice(argsAt).trimEnd();
  } else {
    const m = FENCED.exec(rest);
    if (m === null || head.length === 0) return null;
    name = m[1].trim();
    args = m[2].trim();
  }
  if (!NAME.test(name) || !isJsonObjectText(args)) return null;
  return { name, arguments: args };
}

const TEXT = 0;
const REGION = 1; // between calls-begin and calls-end
const CALL = 2; // between call-begin and call-end

/**
 * @example
 * const ex = deepseekExtractor({ text: console.log, call: console.log }, { maxBlockChars: 1 << 18 });
 * ex.push(`${CALLS_BEGIN}${CALL_BEGIN}f${TOOL_SEP}{}${CALL_END}${CALLS_END}`); // sink.call({ name: "f", arguments: "{}" })
 */
export const deepseekExtractor: ExtractorFactory = (sink, limits) => {
  const plain = newPlainText();
  let state = TEXT;
  let inRegion = false;
  let regionHadCall = false;
  // The calls-begin token and the separator before it, let out only if no call succeeds.
  let pending = "";
  // Whitespace since the last thing let out or consumed in the region: a separator when a
  // token follows it, text when other text does (decided by what follows, not by how the
  // text was cut).
  let gapSpace = "";
  let body: string[] = [];
  let bodyLength = 0;
  // A tail that may be the start of a token looked for in REGION or CALL.
  let held = "";

  function leave(lead: number): void {
    state = TEXT;
    inRegion = false;
    pending = "";
    gapSpace = "";
    plain.lead = lead;
  }

  // Text between tokens in a region: let out, but keep trailing whitespace until we know what follows.
  function regionText(gap: string): void {
    let last = gap.length;
    while (last > 0 && isSpaceCode(gap.charCodeAt(last - 1))) last--;
    if (last === 0) {
      gapSpace += gap;
      return;
    }
    sink.text(pending + gapSpace + gap.slice(0, last));
    pending = "";
    gapSpace = gap.slice(last);
  }

  function finishCall(text: string, closed: boolean): void {
    const call = parseDeepSeekCall(text);
    if (call !== null) {
      sink.call(call);
      regionHadCall = true;
    } else {
      sink.text(pending + gapSpace + CALL_BEGIN + text + (closed ? CALL_END : ""));
    }
    pending = "";
    gapSpace = "";
    body = [];
    bodyLength = 0;
    if (inRegion) state = REGION;
    else leave(call !== null ? LEAD_AFTER_CALL : LEAD_NONE);
  }

  function push(text: string): void {
    let s: string;
    if (state === TEXT) {
      s = plain.partial.length > 0 ? plain.partial + text : text;
      plain.partial = "";
    } else {
      s = held.length > 0 ? held + text : text;
      held = "";
    }
    let pos = 0;
    while (pos < s.length) {
      if (state === TEXT) {
        const at = scanPlain(plain, s, pos, OPENERS, sink.text);
        if (at < 0) return;
        const opener = OPENERS[markerAt(s, at, OPENERS)];
        pending = takeSep(plain) + (opener === CALLS_BEGIN ? CALLS_BEGIN : "");
        inRegion = opener === CALLS_BEGIN;
        regionHadCall = false;
        state = inRegion ? REGION : CALL;
        pos = at + opener.length;
      } else if (state === REGION) {
        const at = findFirst(s, pos, IN_REGION);
        const stop = at >= 0 ? at : partialStart(s, pos, IN_REGION);
        if (stop > pos) regionText(s.slice(pos, stop));
        if (at < 0) {
          held = s.slice(stop);
          return;
        }
        if (s.startsWith(CALL_BEGIN, at)) {
          state = CALL;
          pos = at + CALL_BEGIN.length;
        } else {
          if (!regionHadCall) sink.text(pending + gapSpace + CALLS_END);
          pos = at + CALLS_END.length;
          leave(regionHadCall ? LEAD_AFTER_CALL : LEAD_NONE);
        }
      } else {
        const at = s.indexOf(CALL_END, pos);
        if (at >= 0) {
          body.push(s.slice(pos, at));
          pos = at + CALL_END.length;
          finishCall(body.join(""), true);
          continue;
        }
        const tail = partialStart(s, pos, CALL_ENDS);
        body.push(s.slice(pos, tail));
        bodyLength += tail - pos;
        held = s.slice(tail);
        if (bodyLength + held.length > limits.maxBlockChars) {
          sink.text(pending + gapSpace + CALL_BEGIN + body.join("") + held);
          held = "";
          body = [];
          bodyLength = 0;
          leave(LEAD_NONE);
        }
        return;
      }
    }
  }

  function end(): void {
    if (state === CALL) {
      const text = body.join("") + held;
      held = "";
      finishCall(text, false);
    }
    if (state === REGION) {
      // A cut-off token is text, and so is the whitespace before it; the markup is dropped
      // only if the region made a call.
      const markup = regionHadCall ? "" : pending;
      const rest = held.length > 0 ? markup + gapSpace + held : regionHadCall ? "" : markup + gapSpace;
      if (rest.length > 0) sink.text(rest);
      held = "";
      leave(LEAD_NONE);
    }
    flushPlain(plain, sink.text);
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
