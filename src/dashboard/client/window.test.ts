import { describe, expect, test } from "bun:test";
import { parseExposition, total } from "./exposition";
import { counterIncrease, ScrapeWindow } from "./window";

const scrape = (n: number) => parseExposition(`# TYPE r counter\nr ${n}\n`);
const requests = (m: ReturnType<typeof parseExposition>) => total(m, "r");

describe("ScrapeWindow", () => {
  test("no rate from a single scrape", () => {
    const w = new ScrapeWindow(10_000);
    expect(w.rate(requests)).toBeUndefined();
    w.add(0, scrape(5));
    expect(w.rate(requests)).toBeUndefined();
  });

  test("rate is the increase per second between the oldest scrape in the window and the newest", () => {
    const w = new ScrapeWindow(10_000);
    w.add(0, scrape(0));
    w.add(2000, scrape(10));
    expect(w.rate(requests)).toBe(5);
    w.add(4000, scrape(30));
    expect(w.rate(requests)).toBe(7.5); // 30 in 4 s
  });

  test("scrapes older than the span fall out, keeping one at or beyond its start", () => {
    const w = new ScrapeWindow(10_000);
    for (let t = 0; t <= 20_000; t += 2000) w.add(t, scrape(t / 50)); // 20 per second
    expect(w.baseline!.at).toBe(10_000);
    expect(w.rate(requests)).toBe(20);
  });

  test("a counter reset (gateway restart) counts from zero, never negative", () => {
    const w = new ScrapeWindow(10_000);
    w.add(0, scrape(1000));
    w.add(2000, scrape(8));
    expect(w.rate(requests)).toBe(4);
    expect(counterIncrease(3, 10)).toBe(3);
    expect(counterIncrease(10, 3)).toBe(7);
  });

  test("clear forgets everything", () => {
    const w = new ScrapeWindow(10_000);
    w.add(0, scrape(1));
    w.add(1000, scrape(2));
    w.clear();
    expect(w.latest).toBeUndefined();
    expect(w.rate(requests)).toBeUndefined();
  });
});
