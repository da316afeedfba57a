import { describe, expect, test } from "bun:test";
import { mergeChunks, parseOpenAIStream, splitsOf } from "../common/testing";
import { translatorStream } from "../common/transform";
import { fromGeminiResponse } from "./response";
import { createGeminiStreamTranslator } from "./stream";
import { signatureOf } from "./tool-ids";
import type { GeminiResponse } from "./types";

// Gemini separates events with CRLF pairs.
const ev = (r: unknown) => `data: ${JSON.stringify(r)}\r\n\r\n`;
const meta = { modelVersion: "gemini-real", responseId: "r1" };

/** Two candidates: the first thinks, writes and calls a function; the second just writes. */
const EVENTS: GeminiResponse[] = [
  { candidates: [{ index: 0, content: { role: "model", parts: [{ text: "Plan it.", thought: true }] } }], usageMetadata: { promptTokenCount: 9, totalTokenCount: 9 }, ...meta },
  { candidates: [{ index: 0, content: { role: "model", parts: [{ text: "Checking “Paris” " }] } }, { index: 1, content: { role: "model", parts: [{ text: "Other " }] } }], ...meta },
  { candidates: [{ index: 0, content: { role: "model", parts: [{ text: "now 🌦." }] } }, { index: 1, content: { role: "model", parts: [{ text: "answer." }] }, finishReason: "MAX_TOKENS" }], ...meta },
  {
    candidates: [{ index: 0, content: { role: "model", parts: [{ functionCall: { name: "weather", args: { city: "Paris" } }, thoughtSignature: "c2ln" }, { functionCall: { name: "clock", args: {} } }] }, finishReason: "STOP" }],
    usageMetadata: { promptTokenCount: 9, candidatesTokenCount: 14, thoughtsTokenCount: 3, totalTokenCount: 26 },
    ...meta,
  },
];
const STREAM = EVENTS.map(ev).join("");

/** The same reply non-streamed. */
const WHOLE: GeminiResponse = {
  candidates: [
    { index: 0, content: { role: "model", parts: [{ text: "Plan it.", thought: true }, { text: "Checking “Paris” now 🌦." }, { functionCall: { name: "weather", args: { city: "Paris" } }, thoughtSignature: "c2ln" }, { functionCall: { name: "clock", args: {} } }] }, finishReason: "STOP" },
    { index: 1, content: { role: "model", parts: [{ text: "Other answer." }] }, finishReason: "MAX_TOKENS" },
  ],
  usageMetadata: { promptTokenCount: 9, candidatesTokenCount: 14, thoughtsTokenCount: 3, totalTokenCount: 26 },
  ...meta,
};

function translate(pieces: (string | Uint8Array)[], includeUsage = true): string {
  const t = createGeminiStreamTranslator("alias", "chatcmpl-g1", { includeUsage });
  let out = "";
  for (const p of pieces) out += t.push(p);
  return out + t.end();
}

/** Tool-call ids are fresh per translation: compare them by the signature they carry. */
const comparable = (calls?: { id: string; function: unknown }[]) => calls?.map((c) => ({ sig: signatureOf(c.id), function: c.function }));

