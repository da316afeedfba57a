/**
 * How request walkers describe what a request costs, without counting anything themselves.
 *
 * A walker (chat.ts, prompts.ts) reports the request as cacheable items (a message, the tool
 * definitions, one prompt string) plus request-level fixed tokens. Each item reports the texts
 * the model reads and fixed token amounts. The same walk then serves to fingerprint an item
 * (hash its texts and fixed sum) and to count it, so a cache key covers exactly what decides
 * the count: two items with the same key always have the same count, by construction.
 */

/** Receives one item's costs. */
export interface TextSink {
  /** A string the model reads: counts as its tokens under the request's encoding. */
  text(text: string): void;
  /** A known number of tokens (formatting overhead, an image estimate, a token array). */
  fixed(tokens: number): void;
}

/** Describes one item to a sink. Must be deterministic: it runs once to hash, once to count. */
export type ItemVisitor<T> = (value: T, sink: TextSink) => void;

/** Receives a whole request: its items, and tokens that belong to no item. */
export interface RequestSink {
  item<T>(visit: ItemVisitor<T>, value: T): void;
  fixed(tokens: number): void;
}

/**
 * Narrows parsed JSON to an object whose fields we may read.
 *
 * @example
 * isRecord({ role: "user" }); // true
 * isRecord([1, 2]);           // false
 */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
