/**
 * Anthropic Messages SSE → OpenAI chat.completion.chunk SSE.
 *
 * | Anthropic event | OpenAI chunk |
 * | :-- | :-- |
 * | message_start | `{"role":"assistant","content":""}`; input usage noted |
 * | content_block_start text / thinking | its initial text, if any, as content / reasoning_content |
 * | content_block_start tool_use | a tool_calls delta with the next tool index, id, name, `""` arguments |
 * | content_block_delta text_delta / thinking_delta / input_json_delta | content / reasoning_content / tool_calls arguments |
 * | content_block_stop of a tool_use that streamed no arguments | arguments `"{}"` (what the non-streamed reply says) |
 * | message_delta | stop_reason and cumulative usage noted |
 * | message_stop | the finish chunk, the usage chunk (stream_options.include_usage), `[DONE]` |
 * | error | an OpenAI error event (see ./errors.ts), then nothing more |
 * | ping | an SSE comment `: ping` (keeps idle timers downstream alive; clients ignore comments) |
 * | SSE comments | passed through |
 * | signature_delta, citations_delta, other blocks, unknown events | nothing |
 *
 * A body that ends before message_stop ends with an error event instead of `[DONE]`, so the client
 * never mistakes a cut reply for a whole one.
 */
import { streamErrorToOpenAI } from "./errors";
import { chunkWriter, DONE_EVENT, errorEvent, unixNow, type OpenAIFinishReason, type OpenAIUsage } from "../common/openai-wire";
import { finishReason, usageFromAnthropic } from "./response";
import { sseTranslator, type StreamTranslator, type TranslatorState } from "../common/transform";
import type { AnthropicUsage } from "./types";

export interface AnthropicStreamOptions {
  /** The client sent `stream_options: {"include_usage": true}`. */
  includeUsage?: boolean;
}

/** Per content block: what it is, and for tool_use blocks the OpenAI tool index and whether arguments came. */
interface Block { kind: "text" | "thinking" | "tool" | "other"; tool: number; sentArgs: boolean }

/**
 * @param model the model name the client asked for
 * @param requestId becomes the `id` of every chunk
 * @example
 * const t = createAnthropicStreamTranslator("claude-sonnet", "chatcmpl-123", { includeUsage: true });
 * for await (const bytes of upstream.body) out.write(t.push(bytes));
 * out.write(t.end());
 */
export function createAnthropicStreamTranslator(model: string, requestId: string, opts: AnthropicStreamOptions = {}): StreamTranslator {
  const includeUsage = opts.includeUsage === true;
  const w = chunkWriter(requestId, model, unixNow(), includeUsage);
  const blocks: Block[] = [];
  let nextTool = 0;
  const state: TranslatorState = { out: "", done: false };
  let started = false;
  let stop: OpenAIFinishReason = "stop";
  const usage: Partial<AnthropicUsage> = {};

  function fail(message: string, type: string, code: string): void {
    state.out += errorEvent(message, type, code);
    state.done = true;
  }

  function start(): void {
    if (started) return;
    started = true;
    state.out += w.role(0);
  }

  function noteUsage(u: Partial<AnthropicUsage> | undefined): void {
    if (u === undefined || u === null) return;
    // message_delta's counts are cumulative: the latest value of each wins.
    if (typeof u.input_tokens === "number") usage.input_tokens = u.input_tokens;
    if (typeof u.output_tokens === "number") usage.output_tokens = u.output_tokens;
    if (typeof u.cache_creation_input_tokens === "number") usage.cache_creation_input_tokens = u.cache_creation_input_tokens;
    if (typeof u.cache_read_input_tokens === "number") usage.cache_read_input_tokens = u.cache_read_input_tokens;
  }

  function onEvent(name: string, data: string): void {
    if (state.done) return;
    let e: any;
    try {
      e = JSON.parse(data);
    } catch {
      return fail("The upstream sent a malformed stream event.", "upstream_error", "upstream_bad_event");
    }
    switch (e?.type ?? name) {
      case "message_start":
        start();
        noteUsage(e.message?.usage);
        return;
      case "content_block_start": {
        start();
        const cb = e.content_block ?? {};
        const index = e.index as number;
        if (cb.type === "text") {
          blocks[index] = { kind: "text", tool: -1, sentArgs: false };
          if (typeof cb.text === "string" && cb.text !== "") state.out += w.content(0, cb.text);
        } else if (cb.type === "thinking") {
          blocks[index] = { kind: "thinking", tool: -1, sentArgs: false };
          if (typeof cb.thinking === "string" && cb.thinking !== "") state.out += w.reasoning(0, cb.thinking);
        } else if (cb.type === "tool_use") {
          const tool = nextTool++;
          // A block that arrives with its input already filled (no deltas) keeps it.
          const preset = cb.input && typeof cb.input === "object" && Object.keys(cb.input).length > 0 ? JSON.stringify(cb.input) : "";
          blocks[index] = { kind: "tool", tool, sentArgs: preset !== "" };
          state.out += w.toolCall(0, tool, String(cb.id ?? `toolu_${tool}`), String(cb.name ?? ""), preset);
        } else {
          blocks[index] = { kind: "other", tool: -1, sentArgs: false };
        }
        return;
      }
      case "content_block_delta": {
        const b = blocks[e.index as number];
        const d = e.delta ?? {};
        if (b === undefined) return;
        if (d.type === "text_delta" && b.kind === "text" && typeof d.text === "string" && d.text !== "") state.out += w.content(0, d.text);
        else if (d.type === "thinking_delta" && b.kind === "thinking" && typeof d.thinking === "string" && d.thinking !== "") state.out += w.reasoning(0, d.thinking);
        else if (d.type === "input_json_delta" && b.kind === "tool" && typeof d.partial_json === "string" && d.partial_json !== "") {
          b.sentArgs = true;
          state.out += w.toolArgs(0, b.tool, d.partial_json);
        }
        return;
      }
      case "content_block_stop": {
        const b = blocks[e.index as number];
        // A tool without parameters streams no JSON; "{}" keeps the merged arguments parseable.
        if (b?.kind === "tool" && !b.sentArgs) {
          b.sentArgs = true;
          state.out += w.toolArgs(0, b.tool, "{}");
        }
        return;
      }
      case "message_delta":
        if (e.delta?.stop_reason) stop = finishReason(e.delta.stop_reason);
        noteUsage(e.usage);
        return;
      case "message_stop":
        start();
        state.out += w.finish(0, stop);
        if (includeUsage) state.out += w.usage(usageFromAnthropic(usage) as OpenAIUsage);
        state.out += DONE_EVENT;
        state.done = true;
        return;
      case "error": {
        const mapped = streamErrorToOpenAI(e.error);
        return fail(mapped.message, mapped.type, mapped.code);
      }
      case "ping":
        // Passed on as a comment: a forwarder's idle timer sees the upstream is alive while it thinks.
        state.out += ": ping\n\n";
        return;
      default:
        return; // event types added after this was written
    }
  }

  return sseTranslator(state, onEvent, () => fail("The upstream stream ended before the reply was complete.", "upstream_error", "upstream_stream_interrupted"));
}
