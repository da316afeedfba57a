/**
 * The shapes the output parsers produce: OpenAI chat-completion deltas and messages, plus the
 * `reasoning_content` field that vLLM and DeepSeek use for a reasoning model's thinking.
 */

/** How a model writes tool calls into its text (see ./tools/). */
export type ToolCallFormat = "hermes" | "llama3" | "mistral" | "deepseek" | "none";

/** An opening and a closing tag of a reasoning block, e.g. `["<think>", "</think>"]`. */
export type TagPair = readonly [open: string, close: string];

/**
 * One piece of a streamed tool call, as OpenAI streams them: the first piece of a call carries
 * `id`, `type` and `function.name`; later pieces with the same `index` append to `arguments`.
 * The parsers here emit each call in one piece carrying all four (see ./stream.ts for why).
 */
export interface ToolCallDelta {
  index: number;
  id?: string;
  type?: "function";
  function: { name?: string; arguments?: string };
}

/** What one choice's `delta` gains from a piece of the reply. */
export interface Delta {
  content?: string;
  reasoning_content?: string;
  tool_calls?: ToolCallDelta[];
}

/** A complete tool call, as in a non-streamed `message.tool_calls`. */
export interface ToolCall {
  id: string;
  type: "function";
  function: { name: string; arguments: string };
}

/** A whole reply, split: `null` where a part is empty. */
export interface ParsedMessage {
  content: string | null;
  reasoning_content: string | null;
  tool_calls: ToolCall[];
}

export interface ReasoningOptions {
  /** The tag pairs that open and close a reasoning block; default `[["<think>", "</think>"]]`. */
  tags?: readonly TagPair[];
  /**
   * The reply starts inside a reasoning block (of the first tag pair): for chat templates that
   * put the opening tag into the prompt (DeepSeek-R1, QwQ, Qwen3 thinking models), so the reply
   * carries only the closing tag. An opening tag at the very start is then dropped as well.
   * A reply that never closes the block is all reasoning, so turn this on only for such models.
   */
  startsInside?: boolean;
}

export interface ParserOptions {
  /** Tool calls written as text, turned into `tool_calls`; default `"none"`. */
  toolCalls?: ToolCallFormat;
  /** Reasoning blocks moved into `reasoning_content`; default `<think>…</think>`; `false`: off. */
  reasoning?: ReasoningOptions | false;
  /** Makes the `id` of each tool call; default `call_` and 24 random letters and digits. */
  newToolCallId?: () => string;
  /**
   * Most characters of one tool-call block held back while it is incomplete (default 262144).
   * A longer block is let through as content, so a stray opening marker cannot make a stream
   * hold its whole reply.
   */
  maxBlockChars?: number;
}
