import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { createSseParser } from "../src/providers/common/sse";
import { MOCK_THOUGHT_SIGNATURE, startMockGemini, type GeminiMock } from "./mock-gemini.ts";

let mock: GeminiMock;
beforeAll(async () => {
  mock = await startMockGemini({ apiKey: "AIza-test" });
});
afterAll(() => mock.stop());
beforeEach(() => mock.reset());

const HEADERS = { "content-type": "application/json", "x-goog-api-key": "AIza-test" };
const post = (body: unknown, { stream = false, headers = HEADERS as Record<string, string>, path }: { stream?: boolean; headers?: Record<string, string>; path?: string } = {}) =>
  fetch(`${mock.url}${path ?? `/v1beta/models/mock-gemini:${stream ? "streamGenerateContent?alt=sse" : "generateContent"}`}`, { method: "POST", headers, body: typeof body === "string" ? body : JSON.stringify(body) });
const simple = (extra: Record<string, unknown> = {}) => ({ contents: [{ role: "user", parts: [{ text: "hello" }] }], ...extra });

async function expectError(res: Response, code: number, status: string, message?: string) {
  expect(res.status).toBe(code);
  const body = await res.json();
  expect(body.error.code).toBe(code);
  expect(body.error.status).toBe(status);
  if (message !== undefined) expect(body.error.message).toContain(message);
  return body;
}

async function sseEvents(res: Response): Promise<any[]> {
  const out: any[] = [];
  const p = createSseParser((_e, d) => out.push(JSON.parse(d)));
  const text = await res.text();
  expect(text).toContain("\r\n\r\n"); // Gemini's event separator
  p.push(text);
  p.end();
  return out;
}

describe("mock gemini: requests it refuses, in Google's error shape", () => {
  test("missing and wrong keys; the key may also come as ?key=", async () => {
    await expectError(await post(simple(), { headers: { "content-type": "application/json" } }), 403, "PERMISSION_DENIED", "unregistered callers");
    const wrong = await expectError(await post(simple(), { headers: { ...HEADERS, "x-goog-api-key": "nope" } }), 400, "INVALID_ARGUMENT", "API key not valid");
    expect(wrong.error.details[0].reason).toBe("API_KEY_INVALID");
    const viaQuery = await post(simple(), { headers: { "content-type": "application/json" }, path: "/v1beta/models/mock-gemini:generateContent?key=AIza-test" });
    expect(viaQuery.status).toBe(200);
  });

  test("unknown field names, missing contents, bad roles, empty parts", async () => {
    await expectError(await post(simple({ messages: [] })), 400, "INVALID_ARGUMENT", 'Unknown name "messages"');
    await expectError(await post(simple({ generationConfig: { max_tokens: 5 } })), 400, "INVALID_ARGUMENT", 'Unknown name "max_tokens" at \'generation_config\'');
    await expectError(await post({ contents: [] }), 400, "INVALID_ARGUMENT", "contents is not specified");
    await expectError(await post({ contents: [{ role: "assistant", parts: [{ text: "x" }] }] }), 400, "INVALID_ARGUMENT", "valid role");
    await expectError(await post({ contents: [{ role: "user", parts: [] }] }), 400, "INVALID_ARGUMENT", "must not be empty");
    await expectError(await post({ contents: [{ role: "user", parts: [{ text: "a", inlineData: { mimeType: "image/png", data: "AA" } }] }] }), 400, "INVALID_ARGUMENT", "oneof");
    await expectError(await post(simple({ generationConfig: { candidateCount: 9 } })), 400, "INVALID_ARGUMENT", "candidate_count");
  });

  test("function turns: responses follow calls one for one; calls carry their thought signature", async () => {
    const call = (sig?: string) => ({ role: "model", parts: [{ functionCall: { name: "f", args: {} }, ...(sig ? { thoughtSignature: sig } : {}) }] });
    const answer = { role: "user", parts: [{ functionResponse: { name: "f", response: { output: "x" } } }] };
    const tools = [{ functionDeclarations: [{ name: "f" }] }];
    await expectError(await post({ contents: [{ role: "user", parts: [{ text: "q" }] }, answer], tools }), 400, "INVALID_ARGUMENT", "immediately after a function call turn");
    await expectError(await post({ contents: [{ role: "user", parts: [{ text: "q" }] }, call("s"), { role: "user", parts: [...answer.parts, ...answer.parts] }], tools }), 400, "INVALID_ARGUMENT", "number of function response parts");
    await expectError(await post({ contents: [{ role: "user", parts: [{ text: "q" }] }, call(), answer], tools }), 400, "INVALID_ARGUMENT", "thought_signature");
    expect((await post({ contents: [{ role: "user", parts: [{ text: "q" }] }, call("s"), answer], tools })).status).toBe(200);
  });

  test("unknown routes are 404s", async () => {
    await expectError(await post(simple(), { path: "/v1beta/models/mock-gemini:embedContent" }), 404, "NOT_FOUND");
  });
});

