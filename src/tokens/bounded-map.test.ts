import { describe, expect, test } from "bun:test";
import { boundedGet, boundedSet, boundedSize, createBoundedMap } from "./bounded-map.ts";

describe("bounded map", () => {
  test("never holds more than its capacity", () => {
    const map = createBoundedMap<number, number>(100);
    for (let i = 0; i < 10_000; i++) {
      boundedSet(map, i, i);
      expect(boundedSize(map)).toBeLessThanOrEqual(100);
    }
  });

  test("keeps recent entries and forgets old ones", () => {
    const map = createBoundedMap<number, string>(10);
    for (let i = 0; i < 100; i++) boundedSet(map, i, `v${i}`);
    expect(boundedGet(map, 99)).toBe("v99");
    expect(boundedGet(map, 95)).toBe("v95");
    expect(boundedGet(map, 0)).toBeUndefined();
  });

  test("an entry that keeps being read survives any amount of churn", () => {
    const map = createBoundedMap<number, string>(10);
    boundedSet(map, -1, "hot");
    for (let i = 0; i < 1000; i++) {
      boundedSet(map, i, "cold");
      expect(boundedGet(map, -1)).toBe("hot");
    }
  });
});
