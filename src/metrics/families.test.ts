import { describe, expect, test } from "bun:test";
import { Registry } from "prom-client";
import { CounterFamily, HistogramFamily } from "./families";

/** The sample lines of an exposition, without HELP/TYPE comments. */
async function samples(registry: Registry): Promise<string[]> {
  return (await registry.metrics()).split("\n").filter((l) => l !== "" && !l.startsWith("#"));
}

describe("CounterFamily", () => {
  test("one cell per label combination, found again by the same values", async () => {
    const registry = new Registry();
    const c = new CounterFamily(registry, "t_requests_total", "Requests.", ["route", "model", "status"]);
    const cell = c.at("/v1/chat/completions", "gpt-4o", 200);
    expect(c.at("/v1/chat/completions", "gpt-4o", 200)).toBe(cell);
    expect(c.at("/v1/chat/completions", "gpt-4o", 201)).not.toBe(cell);
    expect(c.at("/v1/embeddings", "gpt-4o", 200)).not.toBe(cell);
    cell.inc();
    cell.inc(2);
    c.at("/v1/embeddings", "", 401).inc();
    expect(await samples(registry)).toEqual([
      't_requests_total{route="/v1/chat/completions",model="gpt-4o",status="200"} 3',
      't_requests_total{route="/v1/chat/completions",model="gpt-4o",status="201"} 0',
      't_requests_total{route="/v1/embeddings",model="gpt-4o",status="200"} 0',
      't_requests_total{route="/v1/embeddings",model="",status="401"} 1',
    ]);
  });

  test("one and two labels; a label-less family shows 0 before its first increment", async () => {
    const registry = new Registry();
    const one = new CounterFamily(registry, "t_one_total", "One.", ["rule"]);
    const two = new CounterFamily(registry, "t_two_total", "Two.", ["rule", "action"]);
    const none = new CounterFamily(registry, "t_none_total", "None.", []);
    expect(await samples(registry)).toEqual(["t_none_total 0"]);
    one.at("a").inc();
    two.at("a", "flag").inc(5);
    two.at("a", "block").inc();
    expect(one.at("a")).toBe(one.at("a"));
    expect(none.at()).toBe(none.at());
    none.at().inc();
    expect(await samples(registry)).toEqual(['t_one_total{rule="a"} 1', 't_two_total{rule="a",action="flag"} 5', 't_two_total{rule="a",action="block"} 1', "t_none_total 1"]);
  });

  test("label values are escaped in the exposition", async () => {
    const registry = new Registry();
    new CounterFamily(registry, "t_esc_total", "Escapes.", ["model"]).at('a"b\\c\nd').inc();
    expect(await samples(registry)).toEqual(['t_esc_total{model="a\\"b\\\\c\\nd"} 1']);
  });

  test("reset zeroes the cells the callers still hold", async () => {
    const registry = new Registry();
    const cell = new CounterFamily(registry, "t_reset_total", "Reset.", ["x"]).at("y");
    cell.inc(4);
    registry.resetMetrics();
    expect(cell.value).toBe(0);
    cell.inc();
    expect(await samples(registry)).toEqual(['t_reset_total{x="y"} 1']);
  });

  test("refuses a fourth label and a name already registered", () => {
    const registry = new Registry();
    expect(() => new CounterFamily(registry, "t_many_total", "Many.", ["a", "b", "c", "d"])).toThrow("at most three labels");
    new CounterFamily(registry, "t_dup_total", "Dup.", []);
    expect(() => new CounterFamily(registry, "t_dup_total", "Dup.", [])).toThrow("already been registered");
  });
});

describe("HistogramFamily", () => {
  test("cumulative buckets, +Inf, sum and count; a value on a bound falls in that bucket", async () => {
    const registry = new Registry();
    const h = new HistogramFamily(registry, "t_seconds", "Durations.", ["route"], [0.1, 1]);
    const cell = h.at("/r");
    for (const v of [0.05, 0.1, 0.5, 2]) cell.observe(v);
    expect(await samples(registry)).toEqual([
      't_seconds_bucket{le="0.1",route="/r"} 2',
      't_seconds_bucket{le="1",route="/r"} 3',
      't_seconds_bucket{le="+Inf",route="/r"} 4',
      't_seconds_sum{route="/r"} 2.65',
      't_seconds_count{route="/r"} 4',
    ]);
  });

  test("a label-less histogram shows empty buckets from the start", async () => {
    const registry = new Registry();
    const h = new HistogramFamily(registry, "t_fsync_seconds", "Fsync.", [], [0.001]);
    expect(await samples(registry)).toEqual(['t_fsync_seconds_bucket{le="0.001"} 0', 't_fsync_seconds_bucket{le="+Inf"} 0', "t_fsync_seconds_sum 0", "t_fsync_seconds_count 0"]);
    h.at().observe(0.0005);
    expect((await samples(registry))[0]).toBe('t_fsync_seconds_bucket{le="0.001"} 1');
  });

  test("bucket bounds must increase", () => {
    expect(() => new HistogramFamily(new Registry(), "t_bad_seconds", "Bad.", [], [1, 1])).toThrow("must increase");
    expect(() => new HistogramFamily(new Registry(), "t_none_seconds", "None.", [], [])).toThrow("must increase");
  });
});

test("a refused family leaves nothing registered", async () => {
  const registry = new Registry();
  expect(() => new HistogramFamily(registry, "t_bad_seconds", "Bad.", [], [2, 1])).toThrow();
  expect(registry.getSingleMetric("t_bad_seconds")).toBeUndefined();
});
