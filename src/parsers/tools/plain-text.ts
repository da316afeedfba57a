/**
 * The plain-text state shared by the marker-opened formats (Hermes, Mistral, DeepSeek): pass
 * text on until an opening marker, holding back only a tail that may be the start of one.
 *
 * Whitespace right at the start of the content, and between one call and the next (or the end
 * of the reply), is the chat template's separator rather than something the model said: it is
 * held while only whitespace follows, dropped when a call follows, and let out when any other
 * text does. All other text is passed on byte for byte.
 */

import { findFirst, isAllSpace, partialStart } from "../markers.ts";

/** Nothing said yet. */
export const LEAD_START = 0;
/** Right after a call. */
export const LEAD_AFTER_CALL = 1;
/** After other text: whitespace is plain text. */
export const LEAD_NONE = 2;

export interface PlainText {
  lead: number;
  /** Whitespace held while `lead` is not LEAD_NONE. */
  sep: string;
  /** A tail that may be the start of a marker, to be put before the next text. */
  partial: string;
}

export function newPlainText(): PlainText {
  return { lead: LEAD_START, sep: "", partial: "" };
}

/**
 * Passes `s` from `from` on as text up to the first of `openers`, and returns that opener's
 * index; or returns -1 when there is none (everything was passed on but a tail that may be the
 * start of an opener, which is kept in `st.partial`).
 *
 * @example
 * const st = newPlainText(); const out: string[] = [];
 * scanPlain(st, "Hi <tool_ca", 0, ["<tool_call>"], (t) => out.push(t)); // -1
 * out // ["Hi "]; st.partial === "<tool_ca"
 */
export function scanPlain(
  st: PlainText,
  s: string,
  from: number,
  openers: readonly string[],
  emit: (text: string) => void,
): number {
  const at = findFirst(s, from, openers);
  const stop = at >= 0 ? at : partialStart(s, from, openers);
  if (stop > from) {
    if (st.lead !== LEAD_NONE && isAllSpace(s, from, stop)) {
      st.sep += s.slice(from, stop);
    } else {
      const text = from === 0 && stop === s.length ? s : s.slice(from, stop);
      emit(st.sep.length > 0 ? st.sep + text : text);
      st.sep = "";
      st.lead = LEAD_NONE;
    }
  }
  if (at < 0 && stop < s.length) st.partial = s.slice(stop);
  return at;
}

/** The held separator, now part of the block that opens after it. */
export function takeSep(st: PlainText): string {
  const sep = st.sep;
  st.sep = "";
  return sep;
}

/**
 * Lets out what plain text holds, at the end of the reply or before a reasoning block: a
 * partial marker is text after all; a separator after a call is dropped.
 */
export function flushPlain(st: PlainText, emit: (text: string) => void): void {
  if (st.partial.length > 0) {
    emit(st.sep + st.partial);
    st.lead = LEAD_NONE;
  } else if (st.sep.length > 0 && st.lead === LEAD_START) {
    emit(st.sep);
  }
  st.partial = "";
  st.sep = "";
}
