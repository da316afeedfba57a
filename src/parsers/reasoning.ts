/**
 * Splits streamed reply text into content and reasoning at reasoning tags (`<think>…</think>`
 * by default), as the text arrives. Only a tail that may be the start of a tag is held back.
 * Blocks may come anywhere and more than once; a block that never closes is reasoning to the
 * end. Tags are dropped; the text between them is passed on byte for byte.
 */

import type { TagPair } from "./types.ts";
import { findFirst, markerAt, partialStart } from "./markers.ts";

export interface ReasoningSink {
  content(text: string): void;
  reasoning(text: string): void;
  /** A block opened: content held downstream should be let out first. */
  opened(): void;
  closed(): void;
}

export interface ReasoningSplitter {
  push(text: string): void;
  end(): void;
}

const OUTSIDE = -1;

/**
 * @param canOpen asked when an opening tag is found in content: false while the text around it
 *   belongs to something else (a tool call's JSON arguments may well contain "<think>"), and
 *   the tag is then content
 *
 * @example
 * const parts: string[] = [];
 * const r = createReasoningSplitter([["<think>", "</think>"]], false, {
 *   content: (t) => parts.push(`c:${t}`), reasoning: (t) => parts.push(`r:${t}`),
 *   opened() {}, closed() {},
 * });
 * r.push("<thi"); r.push("nk>hmm</think>Hi"); r.end();
 * parts // ["r:hmm", "c:Hi"]
 */
export function createReasoningSplitter(
  tags: readonly TagPair[],
  startsInside: boolean,
  sink: ReasoningSink,
  canOpen: () => boolean = () => true,
): ReasoningSplitter {
  const opens = tags.map((t) => t[0]);
  const closes = tags.map((t) => [t[1]]);
  let inside = startsInside ? 0 : OUTSIDE;
  // Until the first text decides it: with startsInside, a leading opening tag is dropped too.
  let atStart = startsInside;
  let held = "";

  function push(text: string): void {
    const s = held.length > 0 ? held + text : text;
    held = "";
    let pos = 0;
    if (atStart) {
      const open = opens[0];
      if (s.length < open.length && open.startsWith(s)) {
        held = s;
        return;
      }
      atStart = false;
      if (s.startsWith(open)) pos = open.length;
    }
    while (pos < s.length) {
      if (inside === OUTSIDE) {
        const at = findFirst(s, pos, opens);
        if (at < 0) {
          const tail = partialStart(s, pos, opens);
          if (tail > pos) sink.content(pos === 0 && tail === s.length ? s : s.slice(pos, tail));
          if (tail < s.length) held = s.slice(tail);
          return;
        }
        if (at > pos) sink.content(s.slice(pos, at));
        const which = markerAt(s, at, opens);
        pos = at + opens[which].length;
        if (canOpen()) {
          sink.opened();
          inside = which;
        } else {
          sink.content(opens[which]);
        }
      } else {
        const close = closes[inside];
        const at = s.indexOf(close[0], pos);
        if (at < 0) {
          const tail = partialStart(s, pos, close);
          if (tail > pos) sink.reasoning(pos === 0 && tail === s.length ? s : s.slice(pos, tail));
          if (tail < s.length) held = s.slice(tail);
          return;
        }
        if (at > pos) sink.reasoning(s.slice(pos, at));
        pos = at + close[0].length;
        inside = OUTSIDE;
        sink.closed();
      }
    }
  }

  function end(): void {
    atStart = false;
    if (held.length === 0) return;
    // A tag cut off by the end of the reply is text of whatever it was in.
    if (inside === OUTSIDE) sink.content(held);
    else sink.reasoning(held);
    held = "";
  }

  return { push, end };
}
