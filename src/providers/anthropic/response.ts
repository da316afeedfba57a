/**
 * Anthropic Messages reply → OpenAI chat.completion.
 *
 * - text blocks → `message.content` (joined as they come; null when there is none, as OpenAI does
 *   for a pure tool call);
 * - tool_use → `message.tool_calls` (input re-serialised as the JSON `arguments` string);
 * - thinking → `message.reasoning_content`; redacted_thinking and server-tool blocks are dropped;
 * - stop_reason → finish_reason with {@link finishReason};
 * - usage: OpenAI's prompt_tokens counts cached input too, so it is input + cache writes + cache
 *   reads, with the reads also reported as `prompt_tokens_details.cached_tokens`.
 */
import { openAIUsage, unixNow, type OpenAIChatCompletion, type OpenAIFinishReason, type OpenAIToolCall, type OpenAIUsage } from "../common/openai-wire";
import type { AnthropicResponse, AnthropicUsage } from "./types";

/**
 * | Anthropic | OpenAI |
 * | :-- | :-- |
 * | end_turn, stop_sequence, pause_turn | stop |
 * | max_tokens, model_context_window_exceeded | length |
 * | tool_use | tool_calls |
 * | refusal | content_filter |
 */
export function finishReason(stop: string | null | undefined): OpenAIFinishReason {
  switch (stop) {
    case "max_tokens":
    case "model_context_window_exceeded":
      return "length";
    case "tool_use":
      return "tool_calls";
    case "refusal":
      return "content_filter";
    default:
      return "stop";
  }
}

/** Anthropic's input_tokens excludes cache reads and writes; OpenAI's prompt_tokens includes both. */
export function usageFromAnthropic(u: Partial<AnthropicUsage> | undefined): OpenAIUsage {
  const input = (u?.input_tokens ?? 0) + (u?.cache_creation_input_tokens ?? 0) + (u?.cache_read_input_tokens ?? 0);
  return openAIUsage(input, u?.output_tokens ?? 0, u?.cache_read_input_tokens ?? undefined);
}

/**
 * @param model the model name the client asked for (an alias may differ from Anthropic's own)
 * @example
 * const completion = fromAnthropicResponse(await res.json(), "claude-sonnet");
 * completion.choices[0].message.content; // "Hello!"
 */
export function fromAnthropicResponse(msg: AnthropicResponse, model: string): OpenAIChatCompletion {
  let text: string | null = null;
  let reasoning: string | undefined;
  const calls: OpenAIToolCall[] = [];
  for (const block of msg.content ?? []) {
    if (block.type === "text") text = text === null ? block.text : text + block.text;
    else if (block.type === "tool_use") calls.push({ id: block.id, type: "function", function: { name: block.name, arguments: JSON.stringify(block.input ?? {}) } });
    else if (block.type === "thinking") reasoning = reasoning === undefined ? block.thinking : reasoning + block.thinking;
  }
  const message: OpenAIChatCompletion["choices"][0]["message"] = { role: "assistant", content: text, refusal: null };
  if (calls.length > 0) message.tool_calls = calls;
  if (reasoning !== undefined) message.reasoning_content = reasoning;
  return {
    id: msg.id,
    object: "chat.completion",
    created: unixNow(),
    model,
    choices: [{ index: 0, message, logprobs: null, finish_reason: finishReason(msg.stop_reason) }],
    usage: usageFromAnthropic(msg.usage),
  };
}
