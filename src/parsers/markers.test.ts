import { describe, expect, test } from "bun:test";
import { findFirst, isAllSpace, markerAt, partialStart, skipSpace } from "./markers.ts";

describe("markers", () => {
  test("findFirst finds the earliest of several markers from a position", () => {
    expect(findFirst("a [X] <y>", 0, ["<y>", "[X]"])).toBe(2);
    expect(findFirst("a [X] <y>", 3, ["<y>", "[X]"])).toBe(6);
    expect(findFirst("none", 0, ["<y>"])).toBe(-1);
  });

  test("markerAt prefers the longest marker starting there", () => {
    expect(markerAt("<ab>", 0, ["<a", "<ab>"])).toBe(1);
    expect(markerAt("x<ab>", 0, ["<a"])).toBe(-1);
  });

  test("partialStart: the longest tail that may still grow into a marker", () => {
    expect(partialStart("see <tool_c", 0, ["<tool_call>"])).toBe(4);
    expect(partialStart("see <", 0, ["<tool_call>"])).toBe(4);
    expect(partialStart("a < b", 0, ["<tool_call>"])).toBe(5);
    expect(partialStart("<tool_call>", 0, ["<tool_call>"])).toBe(11); // a whole marker is no partial
    expect(partialStart("x<｜tool▁", 0, ["<｜tool▁calls▁begin｜>"])).toBe(1);
    expect(partialStart("ab[T", 0, ["<t>", "[TOOL_CALLS]"])).toBe(2);
    expect(partialStart("<t", 2, ["<t>"])).toBe(2); // nothing before `from`
  });

  test("whitespace helpers know only ASCII whitespace", () => {
    expect(isAllSpace(" \n\t\r")).toBe(true);
    expect(isAllSpace(" \u00a0")).toBe(false);
    expect(isAllSpace("ab  ", 2)).toBe(true);
    expect(skipSpace("  x")).toBe(2);
    expect(skipSpace("   ")).toBe(3);
  });
});
