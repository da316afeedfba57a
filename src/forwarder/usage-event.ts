/**
 * Usage for every stream. A stream's token counts come from the upstream only when the request
 * says `stream_options: {"include_usage": true}`; without them Warden would have to count the
 * reply itself (src/tokens), with the wrong tokenizer for most open models. So the forwarder asks
 * for usage on every OpenAI-format stream ({@link withStreamUsage}), and when the client did not
 * ask, the extra event (`"choices":[]` with the usage) is kept out of the client's stream by
 * {@link createUsageEventFilter}: a client written for streams without it may read
 * `choices[0]` of every chunk. The ledger and the metrics still see it.
 *
 * What the client does see is a `"usage":null` field on each chunk, as OpenAI adds then; the
 * OpenAI SDKs type it, and other clients ignore a field they do not know.
 */

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * The request body asking for usage in the stream, or undefined when it already does.
 *
 * @example
 * withStreamUsage({ model: "m", stream: true }); // { model: "m", stream: true, stream_options: { include_usage: true } }
 */
export function withStreamUsage(json: Record<string, unknown>): Record<string, unknown> | undefined {
  const options = json.stream_options as { include_usage?: unknown } | null | undefined;
  if (options?.include_usage === true) return undefined;
  return { ...json, stream_options: { ...(options ?? {}), include_usage: true } };
}

const USAGE_OBJECT = Buffer.from('"usage":{');
const NO_CHOICES = '"choices":[]';

export interface UsageEventFilter {
  /** Upstream bytes in; the bytes for the client out (the same array when nothing was removed). */
  push(chunk: Uint8Array): Uint8Array;
  /** The upstream ended: whatever was held back, as it came. */
  end(): Uint8Array;
}

/** Where the last complete SSE event in `b` ends (after its blank line), or 0. */
function lastBoundary(b: Uint8Array): number {
  for (let i = b.length - 1; i >= 1; i--) {
    if (b[i] === 10 && (b[i - 1] === 10 || (b[i - 1] === 13 && i >= 2 && b[i - 2] === 10))) return i + 1;
  }
  return 0;
}

const EMPTY = new Uint8Array(0);

/**
 * Drops the usage-only event from an OpenAI stream. Chunks are passed on whole events at a time:
 * an event split across chunks (rare: upstreams write whole events) waits for its end, so the
 * usage event is recognised wherever the network cut it.
 *
 * @example
 * const f = createUsageEventFilter();
 * f.push(bytes('data: {"choices":[{"delta":{"content":"Hi"}}],"usage":null}\n\ndata: {"choices":[],"usage":{"total_tokens":3}}\n\n'));
 * // → the first event only
 */
export function createUsageEventFilter(): UsageEventFilter {
  let carry: Uint8Array | undefined;
  return {
    push(chunk) {
      let bytes = chunk;
      if (carry !== undefined) {
        bytes = new Uint8Array(carry.length + chunk.length);
        bytes.set(carry);
        bytes.set(chunk, carry.length);
        carry = undefined;
      }
      const end = lastBoundary(bytes);
      if (end < bytes.length) {
        carry = bytes.slice(end);
        bytes = bytes.subarray(0, end);
      }
      if (bytes.length === 0) return EMPTY;
      // An unescaped `"usage":{` is a key (quotes inside JSON strings are escaped): only the
      // usage event has an object there; other chunks carry "usage":null.
      if (Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).indexOf(USAGE_OBJECT) < 0) return bytes;
      const events = decoder.decode(bytes).split(/(?<=\n\r?\n)/);
      const kept = events.filter((e) => !(e.includes(NO_CHOICES) && e.includes('"usage":{')));
      return kept.length === events.length ? bytes : encoder.encode(kept.join(""));
    },
    end() {
      const rest = carry ?? EMPTY;
      carry = undefined;
      return rest;
    },
  };
}
