/**
 * Hermes-style tool calls (NousResearch Hermes 2 Pro and 3, Qwen 2.5 and Qwen 3): each call is
 * a JSON object inside its own tags, calls follow one another, text may come before them:
 *
 *     Let me check.
 *     <tool_call>
 *     {"name": "get_weather", "arguments": {"city": "Paris"}}
 *     </tool_call>
 *
 * A block is held back until its closing tag (only then is its JSON known to be whole and
 * valid). A block whose JSON is malformed, or is no call, is passed through as content, tags
 * and all: the client then sees exactly what the model wrote instead of losing it. A block cut
 * off by the end of the reply still counts when its JSON is complete.
 */

import { partialStart } from "../markers.ts";
import { callsInJson } from "./json-calls.ts";
import { flushPlain, LEAD_AFTER_CALL, LEAD_NONE, newPlainText, scanPlain, takeSep } from "./plain-text.ts";
import type { ExtractorFactory } from "./types.ts";

const OPEN = "<tool_call>";
const CLOSE = "</tool_call>";
const OPENERS = [OPEN];
const CLOSERS = [CLOSE];
const ARGUMENT_KEYS = ["arguments", "parameters"];

/**
 * @example
 * const ex = hermesExtractor({ text: console.log, call: console.log }, { maxBlockChars: 1 << 18 });
 * ex.push('<tool_call>{"name": "f", "arguments": {}}</tool_call>'); // calls sink.call({ name: "f", arguments: "{}" })
 */
export const hermesExtractor: ExtractorFactory = (sink, limits) => {
  const plain = newPlainText();
  let inBlock = false;
  // The separator and opening tag of the open block, let out with it if it is no call.
  let prefix = "";
  let body: string[] = [];
  let bodyLength = 0;
  // A tail of the block that may be the start of the closing tag.
  let held = "";

  function leaveBlock(lead: number): void {
    inBlock = false;
    prefix = "";
    body = [];
    bodyLength = 0;
    plain.lead = lead;
  }

  function finishBlock(text: string, closed: boolean): void {
    const calls = callsInJson(text, ARGUMENT_KEYS);
    if (calls) {
      for (const call of calls) sink.call(call);
      leaveBlock(LEAD_AFTER_CALL);
    } else {
      sink.text(prefix + text + (closed ? CLOSE : ""));
      leaveBlock(LEAD_NONE);
    }
  }

  function push(text: string): void {
    let s: string;
    if (inBlock) {
      s = held.length > 0 ? held + text : text;
      held = "";
    } else {
      s = plain.partial.length > 0 ? plain.partial + text : text;
      plain.partial = "";
    }
    let pos = 0;
    while (pos < s.length) {
      if (!inBlock) {
        const at = scanPlain(plain, s, pos, OPENERS, sink.text);
        if (at < 0) return;
        prefix = takeSep(plain) + OPEN;
        inBlock = true;
        pos = at + OPEN.length;
        continue;
      }
      const at = s.indexOf(CLOSE, pos);
      if (at >= 0) {
        body.push(s.slice(pos, at));
        finishBlock(body.join(""), true);
        pos = at + CLOSE.length;
        continue;
      }
      const tail = partialStart(s, pos, CLOSERS);
      body.push(s.slice(pos, tail));
      bodyLength += tail - pos;
      held = s.slice(tail);
      if (bodyLength + held.length > limits.maxBlockChars) {
        // Too long to be a call we should hold: what came so far is text, and so is the rest.
        sink.text(prefix + body.join("") + held);
        held = "";
        leaveBlock(LEAD_NONE);
      }
      return;
    }
  }

  function end(): void {
    if (inBlock) {
      const text = body.join("") + held;
      held = "";
      finishBlock(text, false);
    }
    flushPlain(plain, sink.text);
  }

  return {
    push,
    end,
    interrupt: () => flushPlain(plain, sink.text),
    get inBlock() {
      return inBlock;
    },
  };
};
