import { describe, expect, test } from "bun:test";
import {
  IMAGE_TOKENS,
  LOW_DETAIL_IMAGE_TOKENS,
  OTHER_PART_TOKENS,
  REPLY_PRIMING_TOKENS,
  TOKENS_PER_MESSAGE,
  TOKENS_PER_NAME,
  visitChatMessage,
  walkChatRequest,
} from "./chat.ts";
import { countTokens } from "./count.ts";
import { getEncoding, type EncodingName } from "./encodings.ts";
import { countItem, countRequestUncached } from "./request-count.ts";

function chatTokens(encoding: EncodingName, body: object): number {
  return countRequestUncached(getEncoding(encoding), (b, sink) => walkChatRequest(b, encoding, sink), body);
}

function messageTokens(encoding: EncodingName, message: object): number {
  return countItem(getEncoding(encoding), visitChatMessage, message);
}

const tokens = (encoding: EncodingName, text: string) => countTokens(getEncoding(encoding), text);

// The cookbook's examples, with the prompt_tokens it got back from the OpenAI API.
const JARGON_MESSAGES = [
  { role: "system", content: "You are a helpful, pattern-following assistant that translates corporate jargon into plain English." },
  { role: "system", name: "example_user", content: "New synergies will help drive top-line growth." },
  { role: "system", name: "example_assistant", content: "Things working well together will increase revenue." },
  { role: "system", name: "example_user", content: "Let's circle back when we have more bandwidth to touch base on opportunities for increased leverage." },
  { role: "system", name: "example_assistant", content: "Let's talk later when we're less busy about how to do better." },
  { role: "user", content: "This late pivot means we don't have time to boil the ocean for the client deliverable." },
];

const WEATHER_TOOLS = [
  {
    type: "function",
    function: {
      name: "get_current_weather",
      description: "Get the current weather in a given location",
      parameters: {
        type: "object",
        properties: {
          location: { type: "string", description: "The city and state, e.g. San Francisco, CA" },
          unit: { type: "string", description: "The unit of temperature to return", enum: ["celsius", "fahrenheit"] },
        },
        required: ["location"],
      },
    },
  },
];

const WEATHER_MESSAGES = [
  { role: "system", content: "You are a helpful assistant that can answer to questions about the weather." },
  { role: "user", content: "What's the weather like in San Francisco?" },
];

describe("OpenAI cookbook examples (numbers the API returned)", () => {
  test("six messages with names: 129 tokens for gpt-4 / gpt-3.5-turbo (cl100k), 124 for gpt-4o (o200k)", () => {
    expect(chatTokens("cl100k_base", { messages: JARGON_MESSAGES })).toBe(129);
    expect(chatTokens("o200k_base", { messages: JARGON_MESSAGES })).toBe(124);
  });

  test("two messages plus one tool: 105 tokens (cl100k), 101 (o200k)", () => {
    expect(chatTokens("cl100k_base", { messages: WEATHER_MESSAGES, tools: WEATHER_TOOLS })).toBe(105);
    expect(chatTokens("o200k_base", { messages: WEATHER_MESSAGES, tools: WEATHER_TOOLS })).toBe(101);
  });

  test("legacy `functions` count like the same definitions under `tools`", () => {
    const functions = WEATHER_TOOLS.map((tool) => tool.function);
    expect(chatTokens("o200k_base", { messages: WEATHER_MESSAGES, functions })).toBe(101);
  });
});

