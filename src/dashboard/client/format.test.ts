import { expect, test } from "bun:test";
import { fmtAge, fmtCount, fmtRate, fmtSeconds, NONE } from "./format";

test("missing values are a dash, never 0", () => {
  for (const f of [fmtCount, fmtRate, fmtSeconds, fmtAge]) {
    expect(f(undefined)).toBe(NONE);
    expect(f(NaN)).toBe(NONE);
  }
  expect(fmtCount(0)).toBe("0");
  expect(fmtRate(0)).toBe("0.0");
});

test("counts, rates, durations and ages", () => {
  expect(fmtCount(1234567.4)).toBe("1,234,567");
  expect([fmtRate(6.54), fmtRate(1234.5)]).toEqual(["6.5", "1,235"]);
  expect([fmtSeconds(0.0000123), fmtSeconds(0.0123), fmtSeconds(2.5)]).toEqual(["12.3 µs", "12.3 ms", "2.50 s"]);
  expect([fmtAge(4.9), fmtAge(200), fmtAge(7500)]).toEqual(["4 s", "3 min 20 s", "2 h 5 min"]);
});
