import { describe, expect, test } from "bun:test";
import { GatewayError } from "../errors";
import { jsonDepth, parseBody } from "./json";

const enc = (s: string) => new TextEncoder().encode(s);

function refusal(fn: () => unknown): GatewayError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(GatewayError);
    return e as GatewayError;
  }
  throw new Error("expected a GatewayError");
}

describe("jsonDepth", () => {
  test("counts objects and arrays, not brackets inside strings or escaped quotes", () => {
    expect(jsonDepth(enc('{"a":1}'), 64)).toBe(1);
    expect(jsonDepth(enc('{"a":[1,{"b":"]]]{{{"}]}'), 64)).toBe(3);
    expect(jsonDepth(enc('{"a":"x\\"[[[[","b":[[]]}'), 64)).toBe(3);
    expect(jsonDepth(enc('{"a":"x\\\\","b":[[[]]]}'), 64)).toBe(4); // an escaped backslash ends the string
    expect(jsonDepth(enc("[]"), 64)).toBe(1);
  });

  test("stops as soon as the limit is passed", () => {
    expect(jsonDepth(enc("[".repeat(1_000_000)), 10)).toBe(11);
  });
});

describe("parseBody", () => {
  test("returns the object", () => {
    expect(parseBody(enc('{"model":"m","n":1}'), 64)).toEqual({ model: "m", n: 1 });
  });

  test("refuses nesting deeper than the limit with json_too_deep", () => {
    const body = `{"model":"m","x":${"[".repeat(65)}${"]".repeat(65)}}`;
    expect(parseBody(enc(body.replace(/\[{65}/, "[".repeat(63)).replace(/\]{65}/, "]".repeat(63))), 64)).toHaveProperty("model", "m");
    const e = refusal(() => parseBody(enc(body), 64));
    expect([e.status, e.code, e.type]).toEqual([400, "json_too_deep", "invalid_request_error"]);
    expect(e.message).toContain("64 levels");
  });

  test("a megabyte of brackets is refused quickly", () => {
    const started = performance.now();
    expect(refusal(() => parseBody(enc("[".repeat(1 << 20)), 64)).code).toBe("json_too_deep");
    expect(performance.now() - started).toBeLessThan(50);
  });

  test("refuses invalid JSON and non-objects with invalid_json, as the adapter does", () => {
    const bad = refusal(() => parseBody(enc('{"model":'), 64));
    expect([bad.status, bad.code, bad.message]).toEqual([
      400,
      "invalid_json",
      "We could not parse the JSON body of your request. The request body must be a JSON object.",
    ]);
    for (const text of ["[1,2]", '"text"', "null", "42"]) {
      const e = refusal(() => parseBody(enc(text), 64));
      expect([e.status, e.code, e.message]).toEqual([400, "invalid_json", "The request body must be a JSON object."]);
    }
  });
});