describe("message arithmetic", () => {
  test("a message is 3 + its role + its content; a request adds 3 for the reply", () => {
    const message = { role: "user", content: "hello world" };
    expect(messageTokens("cl100k_base", message)).toBe(TOKENS_PER_MESSAGE + 1 + 2);
    expect(chatTokens("cl100k_base", { messages: [message] })).toBe(TOKENS_PER_MESSAGE + 1 + 2 + REPLY_PRIMING_TOKENS);
    expect(chatTokens("cl100k_base", { messages: [message, message] })).toBe(2 * (3 + 1 + 2) + 3);
  });

  test("a name costs its tokens plus 1", () => {
    const plain = messageTokens("o200k_base", { role: "user", content: "hi" });
    const named = messageTokens("o200k_base", { role: "user", content: "hi", name: "ana_maria" });
    expect(named - plain).toBe(tokens("o200k_base", "ana_maria") + TOKENS_PER_NAME);
  });

  test("an empty request is just the reply priming; a malformed one counts what it can", () => {
    expect(chatTokens("o200k_base", { messages: [] })).toBe(REPLY_PRIMING_TOKENS);
    expect(chatTokens("o200k_base", { messages: [null, 42, { role: "user", content: null }] })).toBe(3 + 3 + 1);
  });

  test("text parts count their text, like the same string content", () => {
    const asString = messageTokens("o200k_base", { role: "user", content: "Describe this. Then that." });
    const asParts = messageTokens("o200k_base", {
      role: "user",
      content: [
        { type: "text", text: "Describe this." },
        { type: "text", text: " Then that." },
      ],
    });
    expect(asParts).toBe(asString);
  });

  test("images cost 85 at low detail, 765 otherwise; other parts 765", () => {
    const base = messageTokens("o200k_base", { role: "user", content: [] });
    const image = (detail?: string) =>
      messageTokens("o200k_base", {
        role: "user",
        content: [{ type: "image_url", image_url: { url: "https://example.com/a.png", ...(detail ? { detail } : {}) } }],
      }) - base;
    expect(image("low")).toBe(LOW_DETAIL_IMAGE_TOKENS);
    expect(image("high")).toBe(IMAGE_TOKENS);
    expect(image()).toBe(IMAGE_TOKENS);
    const audio = messageTokens("o200k_base", {
      role: "user",
      content: [{ type: "input_audio", input_audio: { data: "UklGRg==", format: "wav" } }],
    });
    expect(audio - base).toBe(OTHER_PART_TOKENS);
  });

  test("tool calls count their name and arguments; tool results their id and content", () => {
    const args = '{"location":"Paris, FR"}';
    const call = messageTokens("o200k_base", {
      role: "assistant",
      content: null,
      tool_calls: [{ id: "call_1", type: "function", function: { name: "get_current_weather", arguments: args } }],
    });
    expect(call).toBe(3 + tokens("o200k_base", "assistant") + tokens("o200k_base", "get_current_weather") + tokens("o200k_base", args));
    const result = messageTokens("o200k_base", { role: "tool", tool_call_id: "call_1", content: "18°C" });
    expect(result).toBe(3 + tokens("o200k_base", "tool") + tokens("o200k_base", "call_1") + tokens("o200k_base", "18°C"));
  });
});

describe("tool definitions", () => {
  const weather = (encoding: EncodingName, tools: unknown[]) =>
    chatTokens(encoding, { messages: WEATHER_MESSAGES, tools }) - chatTokens(encoding, { messages: WEATHER_MESSAGES });

  test("per function 7 (o200k) or 10 (cl100k) + name:description, 12 once at the end", () => {
    const bare = { type: "function", function: { name: "ping", description: "Ping it." } };
    expect(weather("o200k_base", [bare])).toBe(7 + tokens("o200k_base", "ping:Ping it") + 12);
    expect(weather("cl100k_base", [bare])).toBe(10 + tokens("cl100k_base", "ping:Ping it") + 12);
    expect(weather("o200k_base", [bare, bare])).toBe(2 * (7 + tokens("o200k_base", "ping:Ping it")) + 12);
  });

  test("nested schemas and non-function tools count approximately, never as zero", () => {
    const nested = {
      type: "function",
      function: {
        name: "search",
        description: "Search",
        parameters: { type: "object", properties: { filters: { type: "object", properties: { year: { type: "integer" } } } } },
      },
    };
    const flat = structuredClone(nested);
    delete (flat.function.parameters.properties.filters as { properties?: unknown }).properties;
    expect(weather("o200k_base", [nested])).toBeGreaterThan(weather("o200k_base", [flat]));
    expect(weather("o200k_base", [{ type: "web_search" }])).toBeGreaterThan(0);
  });
});
