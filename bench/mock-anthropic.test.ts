import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { createSseParser } from "../src/providers/common/sse";
import { startMockAnthropic, type AnthropicMock } from "./mock-anthropic.ts";

let mock: AnthropicMock;
beforeAll(async () => {
  mock = await startMockAnthropic({ apiKey: "sk-ant-test" });
});
afterAll(() => mock.stop());
beforeEach(() => mock.reset());

const HEADERS = { "content-type": "application/json", "x-api-key": "sk-ant-test", "anthropic-version": "2023-06-01" };
const post = (body: unknown, headers: Record<string, string> = HEADERS) =>
  fetch(`${mock.url}/v1/messages`, { method: "POST", headers, body: typeof body === "string" ? body : JSON.stringify(body) });
const simple = (extra: Record<string, unknown> = {}) => ({ model: "mock-claude", max_tokens: 100, messages: [{ role: "user", content: "hello" }], ...extra });

async function events(res: Response): Promise<{ name: string; data: any }[]> {
  const out: { name: string; data: any }[] = [];
  const p = createSseParser((name, data) => out.push({ name, data: JSON.parse(data) }));
  p.push(await res.text());
  p.end();
  return out;
}

async function expectError(res: Response, status: number, type: string, message?: string) {
  expect(res.status).toBe(status);
  const body = await res.json();
  expect(body.type).toBe("error");
  expect(body.error.type).toBe(type);
  expect(body.request_id).toStartWith("req_");
  if (message !== undefined) expect(body.error.message).toContain(message);
}

describe("mock anthropic: requests it refuses, in Anthropic's error shape", () => {
  test("headers", async () => {
    await expectError(await post(simple(), { "content-type": "application/json", "anthropic-version": "2023-06-01" }), 401, "authentication_error", "x-api-key");
    await expectError(await post(simple(), { ...HEADERS, "x-api-key": "wrong" }), 401, "authentication_error");
    await expectError(await post(simple(), { "content-type": "application/json", "x-api-key": "sk-ant-test" }), 400, "invalid_request_error", "anthropic-version");
  });

  test("required fields and unknown fields", async () => {
    await expectError(await post({ model: "m", messages: [{ role: "user", content: "x" }] }), 400, "invalid_request_error", "max_tokens: Field required");
    await expectError(await post(simple({ model: undefined })), 400, "invalid_request_error", "model");
    await expectError(await post(simple({ messages: [] })), 400, "invalid_request_error", "messages");
    await expectError(await post(simple({ stream_options: { include_usage: true } })), 400, "invalid_request_error", "stream_options: Extra inputs are not permitted");
    await expectError(await post("{not json"), 400, "invalid_request_error");
  });

  test("roles, empty text, images, temperature, tools", async () => {
    await expectError(await post(simple({ messages: [{ role: "system", content: "x" }] })), 400, "invalid_request_error", "messages.0.role");
    await expectError(await post(simple({ messages: [{ role: "user", content: [{ type: "text", text: "" }] }] })), 400, "invalid_request_error", "non-empty");
    await expectError(await post(simple({ messages: [{ role: "user", content: [{ type: "image", source: { type: "base64", media_type: "image/bmp", data: "AA" } }] }] })), 400, "invalid_request_error", "media_type");
    await expectError(await post(simple({ temperature: 1.5 })), 400, "invalid_request_error", "temperature");
    await expectError(await post(simple({ tools: [{ name: "f", parameters: {} }] })), 400, "invalid_request_error", "tools.0.input_schema.type");
    await expectError(await post(simple({ tools: [{ name: "f", input_schema: { type: "object" } }], tool_choice: { type: "tool", name: "g" } })), 400, "invalid_request_error", "tool_choice.name");
  });

  test("tool_use must be answered by tool_result in the next turn, and only then", async () => {
    const call = { role: "assistant", content: [{ type: "tool_use", id: "toolu_1", name: "f", input: {} }] };
    await expectError(await post(simple({ messages: [{ role: "user", content: "x" }, call, { role: "user", content: "no result" }] })), 400, "invalid_request_error", "tool_use` ids were found without `tool_result`");
    await expectError(await post(simple({ messages: [{ role: "user", content: [{ type: "tool_result", tool_use_id: "toolu_9" }] }] })), 400, "invalid_request_error", "unexpected `tool_use_id`");
    const ok = await post(simple({ messages: [{ role: "user", content: "x" }, call, { role: "user", content: [{ type: "tool_result", tool_use_id: "toolu_1", content: "r" }] }] }));
    expect(ok.status).toBe(200);
  });
});