describe("mock gemini: replies", () => {
  test("a GenerateContentResponse with candidates, usage, model version and id", async () => {
    const r = await (await post(simple())).json();
    expect(r.candidates).toEqual([{ content: { parts: [{ text: Array.from({ length: 16 }, (_, i) => `tok${i}`).join(" ") }], role: "model" }, finishReason: "STOP", index: 0 }]);
    expect(r.usageMetadata.candidatesTokenCount).toBe(16);
    expect(r.usageMetadata.totalTokenCount).toBe(r.usageMetadata.promptTokenCount + 16);
    expect(r.modelVersion).toBe("mock-gemini");
    expect(typeof r.responseId).toBe("string");
  });

  test("candidateCount, maxOutputTokens, stopSequences", async () => {
    const r = await (await post(simple({ generationConfig: { candidateCount: 2, maxOutputTokens: 3 } }))).json();
    expect(r.candidates.map((c: any) => [c.index, c.content.parts[0].text, c.finishReason])).toEqual([[0, "tok0 tok1 tok2", "MAX_TOKENS"], [1, "c1tok0 c1tok1 c1tok2", "MAX_TOKENS"]]);
    const s = await (await post(simple({ generationConfig: { stopSequences: ["tok2"] } }))).json();
    expect([s.candidates[0].content.parts[0].text, s.candidates[0].finishReason]).toEqual(["tok0 tok1", "STOP"]);
  });

  test("function calls on mode ANY or the magic word, with a signature on the first", async () => {
    const tools = [{ functionDeclarations: [{ name: "weather", parametersJsonSchema: { type: "object", properties: { city: { type: "string" } } } }, { name: "clock" }] }];
    const any = await (await post(simple({ tools, toolConfig: { functionCallingConfig: { mode: "ANY", allowedFunctionNames: ["clock"] } }, mock: { tokens: 0 } }))).json();
    expect(any.candidates[0].content.parts).toEqual([{ functionCall: { name: "clock", args: {} }, thoughtSignature: MOCK_THOUGHT_SIGNATURE }]);
    const magic = await (await post({ contents: [{ role: "user", parts: [{ text: "weather? mock:tool" }] }], tools, mock: { toolCalls: 2, tokens: 1 } })).json();
    expect(magic.candidates[0].content.parts.map((p: any) => Object.keys(p))).toEqual([["text"], ["functionCall", "thoughtSignature"], ["functionCall"]]);
    expect(magic.candidates[0].content.parts[1].functionCall).toEqual({ name: "weather", args: { city: "mock" } });
    const none = await (await post({ contents: [{ role: "user", parts: [{ text: "mock:tool" }] }], tools, toolConfig: { functionCallingConfig: { mode: "NONE" } } })).json();
    expect(none.candidates[0].content.parts).toHaveLength(1);
  });

  test("thoughts when asked", async () => {
    const r = await (await post(simple({ generationConfig: { thinkingConfig: { includeThoughts: true } } }))).json();
    expect(r.candidates[0].content.parts[0]).toEqual({ text: "Let me think about tok0.", thought: true });
    expect(r.usageMetadata.thoughtsTokenCount).toBe(6);
  });

  test("a stream of whole responses whose parts rebuild the non-streamed reply", async () => {
    const body = simple({ generationConfig: { candidateCount: 2, thinkingConfig: { includeThoughts: true } }, mock: { tokens: 4 } });
    const whole = await (await post(body)).json();
    const res = await post(body, { stream: true });
    expect(res.headers.get("content-type")).toStartWith("text/event-stream");
    const events = await sseEvents(res);
    const texts: string[][] = [[], []];
    for (const e of events) for (const c of e.candidates) for (const p of c.content.parts) texts[c.index].push(p.thought ? `(${p.text})` : p.text);
    expect(texts.map((t) => t.join(""))).toEqual(whole.candidates.map((c: any) => c.content.parts.map((p: any) => (p.thought ? `(${p.text})` : p.text)).join("")));
    expect(events.at(-1).candidates.map((c: any) => c.finishReason)).toEqual(["STOP", "STOP"]);
    expect(events.at(-1).usageMetadata).toEqual(whole.usageMetadata);
    expect(events.slice(0, -1).every((e: any) => e.candidates.every((c: any) => c.finishReason === undefined))).toBe(true);
  });

  test("without alt=sse the stream is one JSON array", async () => {
    const res = await post(simple({ mock: { tokens: 3 } }), { path: "/v1beta/models/mock-gemini:streamGenerateContent" });
    const arr = await res.json();
    expect(arr.map((r: any) => r.candidates[0].content.parts[0].text).join("")).toBe("tok0 tok1 tok2");
  });
});

describe("mock gemini: injected failures", () => {
  test("status codes with their Google statuses", async () => {
    mock.behavior.status = 503;
    const res = await post(simple());
    expect(res.headers.get("retry-after")).toBe("1");
    await expectError(res, 503, "UNAVAILABLE", "overloaded");
    await expectError(await post(simple({ mock: { status: 429 } })), 429, "RESOURCE_EXHAUSTED");
    await expectError(await post(simple({ mock: { status: 504 } })), 504, "DEADLINE_EXCEEDED");
  });

  test("a mid-stream error event, a reset, a safety stop, a blocked prompt", async () => {
    const withError = await sseEvents(await post(simple({ mock: { errorAfterTokens: 2 } }), { stream: true }));
    expect(withError).toHaveLength(3);
    expect(withError.at(-1)).toEqual({ error: { code: 503, message: "The model is overloaded. Please try again later.", status: "UNAVAILABLE" } });

    const reset = await post(simple({ mock: { resetAfterTokens: 2 } }), { stream: true });
    const failed = await reset.text().then(() => false, () => true);
    expect(failed).toBe(true);

    const safety = await (await post(simple({ mock: { finishReason: "SAFETY" } }))).json();
    expect(safety.candidates[0].finishReason).toBe("SAFETY");

    const blocked = await (await post(simple({ mock: { blockPrompt: true } }))).json();
    expect(blocked.candidates).toBeUndefined();
    expect(blocked.promptFeedback.blockReason).toBe("SAFETY");
  });

  test("delays between tokens", async () => {
    const t0 = performance.now();
    await (await post(simple({ mock: { tokens: 5, delayMs: 30 } }), { stream: true })).text();
    expect(performance.now() - t0).toBeGreaterThanOrEqual(110);
  });
});
