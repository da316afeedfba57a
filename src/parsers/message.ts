/**
 * Whole replies: merging a stream's deltas into one message, parsing a complete text, and
 * rewriting a non-streamed `chat.completion` object. The complete-text parse runs the same
 * state machine over the text in one piece, so streamed and whole replies cannot disagree.
 */

import { createStreamParser } from "./stream.ts";
import type { Delta, ParsedMessage, ParserOptions, ToolCall } from "./types.ts";

/**
 * Joins deltas the way an OpenAI client accumulates them: content and reasoning concatenated,
 * tool-call pieces gathered by `index` (id, type and name from the piece that has them,
 * arguments appended).
 *
 * @example
 * mergeDeltas([{ content: "Hi " }, { reasoning_content: "hm" }, { content: "there" }])
 * // { content: "Hi there", reasoning_content: "hm", tool_calls: [] }
 */
export function mergeDeltas(deltas: Iterable<Delta>): ParsedMessage {
  let content = "";
  let reasoning = "";
  const calls: ToolCall[] = [];
  for (const d of deltas) {
    if (d.content) content += d.content;
    if (d.reasoning_content) reasoning += d.reasoning_content;
    if (!d.tool_calls) continue;
    for (const t of d.tool_calls) {
      const call = (calls[t.index] ??= { id: "", type: "function", function: { name: "", arguments: "" } });
      if (t.id) call.id = t.id;
      if (t.function.name) call.function.name += t.function.name;
      if (t.function.arguments) call.function.arguments += t.function.arguments;
    }
  }
  return {
    content: content.length > 0 ? content : null,
    reasoning_content: reasoning.length > 0 ? reasoning : null,
    tool_calls: calls.filter((c) => c !== undefined),
  };
}

/**
 * Splits a complete reply text.
 *
 * @example
 * parseMessage('<think>Easy.</think>\n\n{"name": "now", "parameters": {}}', { toolCalls: "llama3" })
 * // { content: null, reasoning_content: "Easy.",
 * //   tool_calls: [{ id: "call_…", type: "function", function: { name: "now", arguments: "{}" } }] }
 */
export function parseMessage(text: string, options?: ParserOptions): ParsedMessage {
  const parser = createStreamParser(options);
  const deltas = [...parser.push(text), ...parser.end()];
  return mergeDeltas(deltas);
}

interface CompletionChoice {
  message?: { content?: unknown; reasoning_content?: unknown; tool_calls?: unknown };
  finish_reason?: unknown;
}

/**
 * Rewrites a non-streamed chat completion in place (and returns it): each choice's text
 * `message.content` is split into content, `reasoning_content` and `tool_calls`; a choice that
 * gained tool calls and stopped normally gets finish_reason `tool_calls`. Choices whose message
 * already has tool calls (the upstream parsed them itself) are left alone.
 *
 * @example
 * rewriteCompletion({ choices: [{ index: 0, message: { role: "assistant", content: "<think>x</think>Hi" }, finish_reason: "stop" }] })
 * // message becomes { role: "assistant", content: "Hi", reasoning_content: "x" }
 */
export function rewriteCompletion<T extends { choices?: unknown }>(completion: T, options?: ParserOptions): T {
  const choices = completion.choices;
  if (!Array.isArray(choices)) return completion;
  for (const choice of choices as CompletionChoice[]) {
    const message = choice?.message;
    if (!message || typeof message.content !== "string") continue;
    if (Array.isArray(message.tool_calls) && message.tool_calls.length > 0) continue;
    const parsed = parseMessage(message.content, options);
    const hasCalls = parsed.tool_calls.length > 0;
    message.content = parsed.content ?? (hasCalls ? null : "");
    if (parsed.reasoning_content !== null) {
      const before = typeof message.reasoning_content === "string" ? message.reasoning_content : "";
      message.reasoning_content = before + parsed.reasoning_content;
    }
    if (hasCalls) {
      message.tool_calls = parsed.tool_calls;
      if (choice.finish_reason === "stop") choice.finish_reason = "tool_calls";
    }
  }
  return completion;
}
