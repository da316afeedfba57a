/**
 * Applying the stream parser to OpenAI `chat.completion.chunk` objects: each choice's
 * `delta.content` is replaced by what the parser releases for it (content, reasoning_content,
 * tool_calls), with one parser per choice index, as `n > 1` streams interleave choices.
 */

import { createStreamParser, type StreamParser } from "./stream.ts";
import type { Delta, ParserOptions, ToolCallDelta } from "./types.ts";

interface ChunkDelta {
  content?: string | null;
  reasoning_content?: string | null;
  tool_calls?: ToolCallDelta[];
  [field: string]: unknown;
}

interface ChunkChoice {
  index: number;
  delta?: ChunkDelta;
  finish_reason?: string | null;
  [field: string]: unknown;
}

/** The parts of a streamed chunk that are read or written here; others pass untouched. */
export interface ChatCompletionChunk {
  id?: string;
  object?: string;
  created?: number;
  model?: string;
  choices?: ChunkChoice[];
  [field: string]: unknown;
}

export interface ChunkRewriter {
  /**
   * Rewrites `chunk` in place and returns it. A choice's parser ends with the chunk carrying
   * its finish_reason, and a finish_reason `stop` becomes `tool_calls` when it made calls.
   * A rewritten delta may be left with nothing to say (text held back): see `isEmptyChunk`.
   */
  rewrite(chunk: ChatCompletionChunk): ChatCompletionChunk;
  /**
   * The stream ended: a chunk with what choices that never finished still held (a stream cut
   * short), modelled on the last chunk seen, or null when nothing was held.
   */
  end(): ChatCompletionChunk | null;
}

interface ChoiceState {
  parser: StreamParser;
  finished: boolean;
}

// What one chunk's choice gathers from the parser; reused, as rewrites run one at a time.
const gathered = { content: "", reasoning: "", calls: undefined as ToolCallDelta[] | undefined };

function gather(list: readonly Delta[]): void {
  for (let i = 0; i < list.length; i++) {
    const d = list[i];
    if (d.content !== undefined) gathered.content += d.content;
    else if (d.reasoning_content !== undefined) gathered.reasoning += d.reasoning_content;
    else if (d.tool_calls !== undefined) gathered.calls = gathered.calls === undefined ? d.tool_calls : gathered.calls.concat(d.tool_calls);
  }
}

/** Puts released deltas into `delta`, after any reasoning the upstream sent itself. */
function applyDeltas(delta: ChunkDelta, a: readonly Delta[], b: readonly Delta[]): void {
  gathered.content = "";
  gathered.reasoning = "";
  gathered.calls = undefined;
  gather(a);
  gather(b);
  // undefined, not delete: JSON.stringify leaves the field out and the object keeps its shape.
  delta.content = gathered.content.length > 0 ? gathered.content : undefined;
  if (gathered.reasoning.length > 0) {
    delta.reasoning_content = typeof delta.reasoning_content === "string" ? delta.reasoning_content + gathered.reasoning : gathered.reasoning;
  }
  if (gathered.calls !== undefined) delta.tool_calls = gathered.calls;
}

const NONE: readonly Delta[] = Object.freeze([]);

/**
 * @example
 * const rw = createChunkRewriter({ toolCalls: "hermes" });
 * rw.rewrite({ choices: [{ index: 0, delta: { content: "<think>hm</think>Hi" }, finish_reason: null }] });
 * // choices[0].delta is now { content: "Hi", reasoning_content: "hm" }
 */
export function createChunkRewriter(options?: ParserOptions): ChunkRewriter {
  const states: ChoiceState[] = [];
  let lastChunk: ChatCompletionChunk | null = null;

  function stateOf(index: number): ChoiceState {
    return (states[index] ??= { parser: createStreamParser(options), finished: false });
  }

  return {
    rewrite(chunk) {
      const choices = chunk.choices;
      if (!Array.isArray(choices) || choices.length === 0) return chunk;
      lastChunk = chunk;
      for (let i = 0; i < choices.length; i++) {
        const choice = choices[i];
        const st = stateOf(choice.index ?? 0);
        if (st.finished) continue;
        const delta = (choice.delta ??= {});
        // A chunk whose delta already has tool calls comes from an upstream that parses them.
        if (delta.tool_calls !== undefined) continue;
        const text = delta.content;
        const released = typeof text === "string" && text.length > 0 ? st.parser.push(text) : NONE;
        const finishing = choice.finish_reason !== null && choice.finish_reason !== undefined;
        const rest = finishing ? st.parser.end() : NONE;
        if (finishing) st.finished = true;
        if (typeof text === "string" || released.length > 0 || rest.length > 0) applyDeltas(delta, released, rest);
        if (finishing && choice.finish_reason === "stop" && st.parser.sawToolCall) choice.finish_reason = "tool_calls";
      }
      return chunk;
    },
    end() {
      const leftovers: ChunkChoice[] = [];
      for (let index = 0; index < states.length; index++) {
        const st = states[index];
        if (st === undefined || st.finished) continue;
        st.finished = true;
        const rest = st.parser.end();
        if (rest.length === 0) continue;
        const delta: ChunkDelta = {};
        applyDeltas(delta, rest, NONE);
        leftovers.push({ index, delta, logprobs: null, finish_reason: null });
      }
      if (leftovers.length === 0) return null;
      const { id, object, created, model } = lastChunk ?? {};
      return { id, object: object ?? "chat.completion.chunk", created, model, choices: leftovers };
    },
  };
}

/**
 * True when a rewritten chunk carries nothing a client needs: no usage, and only choices with
 * an empty delta and no finish_reason. The forwarder may skip sending it.
 *
 * @example
 * isEmptyChunk({ choices: [{ index: 0, delta: { content: undefined }, finish_reason: null }] }) // true
 */
export function isEmptyChunk(chunk: ChatCompletionChunk): boolean {
  if (chunk.usage != null) return false;
  const choices = chunk.choices;
  if (!Array.isArray(choices) || choices.length === 0) return false;
  for (const c of choices) {
    if (c.finish_reason != null || c.logprobs != null) return false;
    const d = c.delta;
    if (d === undefined) continue;
    for (const key in d) if (d[key] !== undefined && d[key] !== null) return false;
  }
  return true;
}
