/**
 * What completions and embeddings requests cost: their `prompt` / `input` is a string, an array
 * of strings, a token array (already tokens: its length) or an array of token arrays. There is no
 * per-message formatting on these endpoints, so the count is the plain sum. A completions
 * `suffix` is input too and is counted.
 */

import { isRecord, type ItemVisitor, type RequestSink } from "./sink.ts";

const visitText: ItemVisitor<string> = (text, sink) => sink.text(text);

function walkInput(input: unknown, sink: RequestSink): void {
  if (typeof input === "string") {
    sink.item(visitText, input);
    return;
  }
  if (!Array.isArray(input)) return;
  if (input.length > 0 && typeof input[0] === "number") {
    sink.fixed(input.length);
    return;
  }
  for (const element of input) {
    if (typeof element === "string") sink.item(visitText, element);
    else if (Array.isArray(element)) sink.fixed(element.length);
  }
}

/**
 * Reports a completions body: each prompt string is an item; token arrays are counted as is.
 *
 * @example
 * walkCompletionsRequest({ prompt: ["Say hi", [1, 2, 3]] }, sink); // item "Say hi", fixed 3
 */
export function walkCompletionsRequest(body: unknown, sink: RequestSink): void {
  if (!isRecord(body)) return;
  walkInput(body.prompt, sink);
  if (typeof body.suffix === "string") sink.item(visitText, body.suffix);
}

/**
 * Reports an embeddings body: each input string is an item; token arrays are counted as is.
 *
 * @example
 * walkEmbeddingsRequest({ input: "hello world" }, sink); // item "hello world"
 */
export function walkEmbeddingsRequest(body: unknown, sink: RequestSink): void {
  if (!isRecord(body)) return;
  walkInput(body.input, sink);
}
