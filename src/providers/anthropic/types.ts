/**
 * The parts of the Anthropic Messages API wire format (anthropic-version 2023-06-01) that the
 * translators read and write. Checked against Anthropic's API reference ("Messages", "Streaming
 * Messages", "Errors") and the official TypeScript SDK's resource types.
 */

export interface AnthropicTextBlock { type: "text"; text: string; citations?: unknown }
export interface AnthropicImageBlock {
  type: "image";
  source: { type: "base64"; media_type: string; data: string } | { type: "url"; url: string };
}
export interface AnthropicDocumentBlock {
  type: "document";
  source: { type: "base64"; media_type: "application/pdf"; data: string } | { type: "url"; url: string } | { type: "text"; media_type: "text/plain"; data: string };
  title?: string;
}
export interface AnthropicToolUseBlock { type: "tool_use"; id: string; name: string; input: unknown }
export interface AnthropicToolResultBlock {
  type: "tool_result";
  tool_use_id: string;
  content?: string | (AnthropicTextBlock | AnthropicImageBlock)[];
  is_error?: boolean;
}
export interface AnthropicThinkingBlock { type: "thinking"; thinking: string; signature: string }
export interface AnthropicRedactedThinkingBlock { type: "redacted_thinking"; data: string }

export type AnthropicContentBlock =
  | AnthropicTextBlock
  | AnthropicImageBlock
  | AnthropicDocumentBlock
  | AnthropicToolUseBlock
  | AnthropicToolResultBlock
  | AnthropicThinkingBlock
  | AnthropicRedactedThinkingBlock;

export interface AnthropicMessage {
  role: "user" | "assistant";
  content: string | AnthropicContentBlock[];
}

export interface AnthropicTool {
  name: string;
  description?: string;
  input_schema: Record<string, unknown>;
  strict?: boolean;
  type?: string;
}

export type AnthropicToolChoice =
  | { type: "auto"; disable_parallel_tool_use?: boolean }
  | { type: "any"; disable_parallel_tool_use?: boolean }
  | { type: "tool"; name: string; disable_parallel_tool_use?: boolean }
  | { type: "none" };

export interface AnthropicRequest {
  model: string;
  max_tokens: number;
  messages: AnthropicMessage[];
  system?: string | AnthropicTextBlock[];
  stop_sequences?: string[];
  stream?: boolean;
  temperature?: number;
  top_p?: number;
  top_k?: number;
  tools?: AnthropicTool[];
  tool_choice?: AnthropicToolChoice;
  metadata?: { user_id?: string };
  output_config?: { format?: { type: "json_schema"; schema: Record<string, unknown> } };
  thinking?: { type: string; budget_tokens?: number };
  [field: string]: unknown;
}

export type AnthropicStopReason = "end_turn" | "max_tokens" | "stop_sequence" | "tool_use" | "pause_turn" | "refusal" | "model_context_window_exceeded";

export interface AnthropicUsage {
  input_tokens: number;
  output_tokens: number;
  cache_creation_input_tokens?: number | null;
  cache_read_input_tokens?: number | null;
}

export interface AnthropicResponse {
  id: string;
  type: "message";
  role: "assistant";
  model: string;
  content: AnthropicContentBlock[];
  stop_reason: AnthropicStopReason | null;
  stop_sequence: string | null;
  usage: AnthropicUsage;
}

export type AnthropicErrorType =
  | "invalid_request_error"
  | "authentication_error"
  | "billing_error"
  | "permission_error"
  | "not_found_error"
  | "request_too_large"
  | "rate_limit_error"
  | "api_error"
  | "timeout_error"
  | "overloaded_error";

export interface AnthropicErrorBody {
  type: "error";
  /** `details.error_code`: a stable code naming the cause (Warden's own error codes go here). */
  error: { type: AnthropicErrorType | string; message: string; details?: { error_code: string } };
  request_id?: string;
}

/** The version this translator speaks; Anthropic requires it on every request. */
export const ANTHROPIC_VERSION = "2023-06-01";
