import { describe, expect, test } from "bun:test";
import { parseExposition } from "./exposition";
import { bucketsBy, bucketsOf, increase, quantile, type Bucket } from "./histogram";

const b = (pairs: [number, number][]): Bucket[] => pairs.map(([le, count]) => ({ le, count }));

describe("quantile", () => {
  const h = b([
    [0.05, 0],
    [0.1, 10],
    [0.5, 20],
    [Infinity, 20],
  ]);

  test("interpolates linearly inside the bucket the rank falls in", () => {
    expect(quantile(0.5, h)).toBeCloseTo(0.1, 12); // rank 10: the top of (0.05, 0.1]
    expect(quantile(0.25, h)).toBeCloseTo(0.075, 12); // rank 5: half way through (0.05, 0.1]
    expect(quantile(0.99, h)).toBeCloseTo(0.1 + 0.4 * (9.8 / 10), 12); // rank 19.8 in (0.1, 0.5]
  });

  test("the lowest bucket starts at 0 when its bound is positive", () => {
    expect(quantile(0.5, b([[1, 4], [Infinity, 4]]))).toBe(0.5);
  });

  test("a rank in the +Inf bucket gives the highest finite bound", () => {
    expect(quantile(0.99, b([[0.1, 5], [1, 8], [Infinity, 10]]))).toBe(1);
  });

  test("undefined without observations, without a +Inf bucket, or with one bucket only", () => {
    expect(quantile(0.5, b([[0.1, 0], [Infinity, 0]]))).toBeUndefined();
    expect(quantile(0.5, b([[0.1, 1], [1, 2]]))).toBeUndefined();
    expect(quantile(0.5, b([[Infinity, 3]]))).toBeUndefined();
    expect(quantile(0.5, [])).toBeUndefined();
  });

  test("tolerates a scrape that raced with increments (a bucket a little below the one before)", () => {
    expect(quantile(0.5, b([[0.1, 6], [0.2, 5], [Infinity, 10]]))).toBeCloseTo(0.1 * (5 / 6), 12);
  });

  test("refuses q outside [0, 1]", () => {
    expect(() => quantile(1.5, h)).toThrow(RangeError);
    expect(() => quantile(NaN, h)).toThrow(RangeError);
  });

  test("on random data the estimate lies in the bucket that holds the true quantile", () => {
    const bounds = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, Infinity];
    let seed = 42;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (let run = 0; run < 200; run++) {
      const n = 1 + Math.floor(random() * 500);
      const values = Array.from({ length: n }, () => random() ** 3 * 1.5).sort((x, y) => x - y);
      const buckets = bounds.map((le) => ({ le, count: values.filter((v) => v <= le).length }));
      for (const q of [0.5, 0.9, 0.99]) {
        const truth = values[Math.max(0, Math.ceil(q * n) - 1)]!;
        const i = bounds.findIndex((le) => truth <= le);
        const estimate = quantile(q, buckets)!;
        const lower = i === 0 ? 0 : bounds[i - 1]!;
        const upper = bounds[i] === Infinity ? bounds[i - 1]! : bounds[i]!;
        expect(estimate).toBeGreaterThanOrEqual(lower);
        expect(estimate).toBeLessThanOrEqual(upper);
      }
    }
  });
});

describe("increase", () => {
  const before = b([[0.1, 3], [Infinity, 5]]);
  test("subtracts the earlier scrape bucket by bucket", () => {
    expect(increase(b([[0.1, 4], [Infinity, 9]]), before)).toEqual(b([[0.1, 1], [Infinity, 4]]));
  });
  test("a count that went down is a restart: everything now is new", () => {
    const after = b([[0.1, 1], [Infinity, 2]]);
    expect(increase(after, before)).toEqual(after);
  });
  test("no earlier scrape: everything is new", () => {
    expect(increase(before, undefined)).toEqual(before);
  });
});

describe("bucketsOf, bucketsBy", () => {
  const m = parseExposition(`# TYPE d histogram
d_bucket{le="0.1",upstream="a"} 1
d_bucket{le="1",upstream="a"} 3
d_bucket{le="+Inf",upstream="a"} 4
d_bucket{le="0.1",upstream="b"} 2
d_bucket{le="1",upstream="b"} 2
d_bucket{le="+Inf",upstream="b"} 6
d_sum{upstream="a"} 2
d_count{upstream="a"} 4
`);

  test("sums every series per bound, sorted by bound", () => {
    expect(bucketsOf(m, "d")).toEqual(b([[0.1, 3], [1, 5], [Infinity, 10]]));
    expect(bucketsOf(m, "d", { upstream: "b" })).toEqual(b([[0.1, 2], [1, 2], [Infinity, 6]]));
    expect(bucketsOf(m, "missing")).toEqual([]);
  });

  test("groups by a label", () => {
    const by = bucketsBy(m, "d", "upstream");
    expect([...by.keys()]).toEqual(["a", "b"]);
    expect(by.get("a")).toEqual(b([[0.1, 1], [1, 3], [Infinity, 4]]));
  });
});
