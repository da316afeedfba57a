import { describe, expect, test } from "bun:test";
import { callFromJson, randomToolCallId } from "./tool-call.ts";

const call = (raw: string, keys = ["arguments"]) => callFromJson(JSON.parse(raw), raw, keys);

describe("callFromJson", () => {
  test("takes the name and the arguments exactly as written", () => {
    expect(call('{"name": "f", "arguments": {"x": 1.0, "y": "é"}}')).toEqual({ name: "f", arguments: '{"x": 1.0, "y": "é"}', id: undefined });
  });

  test("the first argument key present wins; none means {}", () => {
    expect(call('{"name": "f", "parameters": {"a": 1}}', ["parameters", "arguments"])!.arguments).toBe('{"a": 1}');
    expect(call('{"name": "f"}')!.arguments).toBe("{}");
  });

  test("quoted arguments are taken as their string", () => {
    expect(call('{"name": "f", "arguments": "{\\"a\\": 1}"}')!.arguments).toBe('{"a": 1}');
  });

  test("an id is kept when the model wrote one", () => {
    expect(call('{"name": "f", "id": "abc123def"}')!.id).toBe("abc123def");
  });

  test("refuses what is no call", () => {
    expect(call('{"arguments": {}}')).toBeNull();
    expect(call('{"name": "", "arguments": {}}')).toBeNull();
    expect(call('{"name": 3}')).toBeNull();
    expect(call('{"name": "f", "arguments": [1]}')).toBeNull();
    expect(call('{"name": "f", "arguments": null}')).toBeNull();
    expect(call("[1]")).toBeNull();
  });
});

test("randomToolCallId", () => {
  expect(randomToolCallId()).toMatch(/^call_[A-Za-z0-9]{24}$/);
  expect(randomToolCallId()).not.toBe(randomToolCallId());
});
