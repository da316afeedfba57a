/**
 * The per-stream parser: reply text in, as it arrives; OpenAI deltas out, with reasoning moved
 * to `reasoning_content` and text-written tool calls turned into `tool_calls`.
 *
 * Reasoning tags are looked for first, and tool calls only in the content outside reasoning
 * blocks (models draft calls while thinking; those are not calls). A reasoning tag inside a
 * tool call's JSON is part of the call.
 *
 * Each tool call is emitted whole, in one delta carrying id, type, name and arguments, once
 * its text is complete: only then is its JSON known to be valid, and a malformed one can still
 * go to the client as the text it was. Clients cannot run half a call anyway.
 *
 * Whitespace right after a reasoning block, while nothing but whitespace has been said, is
 * the template's separator (`</think>\n\n`) and is dropped, as are the separators around tool
 * calls (./tools/plain-text.ts). Every other character reaches the client exactly once.
 */

import { createReasoningSplitter, type ReasoningSplitter } from "./reasoning.ts";
import { isAllSpace, skipSpace } from "./markers.ts";
import { randomToolCallId, type FoundCall } from "./tool-call.ts";
import { deepseekExtractor } from "./tools/deepseek.ts";
import { hermesExtractor } from "./tools/hermes.ts";
import { llama3Extractor } from "./tools/llama3.ts";
import { mistralExtractor } from "./tools/mistral.ts";
import type { ExtractorFactory, ToolExtractor } from "./tools/types.ts";
import type { Delta, ParserOptions, TagPair, ToolCallDelta, ToolCallFormat } from "./types.ts";

export interface StreamParser {
  /** Feeds the next piece of reply text (a chunk's `delta.content`); returns what it releases. */
  push(text: string): readonly Delta[];
  /** The reply ended: returns everything still held. Call once, last. */
  end(): readonly Delta[];
  /** True once a tool call was emitted: the choice's finish_reason is then `tool_calls`. */
  readonly sawToolCall: boolean;
}

export const DEFAULT_REASONING_TAGS: readonly TagPair[] = Object.freeze([Object.freeze(["<think>", "</think>"] as const)]);
export const DEFAULT_MAX_BLOCK_CHARS = 262_144;

const EXTRACTORS: Readonly<Record<Exclude<ToolCallFormat, "none">, ExtractorFactory>> = {
  hermes: hermesExtractor,
  llama3: llama3Extractor,
  mistral: mistralExtractor,
  deepseek: deepseekExtractor,
};

/** Every format name `toolCalls` accepts. */
export const TOOL_CALL_FORMATS: readonly ToolCallFormat[] = Object.freeze(["hermes", "llama3", "mistral", "deepseek", "none"]);

export function isToolCallFormat(name: string): name is ToolCallFormat {
  return (TOOL_CALL_FORMATS as readonly string[]).includes(name);
}

// Returned when a push releases nothing, so the common case allocates no array.
const NOTHING: readonly Delta[] = Object.freeze([]);

const KIND_NONE = 0;
const KIND_CONTENT = 1;
const KIND_REASONING = 2;
const KIND_CALLS = 3;

/**
 * @example
 * const p = createStreamParser({ toolCalls: "hermes" });
 * p.push("<think>Paris?</thi");  // [{ reasoning_content: "Paris?" }]
 * p.push("nk>\n\nSure.<tool_call>{\"name\": \"weather\", \"arguments\": {\"city\": \"Paris\"}}");
 * // [{ content: "Sure." }]   (the call is held until it closes)
 * p.push("</tool_call>");
 * // [{ tool_calls: [{ index: 0, id: "call_…", type: "function",
 * //                   function: { name: "weather", arguments: "{\"city\": \"Paris\"}" } }] }]
 * p.end();                       // []
 * p.sawToolCall;                 // true
 */
export function createStreamParser(options: ParserOptions = {}): StreamParser {
  const format = options.toolCalls ?? "none";
  if (!isToolCallFormat(format)) throw new Error(`unknown tool call format: ${String(format)}`);
  const newId = options.newToolCallId ?? randomToolCallId;

  let out: Delta[] | null = null;
  let last: Delta | null = null;
  let lastKind = KIND_NONE;
  let calls = 0;
  // Anything but whitespace given to the client as content, or a call.
  let saidSomething = false;
  let trimLeading = false;

  function add(delta: Delta, kind: number): void {
    if (out === null) out = [delta];
    else out.push(delta);
    last = delta;
    lastKind = kind;
  }

  function content(text: string): void {
    if (text.length === 0) return;
    if (!saidSomething && !isAllSpace(text)) saidSomething = true;
    if (lastKind === KIND_CONTENT) last!.content += text;
    else add({ content: text }, KIND_CONTENT);
  }

  function reasoning(text: string): void {
    if (text.length === 0) return;
    if (lastKind === KIND_REASONING) last!.reasoning_content += text;
    else add({ reasoning_content: text }, KIND_REASONING);
  }

  function call(found: FoundCall): void {
    saidSomething = true;
    const delta: ToolCallDelta = {
      index: calls++,
      id: found.id ?? newId(),
      type: "function",
      function: { name: found.name, arguments: found.arguments },
    };
    if (lastKind === KIND_CALLS) last!.tool_calls!.push(delta);
    else add({ tool_calls: [delta] }, KIND_CALLS);
  }

  const tools: ToolExtractor | null =
    format === "none" ? null : EXTRACTORS[format]({ text: content, call }, { maxBlockChars: options.maxBlockChars ?? DEFAULT_MAX_BLOCK_CHARS });

  function onContent(text: string): void {
    if (trimLeading) {
      const from = skipSpace(text);
      if (from === text.length) return;
      trimLeading = false;
      if (from > 0) text = text.slice(from);
    }
    if (tools !== null) tools.push(text);
    else content(text);
  }

  const reasoningOptions = options.reasoning ?? {};
  const splitter: ReasoningSplitter | null =
    reasoningOptions === false
      ? null
      : createReasoningSplitter(
          reasoningOptions.tags ?? DEFAULT_REASONING_TAGS,
          reasoningOptions.startsInside ?? false,
          {
            content: onContent,
            reasoning,
            opened() {
              trimLeading = false;
              tools?.interrupt();
            },
            closed() {
              if (!saidSomething) trimLeading = true;
            },
          },
          tools === null ? undefined : () => !tools.inBlock,
        );

  function take(): readonly Delta[] {
    const released = out ?? NOTHING;
    out = null;
    last = null;
    lastKind = KIND_NONE;
    return released;
  }

  return {
    push(text: string) {
      if (text.length > 0) {
        if (splitter !== null) splitter.push(text);
        else onContent(text);
      }
      return take();
    },
    end() {
      splitter?.end();
      tools?.end();
      return take();
    },
    get sawToolCall() {
      return calls > 0;
    },
  };
}
