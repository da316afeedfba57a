/**
 * What a tool-call extractor is: a per-stream state machine fed the reply's content (reasoning
 * already taken out) that passes plain text on and turns the tool calls it finds into calls.
 */

import type { FoundCall } from "../tool-call.ts";

export interface ToolSink {
  text(text: string): void;
  call(call: FoundCall): void;
}

export interface ToolExtractor {
  push(text: string): void;
  /** The reply ended: let out or finish whatever is held. */
  end(): void;
  /** True while inside a call, whose text is not plain content (no reasoning tags there). */
  readonly inBlock: boolean;
  /** Plain text stops here for now (a reasoning block opens): let out what is held. */
  interrupt(): void;
}

export interface ExtractorLimits {
  /** Most characters of one call held back before it is let through as content. */
  maxBlockChars: number;
}

export type ExtractorFactory = (sink: ToolSink, limits: ExtractorLimits) => ToolExtractor;
