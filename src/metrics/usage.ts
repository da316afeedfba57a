/**
 * Token usage from the end of a reply, for `warden_tokens_total` on every request.
 *
 * The audit record's `extract` (src/audit/record.ts) parses the whole reply, every SSE event
 * of a stream included; fine in the audit worker, too dear on the request path for every
 * request. OpenAI puts `usage` at the end: last in a JSON reply, in the last event before
 * `[DONE]` of a stream (with `stream_options.include_usage`). So only the reply's last
 * {@link TAIL_BYTES} are copied into a scratch buffer and searched backwards for the key.
 * A quote inside a JSON string is escaped, so an unescaped `"usage"` is a key, and the last one
 * is the stream's final usage (earlier events may carry `"usage":null`).
 */

export const TAIL_BYTES = 4096;

export interface Usage {
  prompt: number;
  completion: number;
}

const scratch = Buffer.alloc(TAIL_BYTES); // a Buffer for its native lastIndexOf
const KEY = new TextEncoder().encode('"usage"');
const decoder = new TextDecoder();
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN = 0x7b;
const CLOSE = 0x7d;

function isSpace(b: number): boolean {
  return b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09;
}

/** Copies the last `TAIL_BYTES` (or fewer) of the chunks into `scratch`; returns the length. */
function tail(chunks: readonly Uint8Array[]): number {
  // The fewest last chunks that hold TAIL_BYTES; the first of them gives only its end.
  let need = TAIL_BYTES;
  let i = chunks.length - 1;
  while (i > 0 && chunks[i].length < need) need -= chunks[i--].length;
  const first = chunks[i];
  const take = Math.min(need, first.length);
  scratch.set(take === first.length ? first : first.subarray(first.length - take), 0);
  let at = take;
  for (i++; i < chunks.length; i++) {
    scratch.set(chunks[i], at);
    at += chunks[i].length;
  }
  return at;
}

/** Index just past the object that opens at `start`, or -1 if it does not close within `end`. */
function objectEnd(start: number, end: number): number {
  let depth = 0;
  for (let i = start; i < end; i++) {
    const b = scratch[i];
    if (b === QUOTE) {
      for (i++; i < end && scratch[i] !== QUOTE; i++) if (scratch[i] === BACKSLASH) i++;
    } else if (b === OPEN) depth++;
    else if (b === CLOSE && --depth === 0) return i + 1;
  }
  return -1;
}

/**
 * The last usage object in the reply's tail, or null when there is none (an embeddings reply
 * has no completion_tokens: 0 then).
 *
 * @example
 * tailUsage([encoder.encode('{"choices":[],"usage":{"prompt_tokens":9,"completion_tokens":16}}')]);
 * // { prompt: 9, completion: 16 }
 */
export function tailUsage(chunks: readonly Uint8Array[]): Usage | null {
  if (chunks.length === 0) return null;
  const end = tail(chunks);
  if (end < KEY.length) return null; // (a negative offset would make lastIndexOf count from the end)
  // lastIndexOf's offset is where a match may start; the scratch's bytes past `end` are stale.
  for (let k = scratch.lastIndexOf(KEY, end - KEY.length); k >= 0; k = k > 0 ? scratch.lastIndexOf(KEY, k - 1) : -1) {
    if (k > 0 && scratch[k - 1] === BACKSLASH) continue; // an escaped quote: inside a string
    let i = k + KEY.length;
    while (i < end && isSpace(scratch[i])) i++;
    if (scratch[i] !== 0x3a) continue; // not followed by ':' — a string value, not the key
    i++;
    while (i < end && isSpace(scratch[i])) i++;
    if (scratch[i] !== OPEN) return null; // the last usage is null: none reported
    const close = objectEnd(i, end);
    if (close < 0) return null;
    try {
      const u = JSON.parse(decoder.decode(scratch.subarray(i, close))) as { prompt_tokens?: unknown; completion_tokens?: unknown };
      if (typeof u.prompt_tokens !== "number") return null;
      return { prompt: u.prompt_tokens, completion: typeof u.completion_tokens === "number" ? u.completion_tokens : 0 };
    } catch {
      return null;
    }
  }
  return null;
}
