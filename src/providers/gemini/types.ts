/**
 * The parts of the Gemini API (v1beta generateContent / streamGenerateContent) wire format that the
 * translators read and write, in the REST API's camelCase JSON. Checked against Google's API
 * reference ("generateContent", "Function calling", "Troubleshooting" error codes) and the
 * google-gemini/generative-ai-js type definitions.
 */

export interface GeminiFunctionCall { id?: string; name: string; args?: Record<string, unknown> }
export interface GeminiFunctionResponse { id?: string; name: string; response: Record<string, unknown> }

export interface GeminiPart {
  text?: string;
  /** The part is a thought summary, not answer text. */
  thought?: boolean;
  /** Opaque; Gemini 3 wants it back on the first function call of a turn it made. */
  thoughtSignature?: string;
  inlineData?: { mimeType: string; data: string };
  fileData?: { mimeType?: string; fileUri: string };
  functionCall?: GeminiFunctionCall;
  functionResponse?: GeminiFunctionResponse;
}

export interface GeminiContent { role?: "user" | "model"; parts: GeminiPart[] }

export interface GeminiFunctionDeclaration {
  name: string;
  description?: string;
  /** Full JSON Schema (mutually exclusive with the OpenAPI-subset `parameters`). */
  parametersJsonSchema?: Record<string, unknown>;
}

export interface GeminiGenerationConfig {
  temperature?: number;
  topP?: number;
  topK?: number;
  maxOutputTokens?: number;
  stopSequences?: string[];
  candidateCount?: number;
  seed?: number;
  presencePenalty?: number;
  frequencyPenalty?: number;
  responseMimeType?: string;
  responseJsonSchema?: Record<string, unknown>;
}

export interface GeminiRequest {
  contents: GeminiContent[];
  systemInstruction?: { parts: { text: string }[] };
  tools?: { functionDeclarations: GeminiFunctionDeclaration[] }[];
  toolConfig?: { functionCallingConfig: { mode: "AUTO" | "ANY" | "NONE"; allowedFunctionNames?: string[] } };
  generationConfig?: GeminiGenerationConfig;
}

export interface GeminiUsageMetadata {
  promptTokenCount?: number;
  candidatesTokenCount?: number;
  totalTokenCount?: number;
  cachedContentTokenCount?: number;
  /** Thinking tokens; not included in candidatesTokenCount. */
  thoughtsTokenCount?: number;
}

export interface GeminiCandidate {
  index?: number;
  content?: { role?: string; parts?: GeminiPart[] };
  finishReason?: string;
  finishMessage?: string;
}

export interface GeminiResponse {
  candidates?: GeminiCandidate[];
  promptFeedback?: { blockReason?: string; blockReasonMessage?: string };
  usageMetadata?: GeminiUsageMetadata;
  modelVersion?: string;
  responseId?: string;
}

export interface GeminiErrorBody {
  error: { code: number; message: string; status: string; details?: { "@type"?: string; reason?: string; [k: string]: unknown }[] };
}
