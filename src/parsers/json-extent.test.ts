import { describe, expect, test } from "bun:test";
import { elementSpans, memberSpan, newJsonExtent, scanJsonExtent } from "./json-extent.ts";

describe("scanJsonExtent", () => {
  test("brackets inside strings and escaped quotes do not count", () => {
    const s = '{"a": "}]\\"{", "b": [1, {"c": "\\\\"}]} tail';
    expect(scanJsonExtent(newJsonExtent(), s, 0)).toBe(s.indexOf(" tail"));
  });

  test("carries its state across pieces, whatever the cut", () => {
    const s = '[{"x": "a\\"}"}, [[]], "]"]';
    for (let cut = 1; cut < s.length; cut++) {
      const st = newJsonExtent();
      const first = scanJsonExtent(st, s.slice(0, cut), 0);
      const end = first >= 0 ? first : cut + scanJsonExtent(st, s.slice(cut), 0);
      expect(end).toBe(s.length);
    }
  });

  test("stops at `to`", () => {
    expect(scanJsonExtent(newJsonExtent(), "{}", 0, 1)).toBe(-1);
  });
});

describe("member and element spans", () => {
  const slice = (s: string, span: [number, number] | null) => (span ? s.slice(span[0], span[1]) : null);

  test("finds a member's value as written, of any type", () => {
    const s = '{ "name" : "f", "arguments" : {"n": 12345678901234567890, "s": "}"} , "z": -1.5e3, "t": true }';
    expect(slice(s, memberSpan(s, "arguments"))).toBe('{"n": 12345678901234567890, "s": "}"}');
    expect(slice(s, memberSpan(s, "name"))).toBe('"f"');
    expect(slice(s, memberSpan(s, "z"))).toBe("-1.5e3");
    expect(slice(s, memberSpan(s, "t"))).toBe("true");
    expect(memberSpan(s, "missing")).toBeNull();
  });

  test("escaped keys and duplicate keys (the last wins, as in JSON.parse)", () => {
    const s = '{"a\\u0062": [1], "ab": [2]}';
    expect(slice(s, memberSpan(s, "ab"))).toBe("[2]");
  });

  test("elementSpans", () => {
    const s = ' [ {"a": [1, 2]} , "x,]" , 3 ] ';
    expect(elementSpans(s).map((span) => s.slice(span[0], span[1]))).toEqual(['{"a": [1, 2]}', '"x,]"', "3"]);
    expect(elementSpans("[]")).toEqual([]);
  });
});
