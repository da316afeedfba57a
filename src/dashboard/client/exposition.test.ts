import { describe, expect, test } from "bun:test";
import { matches, parseExposition, total, totalsBy } from "./exposition";
import { metricsBody } from "./fixtures";

const body = metricsBody({ ok: 10, refused: 3, upstreamFailed: 1, tokensIn: 100, tokensOut: 400, gatewayBuckets: [1, 4, 9, 13, 14] });

describe("parseExposition", () => {
  test("reads HELP, TYPE and labelled counter samples", () => {
    const m = parseExposition(body);
    const requests = m.get("warden_requests_total")!;
    expect(requests.type).toBe("counter");
    expect(requests.help).toBe("Requests answered, by route, model and status.");
    expect(requests.samples).toHaveLength(3);
    expect(requests.samples[1]).toEqual({
      name: "warden_requests_total",
      labels: { route: "/v1/chat/completions", model: "mock-gpt", status: "401" },
      value: 3,
    });
  });

  test("files a histogram's _bucket, _sum and _count samples under the family TYPE declared", () => {
    const m = parseExposition(body);
    const h = m.get("warden_gateway_duration_seconds")!;
    expect(h.type).toBe("histogram");
    expect(h.samples.map((s) => s.name)).toEqual([
      ...Array(5).fill("warden_gateway_duration_seconds_bucket"),
      "warden_gateway_duration_seconds_sum",
      "warden_gateway_duration_seconds_count",
    ]);
    expect(h.samples[4]!.labels).toEqual({ le: "+Inf", route: "/v1/chat/completions" });
    expect(m.has("warden_gateway_duration_seconds_bucket")).toBe(false);
  });

  test("a summary's parts, and a _count with no declared family, go where they belong", () => {
    const m = parseExposition("# TYPE rpc summary\nrpc{quantile=\"0.5\"} 2\nrpc_sum 10\nrpc_count 5\nlonely_count 7\n");
    expect(m.get("rpc")!.samples.map((s) => s.name)).toEqual(["rpc", "rpc_sum", "rpc_count"]);
    expect(m.get("lonely_count")).toMatchObject({ type: "untyped", samples: [{ value: 7 }] });
  });

  test("unescapes label values and HELP text; quotes, commas and braces inside values are data", () => {
    const m = parseExposition(
      [
        "# HELP x A \\\\ backslash\\nand a newline",
        "# TYPE x counter",
        'x{a="back\\\\slash",b="say \\"hi\\"",c="two\\nlines",d="{,}"} 1',
      ].join("\n"),
    );
    expect(m.get("x")!.help).toBe("A \\ backslash\nand a newline");
    expect(m.get("x")!.samples[0]!.labels).toEqual({ a: "back\\slash", b: 'say "hi"', c: "two\nlines", d: "{,}" });
  });

  test("values: floats, exponents, NaN, ±Inf; timestamps, spaces, a trailing comma, CRLF and comments", () => {
    const m = parseExposition(
      [
        "# a free comment",
        "a 1.5e3 1700000000000",
        "b{} NaN",
        "c +Inf",
        "d -Inf\r",
        'e { x = "1" , } -0.25',
        "f .5",
        "",
      ].join("\n"),
    );
    const v = (name: string) => m.get(name)!.samples[0]!.value;
    expect(v("a")).toBe(1500);
    expect(v("b")).toBeNaN();
    expect(v("c")).toBe(Infinity);
    expect(v("d")).toBe(-Infinity);
    expect(v("e")).toBe(-0.25);
    expect(m.get("e")!.samples[0]!.labels).toEqual({ x: "1" });
    expect(v("f")).toBe(0.5);
    expect(m.get("a")!.type).toBe("untyped");
  });

  test.each([
    ["a value missing", "x{a=\"1\"}"],
    ["an unterminated label value", 'x{a="1} 2'],
    ["an unquoted label value", "x{a=1} 2"],
    ["a hexadecimal value", "x 0x10"],
    ["an empty label name", 'x{="1"} 2'],
    ["a bad timestamp", "x 1 soon"],
    ["junk after the value", "x 1 2 3"],
    ["an unknown type", "# TYPE x gauges"],
    ["no metric name", "{a=\"1\"} 2"],
  ])("throws on %s, naming the line", (_, line) => {
    expect(() => parseExposition(`ok 1\n${line}\n`)).toThrow(/^metrics line 2: /);
  });

  test("an empty body has no families", () => {
    expect(parseExposition("").size).toBe(0);
  });
});

describe("total, totalsBy, matches", () => {
  const m = parseExposition(body);

  test("total sums a counter's samples, optionally those matching labels; 0 for an absent family", () => {
    expect(total(m, "warden_requests_total")).toBe(14);
    expect(total(m, "warden_requests_total", { status: "200" })).toBe(10);
    expect(total(m, "warden_not_there_total")).toBe(0);
    // A histogram's family total counts no bucket, sum or count samples.
    expect(total(m, "warden_gateway_duration_seconds")).toBe(0);
  });

  test("totalsBy sums by one label's value", () => {
    expect(totalsBy(m, "warden_refusals_total", "stage")).toEqual(new Map([["auth", 3], ["waf", 2]]));
    expect(totalsBy(m, "warden_tokens_total", "direction", { tenant: "acme" })).toEqual(new Map([["in", 100], ["out", 400]]));
  });

  test("matches needs every given label to be equal", () => {
    const s = { name: "x", labels: { a: "1", b: "2" }, value: 1 };
    expect(matches(s, { a: "1" })).toBe(true);
    expect(matches(s, { a: "1", b: "3" })).toBe(false);
    expect(matches(s, { c: "" })).toBe(false);
  });
});
