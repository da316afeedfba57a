/**
 * An incremental Server-Sent Events parser for upstream replies, following the WHATWG event-stream
 * rules that matter for model APIs: lines end in LF, CRLF or a lone CR; `data:` lines of one event
 * join with "\n"; `event:` names it; comments (`:`) and other fields are skipped; a blank line
 * dispatches. Bytes may be split anywhere: inside a UTF-8 character, between CR and LF, inside a
 * field name.
 *
 * Shared by the provider folders (Gemini separates events with CRLF, Anthropic with LF).
 */

/** Receives each complete event: its name ("message" when it had no `event:` line) and its data. */
export type SseHandler = (event: string, data: string) => void;

/** Receives the text of a comment line (after the ":"), e.g. a proxy's keep-alive. */
export type SseCommentHandler = (text: string) => void;

export interface SseParser {
  push(chunk: Uint8Array | string): void;
  /**
   * Ends the input. Unlike a browser's EventSource, an unterminated last event is still delivered:
   * a gateway would rather hand a translator a final event it can judge (a truncated JSON fails to
   * parse there) than drop it silently.
   */
  end(): void;
}

const LF = 10;
const CR = 13;
const SPACE = 32;
const COLON = 58;

/**
 * @example
 * const p = createSseParser((event, data) => console.log(event, data));
 * p.push("event: ping\nda");
 * p.push("ta: {}\n\n"); // logs: ping {}
 * p.end();
 */
export function createSseParser(onEvent: SseHandler, onComment?: SseCommentHandler): SseParser {
  const decoder = new TextDecoder(); // strips a leading BOM, as the SSE rules ask
  let buf = "";
  let skipLF = false; // the previous input ended in CR: an LF that starts the next one ends no line
  let event = "";
  let data = "";
  let hasData = false;

  function dispatch(): void {
    if (hasData) onEvent(event === "" ? "message" : event, data);
    event = "";
    data = "";
    hasData = false;
  }

  function line(text: string, start: number, end: number): void {
    if (start === end) return dispatch();
    if (text.charCodeAt(start) === COLON) {
      onComment?.(text.slice(start + 1, end));
      return;
    }
    let colon = text.indexOf(":", start);
    if (colon === -1 || colon > end) colon = end;
    const nameLength = colon - start;
    let valueStart = colon + 1;
    if (valueStart < end && text.charCodeAt(valueStart) === SPACE) valueStart++;
    const value = valueStart >= end ? "" : text.slice(valueStart, end);
    // Field names compared in place: no slice per line for the common fields.
    if (nameLength === 4 && text.startsWith("data", start)) {
      data = hasData ? `${data}\n${value}` : value;
      hasData = true;
    } else if (nameLength === 5 && text.startsWith("event", start)) {
      event = value;
    }
  }

  /** Parses every complete line of `buf`; `from` is where new (unscanned) text begins. */
  function scan(from: number): void {
    const n = buf.length;
    let pos = 0;
    let cr = buf.indexOf("\r", from);
    for (;;) {
      const searchFrom = pos > from ? pos : from;
      const lf = buf.indexOf("\n", searchFrom);
      if (cr !== -1 && cr < searchFrom) cr = buf.indexOf("\r", searchFrom);
      let end: number;
      let next: number;
      if (cr !== -1 && (lf === -1 || cr < lf)) {
        end = cr;
        if (cr + 1 < n) next = buf.charCodeAt(cr + 1) === LF ? cr + 2 : cr + 1;
        else {
          next = n;
          skipLF = true;
        }
      } else if (lf !== -1) {
        end = lf;
        next = lf + 1;
      } else break;
      line(buf, pos, end);
      pos = next;
      if (pos >= n) break;
    }
    if (pos > 0) buf = pos >= n ? "" : buf.slice(pos);
  }

  function append(text: string): void {
    if (skipLF && text.length > 0) {
      if (text.charCodeAt(0) === LF) text = text.slice(1);
      skipLF = false;
    }
    if (text.length === 0) return;
    const from = buf.length;
    buf = from === 0 ? text : buf + text;
    scan(from);
  }

  return {
    push(chunk) {
      append(typeof chunk === "string" ? chunk : decoder.decode(chunk, { stream: true }));
    },
    end() {
      append(decoder.decode());
      if (buf.length > 0) {
        line(buf, 0, buf.length);
        buf = "";
      }
      dispatch();
    },
  };
}
