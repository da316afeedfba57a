/**
 * Streaming output parsing for open models served behind an OpenAI-compatible API: reasoning
 * blocks move into `reasoning_content`, tool calls the model wrote as text become
 * `tool_calls`. Chosen per model by format name (`parserFor`), applied per stream to delta
 * strings (`createStreamParser`), chunk objects (`createChunkRewriter`) or an upstream's SSE
 * bytes (`createParsingTranslator`), or to whole replies (`parseMessage`, `rewriteCompletion`).
 */

import type { StreamTranslator } from "../providers/common/transform.ts";
import { createChunkRewriter, type ChunkRewriter } from "./chunk.ts";
import { parseMessage, rewriteCompletion } from "./message.ts";
import { createParsingTranslator } from "./sse.ts";
import { createStreamParser, isToolCallFormat, type StreamParser } from "./stream.ts";
import type { ParsedMessage, ParserOptions, ToolCallFormat } from "./types.ts";

export type { ChatCompletionChunk, ChunkRewriter } from "./chunk.ts";
export { createChunkRewriter, isEmptyChunk } from "./chunk.ts";
export { mergeDeltas, parseMessage, rewriteCompletion } from "./message.ts";
export type { StreamParser } from "./stream.ts";
export { createStreamParser, DEFAULT_MAX_BLOCK_CHARS, DEFAULT_REASONING_TAGS, isToolCallFormat, TOOL_CALL_FORMATS } from "./stream.ts";
export { createParsingTranslator } from "./sse.ts";
export { randomToolCallId } from "./tool-call.ts";
export type * from "./types.ts";

/** Everything needed to parse one model's output, configured once. */
export interface OutputParser {
  readonly options: Readonly<ParserOptions>;
  /** A fresh parser for one stream of delta strings (one choice). */
  stream(): StreamParser;
  /** A fresh rewriter for one stream of chunk objects (all its choices). */
  chunks(): ChunkRewriter;
  /** A fresh translator for one upstream chat-completion SSE stream (see ./sse.ts). */
  sse(): StreamTranslator;
  message(text: string): ParsedMessage;
  completion<T extends { choices?: unknown }>(completion: T): T;
}

/**
 * The parser for a model whose tool calls come in `format` (from its configuration), with
 * reasoning `<think>` blocks split off unless `options.reasoning` says otherwise. Throws on an
 * unknown format name, so a typo in the configuration fails at start-up.
 *
 * @example
 * const qwen3 = parserFor("hermes");
 * const r1 = parserFor("deepseek", { reasoning: { startsInside: true } });
 * const magistral = parserFor("mistral", { reasoning: { tags: [["[THINK]", "[/THINK]"]] } });
 * const s = qwen3.stream();
 * s.push("<think>hm</think>Hi"); // [{ reasoning_content: "hm" }, { content: "Hi" }]
 */
export function parserFor(format: ToolCallFormat, options: Omit<ParserOptions, "toolCalls"> = {}): OutputParser {
  if (!isToolCallFormat(format)) throw new Error(`unknown tool call format: ${String(format)}`);
  const resolved: ParserOptions = Object.freeze({ ...options, toolCalls: format });
  const parser: OutputParser = {
    options: resolved,
    stream: () => createStreamParser(resolved),
    chunks: () => createChunkRewriter(resolved),
    sse: () => createParsingTranslator(parser),
    message: (text) => parseMessage(text, resolved),
    completion: (completion) => rewriteCompletion(completion, resolved),
  };
  return parser;
}
