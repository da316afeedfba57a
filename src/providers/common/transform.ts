/**
 * The common shape of a stream translator (upstream SSE in, client SSE out) and its adapter to a
 * web TransformStream, so a forwarder can `body.pipeThrough(...)` any of them.
 *
 * Shared by the provider folders; the forwarder drives a translator directly (see src/forwarder/sse.ts).
 */

import { createSseParser, type SseHandler } from "./sse";

export interface StreamTranslator {
  /** Feeds upstream bytes (split anywhere); returns the client-side SSE text they complete, often "". */
  push(chunk: Uint8Array | string): string;
  /**
   * The upstream body ended. Returns the closing events: the normal end when the upstream finished
   * properly, else an error event telling the client the reply is incomplete.
   */
  end(): string;
  /** True once the translated stream is complete (finished or failed); later input is ignored. */
  readonly done: boolean;
}

/** What a translator has written since the last call, and whether it has finished. */
export interface TranslatorState {
  out: string;
  done: boolean;
}

/**
 * The part every SSE translator shares: upstream bytes go through an SSE parser into `onEvent`
 * until the translator marks `state.done`; comments pass through (keep-alives of a proxy or of
 * the forwarder keep idle timers downstream at bay); `finish` runs once if the upstream body
 * ends before the translator was done (to close the reply, or to fail it); each call hands back
 * what `state.out` gathered.
 *
 * @example
 * const state: TranslatorState = { out: "", done: false };
 * return sseTranslator(state, (event, data) => { state.out += translate(event, data); }, () => { state.out += errorEvent(...); state.done = true; });
 */
export function sseTranslator(state: TranslatorState, onEvent: SseHandler, finish: () => void): StreamTranslator {
  const parser = createSseParser(onEvent, (text) => {
    if (!state.done) state.out += `:${text}\n\n`;
  });
  const take = (): string => {
    const out = state.out;
    state.out = "";
    return out;
  };
  return {
    push(chunk) {
      if (!state.done) parser.push(chunk);
      return take();
    },
    end() {
      if (!state.done) parser.end(); // may still deliver an unterminated last event
      if (!state.done) finish();
      return take();
    },
    get done() {
      return state.done;
    },
  };
}

/**
 * @example
 * const client = upstream.body!.pipeThrough(translatorStream(createAnthropicStreamTranslator(model, id)));
 */
export function translatorStream(t: StreamTranslator): TransformStream<Uint8Array, Uint8Array> {
  const encoder = new TextEncoder();
  return new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      const out = t.push(chunk);
      if (out.length > 0) controller.enqueue(encoder.encode(out));
    },
    flush(controller) {
      const out = t.end();
      if (out.length > 0) controller.enqueue(encoder.encode(out));
    },
  });
}

/**
 * Two translators in a row (upstream → OpenAI → client), as one: what the first one emits is
 * the second one's input. The first one's end-of-stream events (or its error event) pass through
 * the second before the second ends.
 *
 * @example
 * const t = chainTranslators(createGeminiStreamTranslator(model, id), createOpenAIToAnthropicStreamTranslator(model, msgId));
 */
export function chainTranslators(first: StreamTranslator, second: StreamTranslator): StreamTranslator {
  return {
    push(chunk) {
      const middle = first.push(chunk);
      return middle === "" ? "" : second.push(middle);
    },
    end() {
      const middle = first.end();
      const out = middle === "" ? "" : second.push(middle);
      return out + second.end();
    },
    get done() {
      return second.done;
    },
  };
}