describe("mock anthropic: replies", () => {
  test("a message with text, stop reason and usage", async () => {
    const res = await post(simple());
    expect(res.status).toBe(200);
    expect(res.headers.get("request-id")).toStartWith("req_");
    const m = await res.json();
    expect(m).toMatchObject({ type: "message", role: "assistant", model: "mock-claude", stop_reason: "end_turn", stop_sequence: null });
    expect(m.id).toStartWith("msg_");
    expect(m.content).toEqual([{ type: "text", text: Array.from({ length: 16 }, (_, i) => `tok${i}`).join(" ") }]);
    expect(m.usage.output_tokens).toBe(16);
    expect(m.usage.input_tokens).toBeGreaterThan(0);
  });

  test("max_tokens and stop sequences", async () => {
    const capped = await (await post(simple({ max_tokens: 3 }))).json();
    expect([capped.content[0].text, capped.stop_reason]).toEqual(["tok0 tok1 tok2", "max_tokens"]);
    const stopped = await (await post(simple({ stop_sequences: ["tok5"] }))).json();
    expect([stopped.content[0].text, stopped.stop_reason, stopped.stop_sequence]).toEqual(["tok0 tok1 tok2 tok3 tok4", "stop_sequence", "tok5"]);
  });

  test("tool use on the magic word, on tool_choice any, never on none; inputs follow the schema", async () => {
    const tools = [{ name: "weather", input_schema: { type: "object", properties: { city: { type: "string" }, days: { type: "integer" } }, required: ["city"] } }];
    const plain = await (await post(simple({ tools }))).json();
    expect(plain.stop_reason).toBe("end_turn");
    const magic = await (await post(simple({ tools, messages: [{ role: "user", content: "weather? mock:tool" }] }))).json();
    expect(magic.stop_reason).toBe("tool_use");
    expect(magic.content.at(-1)).toMatchObject({ type: "tool_use", name: "weather", input: { city: "mock", days: 1 } });
    const any = await (await post(simple({ tools, tool_choice: { type: "any" }, mock: { tokens: 0, toolCalls: 2 } }))).json();
    expect(any.content.map((b: any) => b.type)).toEqual(["tool_use", "tool_use"]);
    const none = await (await post(simple({ tools, tool_choice: { type: "none" }, messages: [{ role: "user", content: "mock:tool" }] }))).json();
    expect(none.stop_reason).toBe("end_turn");
  });

  test("thinking when enabled", async () => {
    const m = await (await post(simple({ thinking: { type: "enabled", budget_tokens: 1024 } }))).json();
    expect(m.content[0]).toEqual({ type: "thinking", thinking: "Let me think about tok0.", signature: "mock-signature" });
  });

  test("a stream in the documented event order whose deltas rebuild the message", async () => {
    const tools = [{ name: "f", input_schema: { type: "object", properties: { q: { type: "string" } } } }];
    const body = simple({ tools, thinking: { type: "enabled", budget_tokens: 1024 }, messages: [{ role: "user", content: "mock:tool" }], mock: { tokens: 3 } });
    const whole = await (await post(body)).json();
    const res = await post({ ...body, stream: true });
    expect(res.headers.get("content-type")).toStartWith("text/event-stream");
    const evs = await events(res);
    for (const e of evs) expect(e.data.type).toBe(e.name);
    expect(evs[0].name).toBe("message_start");
    expect(evs[0].data.message).toMatchObject({ content: [], stop_reason: null, usage: { input_tokens: whole.usage.input_tokens } });
    expect(evs.some((e) => e.name === "ping")).toBe(true);
    expect(evs.slice(-2).map((e) => e.name)).toEqual(["message_delta", "message_stop"]);
    const content: any[] = [];
    const json: string[] = [];
    for (const e of evs) {
      if (e.name === "content_block_start") { content[e.data.index] = { ...e.data.content_block }; json[e.data.index] = ""; }
      if (e.name === "content_block_delta") {
        const d = e.data.delta;
        if (d.type === "text_delta") content[e.data.index].text += d.text;
        if (d.type === "thinking_delta") content[e.data.index].thinking += d.thinking;
        if (d.type === "signature_delta") content[e.data.index].signature += d.signature;
        if (d.type === "input_json_delta") json[e.data.index] += d.partial_json;
      }
      if (e.name === "content_block_stop" && content[e.data.index].type === "tool_use") content[e.data.index].input = JSON.parse(json[e.data.index]);
    }
    // Tool ids are fresh per reply; everything else matches.
    expect(content.map((b) => ({ ...b, id: undefined }))).toEqual(whole.content.map((b: any) => ({ ...b, id: undefined })));
    const delta = evs.at(-2)!.data;
    expect(delta.delta).toEqual({ stop_reason: whole.stop_reason, stop_sequence: null });
    expect(delta.usage.output_tokens).toBe(whole.usage.output_tokens);
  });
});

describe("mock anthropic: injected failures", () => {
  test("status codes with their Anthropic error types", async () => {
    mock.behavior.status = 529;
    const res = await post(simple());
    expect(res.headers.get("retry-after")).toBe("1");
    await expectError(res, 529, "overloaded_error", "Overloaded");
    await expectError(await post(simple({ mock: { status: 429 } })), 429, "rate_limit_error");
    await expectError(await post(simple({ mock: { status: 500 } })), 500, "api_error");
  });

  test("a mid-stream error event", async () => {
    const evs = await events(await post(simple({ stream: true, mock: { errorAfterTokens: 2 } })));
    expect(evs.filter((e) => e.name === "content_block_delta")).toHaveLength(2);
    expect(evs.at(-1)).toEqual({ name: "error", data: { type: "error", error: { type: "overloaded_error", message: "Overloaded" } } });
  });

  test("a reset connection mid-stream", async () => {
    const res = await post(simple({ stream: true, mock: { resetAfterTokens: 2 } }));
    let text = "";
    let failed = false;
    const reader = res.body!.getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        text += new TextDecoder().decode(value);
      }
    } catch {
      failed = true;
    }
    expect(failed).toBe(true);
    expect(text).toContain('"text":" tok1"');
    expect(text).not.toContain("message_stop");
  });

  test("delays between tokens", async () => {
    const t0 = performance.now();
    await (await post(simple({ stream: true, mock: { tokens: 5, delayMs: 30 } }))).text();
    expect(performance.now() - t0).toBeGreaterThanOrEqual(110);
  });
});
