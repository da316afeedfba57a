/**
 * Gemini streamGenerateContent?alt=sse → OpenAI chat.completion.chunk SSE.
 *
 * Each Gemini event is a whole GenerateContentResponse carrying the next parts of each candidate:
 *
 * - a candidate's first appearance → `{"role":"assistant","content":""}` for its choice index;
 * - text parts → content deltas; `thought: true` parts → reasoning_content deltas;
 * - functionCall parts (Gemini sends each call whole) → one tool_calls delta with id, name and the
 *   complete arguments, tool indices counted per choice;
 * - finishReason → that choice's finish chunk (see ./response.ts `finishReason`);
 * - a blocked prompt (`promptFeedback.blockReason`, no candidates) → choice 0 finished with content_filter;
 * - usageMetadata → kept (the last one is the total) for the include_usage chunk;
 * - `{"error":{...}}` in the stream → an OpenAI error event, then nothing more;
 * - SSE comments pass through.
 *
 * Gemini has no end-of-stream event: the body simply ends. At that point, if every choice that
 * appeared has finished, the usage chunk (when asked) and `[DONE]` follow; otherwise the client gets
 * an error event, never a `[DONE]` for a cut reply.
 */
import { chunkWriter, DONE_EVENT, errorEvent, unixNow } from "../common/openai-wire";
import { sseTranslator, type StreamTranslator, type TranslatorState } from "../common/transform";
import { streamErrorToOpenAI } from "./errors";
import { finishReason, toolCallOf, usageFromGemini } from "./response";
import type { GeminiResponse, GeminiUsageMetadata } from "./types";

export interface GeminiStreamOptions {
  /** The client sent `stream_options: {"include_usage": true}`. */
  includeUsage?: boolean;
}

interface ChoiceState { tools: number; finished: boolean }

/**
 * @param model the model name the client asked for
 * @param requestId becomes the `id` of every chunk
 * @example
 * const t = createGeminiStreamTranslator("gemini-flash", "chatcmpl-123", { includeUsage: true });
 * const client = upstream.body!.pipeThrough(translatorStream(t));
 */
export function createGeminiStreamTranslator(model: string, requestId: string, opts: GeminiStreamOptions = {}): StreamTranslator {
  const includeUsage = opts.includeUsage === true;
  const w = chunkWriter(requestId, model, unixNow(), includeUsage);
  const choices: ChoiceState[] = [];
  let usage: GeminiUsageMetadata | undefined;
  const state: TranslatorState = { out: "", done: false };

  function fail(message: string, type: string, code: string): void {
    state.out += errorEvent(message, type, code);
    state.done = true;
  }

  function choice(index: number): ChoiceState {
    let c = choices[index];
    if (c === undefined) {
      c = choices[index] = { tools: 0, finished: false };
      state.out += w.role(index);
    }
    return c;
  }

  function onEvent(_name: string, data: string): void {
    if (state.done) return;
    let r: GeminiResponse & { error?: { code?: number; message?: string; status?: string } };
    try {
      r = JSON.parse(data);
    } catch {
      return fail("The upstream sent a malformed stream event.", "upstream_error", "upstream_bad_event");
    }
    if (r?.error !== undefined) {
      const mapped = streamErrorToOpenAI(r.error);
      return fail(mapped.message, mapped.type, mapped.code);
    }
    if (r.usageMetadata !== undefined) usage = r.usageMetadata;
    const candidates = r.candidates ?? [];
    if (candidates.length === 0 && r.promptFeedback?.blockReason) {
      const c = choice(0);
      if (!c.finished) {
        c.finished = true;
        state.out += w.finish(0, "content_filter");
      }
      return;
    }
    for (let i = 0; i < candidates.length; i++) {
      const cand = candidates[i];
      const index = cand.index ?? i;
      const c = choice(index);
      if (c.finished) continue;
      for (const part of cand.content?.parts ?? []) {
        if (part.functionCall !== undefined) {
          const call = toolCallOf(part);
          state.out += w.toolCall(index, c.tools++, call.id, call.function.name, call.function.arguments);
        } else if (typeof part.text === "string" && part.text !== "") {
          state.out += part.thought === true ? w.reasoning(index, part.text) : w.content(index, part.text);
        }
      }
      if (cand.finishReason) {
        c.finished = true;
        state.out += w.finish(index, finishReason(cand.finishReason, c.tools > 0));
      }
    }
  }

  return sseTranslator(state, onEvent, () => {
    let seen = 0;
    let finished = true;
    for (const c of choices) {
      if (c === undefined) continue;
      seen++;
      finished &&= c.finished;
    }
    if (seen === 0 || !finished) return fail("The upstream stream ended before the reply was complete.", "upstream_error", "upstream_stream_interrupted");
    if (includeUsage) state.out += w.usage(usageFromGemini(usage));
    state.out += DONE_EVENT;
    state.done = true;
  });
}
