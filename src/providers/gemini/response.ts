/**
 * Gemini generateContent reply → OpenAI chat.completion.
 *
 * - one choice per candidate (`n` → candidateCount), its index kept;
 * - text parts → content; `thought: true` parts → reasoning_content;
 * - functionCall parts → tool_calls (args re-serialised as the JSON `arguments` string; the id
 *   carries the part's thought signature, see ./tool-ids.ts);
 * - finishReason → finish_reason with {@link finishReason};
 * - a prompt blocked before any candidate (`promptFeedback.blockReason`) → one empty choice with
 *   finish_reason content_filter;
 * - usage: thoughtsTokenCount is not part of candidatesTokenCount, but OpenAI counts reasoning in
 *   completion_tokens, so completion = candidates + thoughts (thoughts also as reasoning_tokens);
 *   cachedContentTokenCount → prompt_tokens_details.cached_tokens.
 */
import { openAIUsage, unixNow, type OpenAIChatCompletion, type OpenAIChoice, type OpenAIFinishReason, type OpenAIToolCall, type OpenAIUsage } from "../common/openai-wire";
import { toolCallId } from "./tool-ids";
import type { GeminiCandidate, GeminiPart, GeminiResponse, GeminiUsageMetadata } from "./types";

const FILTERED = new Set([
  "SAFETY", "RECITATION", "LANGUAGE", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII",
  "IMAGE_SAFETY", "IMAGE_PROHIBITED_CONTENT", "IMAGE_RECITATION",
]);

/**
 * | Gemini | OpenAI |
 * | :-- | :-- |
 * | STOP | stop, or tool_calls when the candidate called functions |
 * | MAX_TOKENS | length |
 * | SAFETY, RECITATION, LANGUAGE, BLOCKLIST, PROHIBITED_CONTENT, SPII, IMAGE_* | content_filter |
 * | MALFORMED_FUNCTION_CALL, OTHER, FINISH_REASON_UNSPECIFIED, anything new | stop (OpenAI has no "error" reason) |
 */
export function finishReason(reason: string | undefined, calledTools: boolean): OpenAIFinishReason {
  if (reason === "MAX_TOKENS") return "length";
  if (reason !== undefined && FILTERED.has(reason)) return "content_filter";
  return calledTools ? "tool_calls" : "stop";
}

export function usageFromGemini(u: GeminiUsageMetadata | undefined): OpenAIUsage {
  const thoughts = u?.thoughtsTokenCount ?? 0;
  return openAIUsage(u?.promptTokenCount ?? 0, (u?.candidatesTokenCount ?? 0) + thoughts, u?.cachedContentTokenCount, thoughts);
}

/** An OpenAI tool call for a functionCall part. */
export function toolCallOf(part: GeminiPart): OpenAIToolCall {
  const fc = part.functionCall!;
  return { id: toolCallId(part.thoughtSignature), type: "function", function: { name: fc.name, arguments: JSON.stringify(fc.args ?? {}) } };
}

function choiceOf(c: GeminiCandidate, position: number): OpenAIChoice {
  let text: string | null = null;
  let reasoning: string | undefined;
  const calls: OpenAIToolCall[] = [];
  for (const part of c.content?.parts ?? []) {
    if (part.functionCall !== undefined) calls.push(toolCallOf(part));
    else if (typeof part.text === "string") {
      if (part.thought === true) reasoning = (reasoning ?? "") + part.text;
      else text = (text ?? "") + part.text;
    }
  }
  const message: OpenAIChoice["message"] = { role: "assistant", content: text, refusal: null };
  if (calls.length > 0) message.tool_calls = calls;
  if (reasoning !== undefined) message.reasoning_content = reasoning;
  return { index: c.index ?? position, message, logprobs: null, finish_reason: finishReason(c.finishReason, calls.length > 0) };
}

/**
 * @param model the model name the client asked for
 * @example
 * const completion = fromGeminiResponse(await res.json(), "gemini-flash");
 * completion.choices[0].message.content; // "Hello!"
 */
export function fromGeminiResponse(resp: GeminiResponse, model: string): OpenAIChatCompletion {
  const candidates = resp.candidates ?? [];
  const choices = candidates.map(choiceOf);
  if (choices.length === 0) {
    // The prompt itself was blocked (or nothing came back): say so the way OpenAI does.
    choices.push({ index: 0, message: { role: "assistant", content: null, refusal: null }, logprobs: null, finish_reason: resp.promptFeedback?.blockReason ? "content_filter" : "stop" });
  }
  choices.sort((a, b) => a.index - b.index);
  return {
    id: resp.responseId ? `chatcmpl-${resp.responseId}` : `chatcmpl-${toolCallId(undefined).slice(5)}`,
    object: "chat.completion",
    created: unixNow(),
    model,
    choices,
    usage: usageFromGemini(resp.usageMetadata),
  };
}
