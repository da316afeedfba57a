/**
 * Output parsing on the wire: an OpenAI-compatible upstream's chat-completion SSE stream (vLLM,
 * Ollama, SGLang) in, the same stream out with every `chat.completion.chunk` rewritten by an
 * OutputParser, event by event as the bytes arrive. The reply is never buffered: only the text a
 * parser holds back (an incomplete tool call, a partial tag) waits, inside the parser.
 *
 * | Upstream event | Client gets |
 * | :-- | :-- |
 * | `data: {chunk}` | the chunk rewritten; dropped when the rewrite left it with nothing to say |
 * | `data: [DONE]` | what the parser still held (one chunk), then `[DONE]`; later input ignored |
 * | `data: {"error": …}`, data that is not a chunk, named events, comments | passed through |
 * | body ends before `[DONE]` | what the parser still held, then an `upstream_stream_interrupted` error event |
 */

import { DONE_EVENT, errorEvent } from "../providers/common/openai-wire.ts";
import { sseTranslator, type StreamTranslator, type TranslatorState } from "../providers/common/transform.ts";
import { isEmptyChunk, type ChatCompletionChunk } from "./chunk.ts";
import type { OutputParser } from "./index.ts";

// Fields every chunk has, or that isEmptyChunk already judged; anything else (vLLM's
// `token_ids` or `prompt_token_ids`, say) may matter to the client that asked for it.
const CHUNK_FIELDS: ReadonlySet<string> = new Set(["id", "object", "created", "model", "system_fingerprint", "service_tier", "choices", "usage"]);
const CHOICE_FIELDS: ReadonlySet<string> = new Set(["index", "delta", "finish_reason", "logprobs"]);

/** True when an otherwise empty chunk has a non-null field isEmptyChunk does not look at. */
function carriesMore(chunk: ChatCompletionChunk): boolean {
  for (const key in chunk) if (chunk[key] != null && !CHUNK_FIELDS.has(key)) return true;
  const choices = chunk.choices!;
  for (let i = 0; i < choices.length; i++) {
    const choice = choices[i];
    for (const key in choice) if (choice[key] != null && !CHOICE_FIELDS.has(key)) return true;
  }
  return false;
}

/** An SSE event with `data` as its data, split back into lines (the parser joined them with "\n"). */
function dataEvent(data: string): string {
  return data.includes("\n") ? `data: ${data.replaceAll("\n", "\ndata: ")}\n\n` : `data: ${data}\n\n`;
}

/**
 * @param parser the model's output parser; each translator takes one fresh chunk rewriter from it
 * @example
 * const t = createParsingTranslator(parserFor("hermes"));
 * t.push('data: {"object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"<think>hm</think>Hi"},"finish_reason":null}]}\n\n');
 * // 'data: {"object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"Hi","reasoning_content":"hm"},"finish_reason":null}]}\n\n'
 * t.push("data: [DONE]\n\n"); // "data: [DONE]\n\n"; t.done is now true
 * t.end(); // ""
 */
export function createParsingTranslator(parser: OutputParser): StreamTranslator {
  const rewriter = parser.chunks();
  const state: TranslatorState = { out: "", done: false };
  // The upstream reported its own error: the client was told, one error event is enough.
  let failed = false;

  function flushHeld(): void {
    const rest = rewriter.end();
    if (rest !== null) state.out += `data: ${JSON.stringify(rest)}\n\n`;
  }

  function onEvent(event: string, data: string): void {
    if (state.done) return;
    if (event !== "message") {
      if (event === "error") failed = true;
      state.out += `event: ${event}\n${dataEvent(data)}`;
      return;
    }
    if (data === "[DONE]") {
      flushHeld();
      state.out += DONE_EVENT;
      state.done = true;
      return;
    }
    let value: any;
    try {
      value = JSON.parse(data);
    } catch {
      state.out += dataEvent(data);
      return;
    }
    // Anything but a chat chunk goes out as it came, byte for byte (no re-serialising).
    if (value === null || typeof value !== "object" || Array.isArray(value)) {
      state.out += dataEvent(data);
      return;
    }
    if (value.error != null) failed = true;
    // A legacy `text_completion` chunk has choices too, but no delta to rewrite.
    if (value.error != null || !Array.isArray(value.choices) || (value.object !== undefined && value.object !== "chat.completion.chunk")) {
      state.out += dataEvent(data);
      return;
    }
    const chunk = rewriter.rewrite(value as ChatCompletionChunk);
    // Held-back text leaves chunks with nothing to say; sending them would only cost bandwidth.
    if (isEmptyChunk(chunk) && !carriesMore(chunk)) return;
    state.out += `data: ${JSON.stringify(chunk)}\n\n`;
  }

  return sseTranslator(state, onEvent, () => {
    flushHeld();
    if (!failed) state.out += errorEvent("The upstream stream ended before the reply was complete.", "upstream_error", "upstream_stream_interrupted");
    state.done = true;
  });
}
