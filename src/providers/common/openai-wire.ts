/**
 * The OpenAI Chat Completions wire shapes the provider translators read and write, and a chunk
 * writer that renders `chat.completion.chunk` SSE events from string templates.
 *
 * Shared by every provider folder and by the forwarder's inbound (Anthropic client) direction.
 */

export interface OpenAITextPart { type: "text"; text: string }
export interface OpenAIImagePart { type: "image_url"; image_url: { url: string; detail?: string } }
export interface OpenAIFilePart { type: "file"; file: { file_data?: string; file_id?: string; filename?: string } }
export interface OpenAIRefusalPart { type: "refusal"; refusal: string }
export interface OpenAIAudioPart { type: "input_audio"; input_audio: { data: string; format: string } }
export type OpenAIContentPart = OpenAITextPart | OpenAIImagePart | OpenAIFilePart | OpenAIRefusalPart | OpenAIAudioPart;

export interface OpenAIToolCall {
  id: string;
  type: "function";
  function: { name: string; arguments: string };
}

export interface OpenAIMessage {
  role: "system" | "developer" | "user" | "assistant" | "tool";
  content?: string | OpenAIContentPart[] | null;
  name?: string;
  tool_calls?: OpenAIToolCall[];
  tool_call_id?: string;
  refusal?: string | null;
  /** Not OpenAI's: the field DeepSeek, vLLM and this gateway use for a model's visible reasoning. */
  reasoning_content?: string | null;
}

export interface OpenAIFunctionTool {
  type: "function";
  function: { name: string; description?: string; parameters?: Record<string, unknown>; strict?: boolean | null };
}

export type OpenAIToolChoice = "auto" | "none" | "required" | { type: "function"; function: { name: string } } | { type: string; [k: string]: unknown };

export interface OpenAIChatRequest {
  model: string;
  messages: OpenAIMessage[];
  stream?: boolean | null;
  stream_options?: { include_usage?: boolean } | null;
  max_tokens?: number | null;
  max_completion_tokens?: number | null;
  temperature?: number | null;
  top_p?: number | null;
  stop?: string | string[] | null;
  n?: number | null;
  tools?: OpenAIFunctionTool[];
  tool_choice?: OpenAIToolChoice;
  parallel_tool_calls?: boolean;
  user?: string;
  response_format?: { type: "text" } | { type: "json_object" } | { type: "json_schema"; json_schema: { name: string; schema?: Record<string, unknown>; strict?: boolean | null; description?: string } };
  [field: string]: unknown;
}

export interface OpenAIUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  prompt_tokens_details?: { cached_tokens?: number };
  completion_tokens_details?: { reasoning_tokens?: number };
}

export type OpenAIFinishReason = "stop" | "length" | "tool_calls" | "content_filter" | "function_call";

export interface OpenAIChoice {
  index: number;
  message: {
    role: "assistant";
    content: string | null;
    refusal: string | null;
    tool_calls?: OpenAIToolCall[];
    reasoning_content?: string;
  };
  logprobs: null;
  finish_reason: OpenAIFinishReason | null;
}

export interface OpenAIChatCompletion {
  id: string;
  object: "chat.completion";
  created: number;
  model: string;
  choices: OpenAIChoice[];
  usage?: OpenAIUsage;
  system_fingerprint?: string | null;
}

export interface OpenAIChunkToolCall {
  index: number;
  id?: string;
  type?: "function";
  function?: { name?: string; arguments?: string };
}

export interface OpenAIChunk {
  id: string;
  object: "chat.completion.chunk";
  created: number;
  model: string;
  choices: {
    index: number;
    delta: { role?: "assistant"; content?: string | null; reasoning_content?: string; reasoning?: string; tool_calls?: OpenAIChunkToolCall[]; refusal?: string | null };
    logprobs?: null;
    finish_reason: OpenAIFinishReason | null;
  }[];
  usage?: OpenAIUsage | null;
}

/** Seconds since the epoch, the unit of OpenAI's `created`. */
export const unixNow = (): number => Math.floor(Date.now() / 1000);

/** Renders the events of one OpenAI chunk stream; every method returns one complete SSE event. */
export interface ChunkWriter {
  /** The first delta of a choice: `{"role":"assistant","content":""}`. */
  role(choice: number): string;
  content(choice: number, text: string): string;
  reasoning(choice: number, text: string): string;
  /** Opens tool call `tool` of a choice; `args` may already hold (part of) its arguments. */
  toolCall(choice: number, tool: number, id: string, name: string, args: string): string;
  toolArgs(choice: number, tool: number, args: string): string;
  finish(choice: number, reason: OpenAIFinishReason): string;
  /** The `stream_options.include_usage` chunk: no choices, the whole exchange's usage. */
  usage(usage: OpenAIUsage): string;
}

export const DONE_EVENT = "data: [DONE]\n\n";

/**
 * One writer per stream: the invariant head and tail of every chunk are built once, so a token costs
 * one JSON.stringify of its text and a few concatenations.
 *
 * @example
 * const w = chunkWriter("chatcmpl-1", "gpt-4o", unixNow(), false);
 * w.content(0, "Hi"); // 'data: {"id":"chatcmpl-1",...,"choices":[{"index":0,"delta":{"content":"Hi"},...}]}\n\n'
 */
export function chunkWriter(id: string, model: string, created: number, includeUsage: boolean): ChunkWriter {
  const head = `data: {"id":${JSON.stringify(id)},"object":"chat.completion.chunk","created":${created},"model":${JSON.stringify(model)},"choices":[`;
  // With include_usage every chunk carries "usage":null, as OpenAI's do; the last one carries the numbers.
  const tail = includeUsage ? `],"usage":null}\n\n` : `]}\n\n`;
  const open = (choice: number) => `{"index":${choice},"delta":`;
  const delta = (choice: number, d: string) => `${head}${open(choice)}${d},"logprobs":null,"finish_reason":null}${tail}`;
  return {
    role: (c) => delta(c, `{"role":"assistant","content":""}`),
    content: (c, text) => delta(c, `{"content":${JSON.stringify(text)}}`),
    reasoning: (c, text) => delta(c, `{"reasoning_content":${JSON.stringify(text)}}`),
    toolCall: (c, tool, callId, name, args) =>
      delta(c, `{"tool_calls":[{"index":${tool},"id":${JSON.stringify(callId)},"type":"function","function":{"name":${JSON.stringify(name)},"arguments":${JSON.stringify(args)}}}]}`),
    toolArgs: (c, tool, args) => delta(c, `{"tool_calls":[{"index":${tool},"function":{"arguments":${JSON.stringify(args)}}}]}`),
    finish: (c, reason) => `${head}${open(c)}{},"logprobs":null,"finish_reason":"${reason}"}${tail}`,
    usage: (u) => `${head}],"usage":${JSON.stringify(u)}}\n\n`,
  };
}

/**
 * The event that ends a failed stream: the OpenAI SDKs throw an `APIError` on `data: {"error":...}`
 * (the forwarder's own stream failures use the same shape).
 */
export function errorEvent(message: string, type: string, code: string | null): string {
  return `data: ${JSON.stringify({ error: { message, type, param: null, code } })}\n\n`;
}

/** A usage object with OpenAI's invariant `total = prompt + completion`, details only when known. */
export function openAIUsage(prompt: number, completion: number, cached?: number, reasoning?: number): OpenAIUsage {
  const u: OpenAIUsage = { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
  if (cached !== undefined && cached > 0) u.prompt_tokens_details = { cached_tokens: cached };
  if (reasoning !== undefined && reasoning > 0) u.completion_tokens_details = { reasoning_tokens: reasoning };
  return u;
}
