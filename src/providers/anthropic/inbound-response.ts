/**
 * Inbound direction: an OpenAI chat.completion → the Anthropic Message an Anthropic client expects.
 *
 * Only the first choice is used (the inbound request never asks for more). `reasoning_content`
 * (or `reasoning`) becomes a leading thinking block with an empty signature; text, then tool_use
 * blocks follow. finish_reason maps back with {@link stopReason}; usage splits OpenAI's
 * prompt_tokens into Anthropic's uncached `input_tokens` and `cache_read_input_tokens`.
 */
import type { OpenAIChatCompletion, OpenAIUsage } from "../common/openai-wire";
import { GatewayError } from "../../errors";
import type { AnthropicContentBlock, AnthropicResponse, AnthropicStopReason, AnthropicUsage } from "./types";

/**
 * | OpenAI | Anthropic |
 * | :-- | :-- |
 * | stop (and null) | end_turn |
 * | length | max_tokens |
 * | tool_calls, function_call | tool_use |
 * | content_filter | refusal |
 */
export function stopReason(finish: string | null | undefined): AnthropicStopReason {
  switch (finish) {
    case "length":
      return "max_tokens";
    case "tool_calls":
    case "function_call":
      return "tool_use";
    case "content_filter":
      return "refusal";
    default:
      return "end_turn";
  }
}

export function usageToAnthropic(u: Partial<OpenAIUsage> | null | undefined): AnthropicUsage {
  const cached = u?.prompt_tokens_details?.cached_tokens ?? 0;
  const usage: AnthropicUsage = { input_tokens: Math.max(0, (u?.prompt_tokens ?? 0) - cached), output_tokens: u?.completion_tokens ?? 0 };
  if (cached > 0) usage.cache_read_input_tokens = cached;
  return usage;
}

/**
 * @param model the model name the client asked for
 * @example
 * const msg = toAnthropicResponse(await upstream.json(), "claude-compatible");
 * msg.content; // [{ type: "text", text: "Hello!" }]
 */
export function toAnthropicResponse(completion: OpenAIChatCompletion, model: string): AnthropicResponse {
  const choice = completion.choices?.[0];
  const message = (choice?.message ?? {}) as OpenAIChatCompletion["choices"][0]["message"] & { reasoning?: string };
  const content: AnthropicContentBlock[] = [];
  const reasoning = message.reasoning_content ?? message.reasoning;
  if (typeof reasoning === "string" && reasoning !== "") content.push({ type: "thinking", thinking: reasoning, signature: "" });
  const text = typeof message.content === "string" ? message.content : "";
  if (text !== "") content.push({ type: "text", text });
  else if (typeof message.refusal === "string" && message.refusal !== "") content.push({ type: "text", text: message.refusal });
  for (const call of message.tool_calls ?? []) {
    let input: unknown;
    try {
      input = call.function.arguments === "" ? {} : JSON.parse(call.function.arguments);
    } catch {
      // Anthropic's tool_use.input is an object: there is no honest way to pass on broken JSON.
      throw new GatewayError(502, `The upstream returned tool call arguments that are not JSON (tool '${call.function.name}').`, "upstream_error", "upstream_bad_tool_call", null, undefined, "upstream");
    }
    content.push({ type: "tool_use", id: call.id, name: call.function.name, input });
  }
  return {
    id: completion.id?.startsWith("msg_") ? completion.id : `msg_${completion.id ?? "warden"}`,
    type: "message",
    role: "assistant",
    model,
    content,
    stop_reason: stopReason(choice?.finish_reason),
    stop_sequence: null,
    usage: usageToAnthropic(completion.usage),
  };
}
