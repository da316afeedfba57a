/**
 * The common shape of a stream translator (upstream SSE in, client SSE out) and its adapter to a
 * web TransformStream, so a forwarder can `body.pipeThrough(...)` any of them.
 *
 * Shared with ../gemini.
 */

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
