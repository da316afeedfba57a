/**
 * TypeBox schemas of the OpenAI request bodies Warden accepts, after the public API reference
 * for POST /v1/chat/completions, /v1/completions and /v1/embeddings.
 *
 * Only known fields are checked, and objects allow extra properties: vLLM, SGLang and other
 * OpenAI-compatible servers take more sampling parameters (top_k, min_p, repetition_penalty…)
 * and more content-part types (video_url, input_text…), and Warden must pass those through.
 * Enumerations are checked where OpenAI's set is long-settled (roles, part and tool types,
 * encoding_format); fields whose set keeps growing (image detail, audio formats, service tiers)
 * are checked as strings. Optional fields also accept null, as the API does.
 *
 * `expected` on a schema is the phrase validate.ts puts in error messages.
 */
import { Type, type TSchema } from "@sinclair/typebox";

const nullable = <T extends TSchema>(schema: T, expected?: string) =>
  Type.Union([schema, Type.Null()], { expected: expected ?? `${(schema as { expected?: string }).expected ?? "a value"} or null` });
const opt = <T extends TSchema>(schema: T, expected?: string) => Type.Optional(nullable(schema, expected));

const str = (expected = "a string") => Type.String({ expected });
const bool = () => Type.Boolean({ expected: "a boolean" });
const num = (minimum: number, maximum: number) =>
  Type.Number({ minimum, maximum, expected: `a number between ${minimum} and ${maximum}` });
const int = (minimum?: number, maximum?: number) =>
  Type.Integer({
    ...(minimum !== undefined ? { minimum } : {}),
    ...(maximum !== undefined ? { maximum } : {}),
    expected:
      minimum !== undefined && maximum !== undefined
        ? `an integer between ${minimum} and ${maximum}`
        : minimum !== undefined
          ? `an integer greater than or equal to ${minimum}`
          : "an integer",
  });
const oneOf = (values: readonly string[]) =>
  Type.Union(
    values.map((v) => Type.Literal(v)),
    { expected: `one of ${values.map((v) => `'${v}'`).join(", ")}` },
  );
const obj = (expected = "an object") => Type.Object({}, { expected });
const model = () => Type.String({ minLength: 1, expected: "a non-empty string" });

// ---------------------------------------------------------------------------------------------
// Content parts

const KNOWN_PART_TYPES = ["text", "image_url", "input_audio", "file", "refusal"];
/** A part type OpenAI does not define: passed through for servers that do (video_url, …). */
const extensionPart = Type.Object(
  { type: Type.String({ pattern: `^(?!(?:${KNOWN_PART_TYPES.join("|")})$)`, expected: "a content part type" }) },
  { expected: "a content part" },
);

const textPart = Type.Object({ type: Type.Literal("text"), text: str() }, { expected: "a text content part" });
const refusalPart = Type.Object({ type: Type.Literal("refusal"), refusal: str() }, { expected: "a refusal content part" });
const imagePart = Type.Object(
  {
    type: Type.Literal("image_url"),
    image_url: Type.Object({ url: str(), detail: Type.Optional(str()) }, { expected: "an object with a url" }),
  },
  { expected: "an image content part" },
);
const audioPart = Type.Object(
  {
    type: Type.Literal("input_audio"),
    input_audio: Type.Object({ data: str(), format: str() }, { expected: "an object with data and format" }),
  },
  { expected: "an audio content part" },
);
const filePart = Type.Object(
  {
    type: Type.Literal("file"),
    file: Type.Object(
      { file_data: Type.Optional(str()), file_id: Type.Optional(str()), filename: Type.Optional(str()) },
      { expected: "an object" },
    ),
  },
  { expected: "a file content part" },
);

const parts = (variants: TSchema[], expected: string) =>
  Type.Array(Type.Union([...variants, extensionPart], { expected: "a content part" }), { expected });
const textContent = (nullOk = false) =>
  Type.Union([str(), parts([textPart], "an array of content parts"), ...(nullOk ? [Type.Null()] : [])], {
    expected: `a string${nullOk ? ", null" : ""} or an array of content parts`,
  });

// ---------------------------------------------------------------------------------------------
// Messages

