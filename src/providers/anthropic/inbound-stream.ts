/**
 * Inbound direction: an OpenAI chat.completion.chunk SSE stream → the Anthropic Messages SSE events
 * an Anthropic client expects: `message_start`, per block `content_block_start` / `_delta` /
 * `_stop`, then `message_delta` (stop reason, usage) and `message_stop`.
 *
 * - reasoning_content (or `reasoning`) deltas → a thinking block (thinking_delta);
 * - content deltas → a text block (text_delta);
 * - each new tool call index → a tool_use block (id, name), its argument fragments → input_json_delta;
 * - a block is stopped when the next kind begins; argument fragments of an earlier tool call (rare
 *   interleaving) still go to that call's block index, which the SDKs accumulate by index;
 * - finish_reason and the include_usage chunk are held for `message_delta`; input_tokens are known only
 *   then, so `message_start` carries zeros and `message_delta` the real counts;
 * - `data: {"error":...}` → `event: error` with the mapped Anthropic type;
 * - a body that ends without `[DONE]` and without a finish_reason ends with an `api_error` event;
 * - SSE comments (the forwarder's keep-alives) pass through.
 *
 * Only choice 0 is translated (the inbound request never asks for more).
 */
import { openAIStreamErrorType } from "./errors";
import { usageToAnthropic, stopReason } from "./inbound-response";
import type { OpenAIUsage } from "../common/openai-wire";
import { sseTranslator, type StreamTranslator, type TranslatorState } from "../common/transform";
import type { AnthropicStopReason } from "./types";

type Kind = "text" | "thinking" | "tool";

const event = (name: string, data: string): string => `event: ${name}\ndata: ${data}\n\n`;

/**
 * @param model the model name the client asked for
 * @param messageId the Anthropic-style id of the message (`msg_...`)
 * @example
 * const t = createOpenAIToAnthropicStreamTranslator("claude-compatible", "msg_123");
 * const client = upstream.body!.pipeThrough(translatorStream(t));
 */
export function createOpenAIToAnthropicStreamTranslator(model: string, messageId: string): StreamTranslator {
  const state: TranslatorState = { out: "", done: false };
  let started = false;
  let blocks = 0; // blocks opened so far; the open one is blocks - 1
  let open: Kind | null = null;
  const toolBlock: number[] = []; // OpenAI tool index → Anthropic block index
  let stop: AnthropicStopReason | null = null;
  let usage: Partial<OpenAIUsage> | null = null;

  function start(): void {
    if (started) return;
    started = true;
    const message = { id: messageId, type: "message", role: "assistant", model, content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: 0, output_tokens: 0 } };
    state.out += event("message_start", JSON.stringify({ type: "message_start", message }));
  }

  function closeBlock(): void {
    if (open === null) return;
    state.out += event("content_block_stop", `{"type":"content_block_stop","index":${blocks - 1}}`);
    open = null;
  }

  function openBlock(kind: Kind, contentBlock: string): number {
    closeBlock();
    const index = blocks++;
    open = kind;
    state.out += event("content_block_start", `{"type":"content_block_start","index":${index},"content_block":${contentBlock}}`);
    return index;
  }

  function text(kind: "text" | "thinking", piece: string): void {
    if (open !== kind) openBlock(kind, kind === "text" ? `{"type":"text","text":""}` : `{"type":"thinking","thinking":"","signature":""}`);
    const delta = kind === "text" ? `{"type":"text_delta","text":${JSON.stringify(piece)}}` : `{"type":"thinking_delta","thinking":${JSON.stringify(piece)}}`;
    state.out += event("content_block_delta", `{"type":"content_block_delta","index":${blocks - 1},"delta":${delta}}`);
  }

  function toolDelta(call: { index?: number; id?: string; function?: { name?: string; arguments?: string } }): void {
    const tool = typeof call.index === "number" ? call.index : 0;
    let index = toolBlock[tool];
    if (index === undefined) {
      const id = typeof call.id === "string" && call.id !== "" ? call.id : `toolu_${messageId}_${tool}`;
      index = openBlock("tool", `{"type":"tool_use","id":${JSON.stringify(id)},"name":${JSON.stringify(call.function?.name ?? "")},"input":{}}`);
      toolBlock[tool] = index;
    }
    const args = call.function?.arguments;
    if (typeof args === "string" && args !== "") {
      state.out += event("content_block_delta", `{"type":"content_block_delta","index":${index},"delta":{"type":"input_json_delta","partial_json":${JSON.stringify(args)}}}`);
    }
  }

  function finish(): void {
    start();
    closeBlock();
    const u = usageToAnthropic(usage);
    const delta = { type: "message_delta", delta: { stop_reason: stop ?? "end_turn", stop_sequence: null }, usage: u };
    state.out += event("message_delta", JSON.stringify(delta));
    state.out += event("message_stop", `{"type":"message_stop"}`);
    state.done = true;
  }

  function fail(type: string, message: string): void {
    state.out += event("error", JSON.stringify({ type: "error", error: { type, message } }));
    state.done = true;
  }

  function onEvent(_name: string, data: string): void {
    if (state.done) return;
    if (data === "[DONE]") return finish();
    let chunk: any;
    try {
      chunk = JSON.parse(data);
    } catch {
      return fail("api_error", "The upstream sent a malformed stream event.");
    }
    if (chunk?.error !== undefined) {
      const e = chunk.error;
      return fail(openAIStreamErrorType(e), typeof e?.message === "string" ? e.message : "The upstream reported an error mid-stream.");
    }
    start();
    if (chunk.usage) usage = chunk.usage;
    const choice = Array.isArray(chunk.choices) ? chunk.choices.find((c: { index?: number }) => (c.index ?? 0) === 0) : undefined;
    if (choice === undefined) return;
    const d = choice.delta ?? {};
    const reasoning = d.reasoning_content ?? d.reasoning;
    if (typeof reasoning === "string" && reasoning !== "") text("thinking", reasoning);
    if (typeof d.content === "string" && d.content !== "") text("text", d.content);
    if (Array.isArray(d.tool_calls)) for (const call of d.tool_calls) toolDelta(call);
    if (choice.finish_reason) stop = stopReason(choice.finish_reason);
  }

  return sseTranslator(state, onEvent, () => {
    // Some OpenAI-compatible servers end without [DONE]; a finish_reason says the reply was whole.
    if (stop !== null) finish();
    else fail("api_error", "The upstream stream ended before the reply was complete.");
  });
}