describe("createGeminiStreamTranslator", () => {
  test("merged deltas equal the non-streamed reply, choice by choice", () => {
    const parsed = parseOpenAIStream(translate([STREAM]));
    expect(parsed.done).toBe(true);
    const merged = mergeChunks(parsed.chunks);
    const whole = fromGeminiResponse(WHOLE, "alias");
    expect(merged.choices).toHaveLength(2);
    for (const choice of whole.choices) {
      const m = merged.choices[choice.index];
      expect({ ...m, tool_calls: comparable(m.tool_calls) }).toEqual({
        role: "assistant",
        content: choice.message.content,
        ...(choice.message.reasoning_content ? { reasoning_content: choice.message.reasoning_content } : {}),
        tool_calls: comparable(choice.message.tool_calls),
        finish_reason: choice.finish_reason,
      });
    }
    expect(merged.usage).toEqual(whole.usage!);
    expect(merged.ids).toEqual(new Set(["chatcmpl-g1"]));
  });

  test("a function call arrives whole, with its index, id, name and arguments in one delta", () => {
    const deltas = parseOpenAIStream(translate([STREAM])).chunks.flatMap((c) => c.choices.flatMap((ch) => ch.delta.tool_calls ?? []));
    expect(deltas.map((d) => [d.index, d.type, d.function])).toEqual([
      [0, "function", { name: "weather", arguments: '{"city":"Paris"}' }],
      [1, "function", { name: "clock", arguments: "{}" }],
    ]);
    expect(signatureOf(deltas[0].id!)).toBe("c2ln");
  });

  test("the same output whatever byte the upstream bytes are split at", () => {
    const bytes = new TextEncoder().encode(STREAM);
    const normalise = (s: string) => s.replace(/"created":\d+/g, "").replace(/call_[a-z0-9]+/g, "call_");
    const expected = normalise(translate([bytes]));
    for (const pieces of splitsOf(bytes)) expect(normalise(translate(pieces))).toBe(expected);
  });

  test("a finished choice takes nothing more (a trailing usage-only response repeats the finish)", () => {
    const trailing = ev({ candidates: [{ index: 0, content: { role: "model", parts: [{ text: "" }] }, finishReason: "STOP" }], usageMetadata: { promptTokenCount: 9, candidatesTokenCount: 15, totalTokenCount: 24 } });
    const parsed = parseOpenAIStream(translate([STREAM + trailing]));
    const finishes = parsed.chunks.flatMap((c) => c.choices.filter((ch) => ch.finish_reason !== null).map((ch) => ch.index));
    expect(finishes.sort()).toEqual([0, 1]);
    expect(parsed.chunks.at(-1)!.usage!.completion_tokens).toBe(15); // the latest usage still counts
  });

  test("LF-separated events parse the same", () => {
    const lf = EVENTS.map((r) => `data: ${JSON.stringify(r)}\n\n`).join("");
    expect(mergeChunks(parseOpenAIStream(translate([lf])).chunks).choices[1].content).toBe("Other answer.");
  });

  test("comments pass through", () => {
    expect(parseOpenAIStream(translate([": hi\r\n\r\n" + STREAM])).comments).toEqual([" hi"]);
  });

  test("usage chunk only when asked", () => {
    const without = parseOpenAIStream(translate([STREAM], false));
    expect(without.done).toBe(true);
    expect(without.chunks.some((c) => c.usage !== undefined)).toBe(false);
  });

  test("an error event mid-stream becomes an OpenAI error event", () => {
    const text = ev(EVENTS[0]) + ev({ error: { code: 503, message: "The model is overloaded.", status: "UNAVAILABLE" } }) + ev(EVENTS[1]);
    const parsed = parseOpenAIStream(translate([text]));
    expect(parsed.done).toBe(false);
    expect(parsed.error).toMatchObject({ message: "The model is overloaded.", type: "server_error", code: "upstream_overloaded" });
  });

  test("a body that ends before every choice finished ends with an error, not [DONE]", () => {
    const parsed = parseOpenAIStream(translate([EVENTS.slice(0, 3).map(ev).join("")]));
    expect(parsed.done).toBe(false);
    expect(parsed.error?.code).toBe("upstream_stream_interrupted");
    expect(parseOpenAIStream(translate([""])).error?.code).toBe("upstream_stream_interrupted");
  });

  test("a blocked prompt finishes choice 0 with content_filter", () => {
    const parsed = parseOpenAIStream(translate([ev({ promptFeedback: { blockReason: "PROHIBITED_CONTENT" }, usageMetadata: { promptTokenCount: 4, totalTokenCount: 4 } })]));
    expect(parsed.done).toBe(true);
    expect(mergeChunks(parsed.chunks).choices[0]).toEqual({ role: "assistant", content: "", finish_reason: "content_filter" });
  });

  test("a malformed event fails the stream", () => {
    expect(parseOpenAIStream(translate(["data: {oops\r\n\r\n"])).error?.code).toBe("upstream_bad_event");
  });

  test("as a TransformStream", async () => {
    const body = new Response(STREAM).body!.pipeThrough(translatorStream(createGeminiStreamTranslator("alias", "x")));
    expect(parseOpenAIStream(await new Response(body).text()).done).toBe(true);
  });
});