const name = () => Type.Optional(str());

const toolCall = Type.Union(
  [
    Type.Object({
      id: str(),
      type: Type.Literal("function"),
      function: Type.Object({ name: str(), arguments: str() }, { expected: "an object with name and arguments" }),
    }),
    Type.Object({
      id: str(),
      type: Type.Literal("custom"),
      custom: Type.Object({ name: str(), input: str() }, { expected: "an object with name and input" }),
    }),
  ],
  { expected: "a tool call" },
);

const systemMessage = (role: "system" | "developer") => Type.Object({ role: Type.Literal(role), content: textContent(), name: name() });
const userMessage = Type.Object({
  role: Type.Literal("user"),
  content: Type.Union([str(), parts([textPart, imagePart, audioPart, filePart], "an array of content parts")], {
    expected: "a string or an array of content parts",
  }),
  name: name(),
});
const assistantMessage = Type.Object({
  role: Type.Literal("assistant"),
  content: Type.Optional(
    Type.Union([str(), parts([textPart, refusalPart], "an array of content parts"), Type.Null()], {
      expected: "a string, null or an array of content parts",
    }),
  ),
  refusal: opt(str()),
  name: name(),
  audio: opt(Type.Object({ id: str() }, { expected: "an object with an id" })),
  tool_calls: Type.Optional(Type.Array(toolCall, { expected: "an array of tool calls" })),
  function_call: opt(Type.Object({ name: str(), arguments: str() }, { expected: "an object with name and arguments" })),
});
const toolMessage = Type.Object({ role: Type.Literal("tool"), content: textContent(), tool_call_id: str() });
const functionMessage = Type.Object({ role: Type.Literal("function"), content: nullable(str(), "a string or null"), name: str() });

export const ROLES = ["system", "developer", "user", "assistant", "tool", "function"] as const;

const message = Type.Union(
  [systemMessage("system"), systemMessage("developer"), userMessage, assistantMessage, toolMessage, functionMessage],
  { expected: "a message object" },
);

// ---------------------------------------------------------------------------------------------
// Shared request fields

const stop = () =>
  opt(Type.Union([str(), Type.Array(str(), { maxItems: 4, expected: "an array of at most 4 strings" })], { expected: "a string or an array of at most 4 strings" }), "a string, an array of at most 4 strings, or null");
const logitBias = () => opt(Type.Record(Type.String(), Type.Number({ minimum: -100, maximum: 100, expected: "a number between -100 and 100" }), { expected: "an object mapping token ids to numbers" }));
const streamOptions = () => opt(Type.Object({ include_usage: Type.Optional(bool()), include_obfuscation: Type.Optional(bool()) }, { expected: "an object" }));
const penalty = () => opt(num(-2, 2));

const tool = Type.Union(
  [
    Type.Object({
      type: Type.Literal("function"),
      function: Type.Object(
        { name: str(), description: Type.Optional(str()), parameters: Type.Optional(obj()), strict: opt(bool()) },
        { expected: "a function definition" },
      ),
    }),
    Type.Object({
      type: Type.Literal("custom"),
      custom: Type.Object({ name: str(), description: Type.Optional(str()), format: Type.Optional(obj()) }, { expected: "a custom tool definition" }),
    }),
  ],
  { expected: "a tool definition" },
);

const toolChoice = Type.Union(
  [
    oneOf(["none", "auto", "required"]),
    Type.Object({ type: Type.Literal("function"), function: Type.Object({ name: str() }, { expected: "an object with a name" }) }),
    Type.Object({ type: Type.Literal("custom"), custom: Type.Object({ name: str() }, { expected: "an object with a name" }) }),
    Type.Object({ type: Type.Literal("allowed_tools"), allowed_tools: obj() }),
  ],
  { expected: "'none', 'auto', 'required' or a tool choice object" },
);

const responseFormat = Type.Union(
  [
    Type.Object({ type: Type.Literal("text") }),
    Type.Object({ type: Type.Literal("json_object") }),
    Type.Object({
      type: Type.Literal("json_schema"),
      json_schema: Type.Object(
        { name: str(), description: Type.Optional(str()), schema: Type.Optional(obj()), strict: opt(bool()) },
        { expected: "an object with a name" },
      ),
    }),
    // vLLM and SGLang add their own formats (structural_tag, regex, …).
    Type.Object({ type: Type.String({ pattern: "^(?!(?:text|json_object|json_schema)$)", expected: "a response format type" }) }),
  ],
  { expected: "a response format object" },
);

const metadata = () =>
  opt(
    Type.Record(Type.String({ maxLength: 64 }), Type.String({ maxLength: 512, expected: "a string of at most 512 characters" }), {
      maxProperties: 16,
      expected: "an object of at most 16 string values",
    }),
  );

const tokens = Type.Array(Type.Integer({ expected: "an integer token id" }), { expected: "an array of token ids" });
/** prompt / input: string | string[] | number[] | number[][] */
const textOrTokens = (what: string) =>
  Type.Union([str(), Type.Array(str(), { expected: "an array of strings" }), tokens, Type.Array(tokens, { expected: "an array of token id arrays" })], {
    expected: `a string, an array of strings, an array of token ids, or an array of token id arrays (${what})`,
  });

// ---------------------------------------------------------------------------------------------
// Bodies

export const ChatCompletionBody = Type.Object({
  model: model(),
  messages: Type.Array(message, { minItems: 1, expected: "a non-empty array of messages" }),
  temperature: opt(num(0, 2)),
  top_p: opt(num(0, 1)),
  n: opt(int(1, 128)),
  max_tokens: opt(int(1)),
  max_completion_tokens: opt(int(1)),
  stop: stop(),
  stream: opt(bool()),
  stream_options: streamOptions(),
  presence_penalty: penalty(),
  frequency_penalty: penalty(),
  logit_bias: logitBias(),
  logprobs: opt(bool()),
  top_logprobs: opt(int(0, 20)),
  seed: opt(int()),
  user: opt(str()),
  tools: opt(Type.Array(tool, { expected: "an array of tools" })),
  tool_choice: opt(toolChoice),
  parallel_tool_calls: opt(bool()),
  response_format: opt(responseFormat),
  reasoning_effort: opt(oneOf(["none", "minimal", "low", "medium", "high", "xhigh"])),
  verbosity: opt(oneOf(["low", "medium", "high"])),
  metadata: metadata(),
  modalities: opt(Type.Array(oneOf(["text", "audio"]), { expected: "an array of 'text' and 'audio'" })),
  audio: opt(Type.Object({ voice: str(), format: str() }, { expected: "an object with voice and format" })),
  prediction: opt(Type.Object({ type: Type.Literal("content"), content: textContent() }, { expected: "a prediction object" })),
  store: opt(bool()),
  service_tier: opt(str()),
  prompt_cache_key: opt(str()),
  safety_identifier: opt(str()),
  web_search_options: opt(obj()),
  functions: opt(
    Type.Array(
      Type.Object({ name: str(), description: Type.Optional(str()), parameters: Type.Optional(obj()) }, { expected: "a function definition" }),
      { expected: "an array of function definitions" },
    ),
  ),
  function_call: opt(Type.Union([oneOf(["none", "auto"]), Type.Object({ name: str() })], { expected: "'none', 'auto' or an object with a name" })),
});

export const CompletionBody = Type.Object({
  model: model(),
  prompt: textOrTokens("the prompt"),
  best_of: opt(int(0, 20)),
  echo: opt(bool()),
  frequency_penalty: penalty(),
  logit_bias: logitBias(),
  logprobs: opt(int(0, 5)),
  max_tokens: opt(int(0)),
  n: opt(int(1, 128)),
  presence_penalty: penalty(),
  seed: opt(int()),
  stop: stop(),
  stream: opt(bool()),
  stream_options: streamOptions(),
  suffix: opt(str()),
  temperature: opt(num(0, 2)),
  top_p: opt(num(0, 1)),
  user: opt(str()),
});

export const EmbeddingBody = Type.Object({
  model: model(),
  input: textOrTokens("the input"),
  encoding_format: Type.Optional(oneOf(["float", "base64"])),
  dimensions: Type.Optional(int(1)),
  user: Type.Optional(str()),
  stream: opt(bool()),
});
