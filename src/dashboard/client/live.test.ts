import { describe, expect, test } from "bun:test";
import { parseExposition } from "./exposition";
import { metricsBody, type Traffic } from "./fixtures";
import { statusClass, summarize } from "./live";
import { ScrapeWindow } from "./window";

const at0: Traffic = { ok: 10, refused: 2, upstreamFailed: 0, tokensIn: 100, tokensOut: 300, gatewayBuckets: [0, 5, 10, 12, 12] };
// 4 s later: 20 more served, 4 more refused, 2 upstream failures; all 26 new ones took 5–10 ms.
const at4: Traffic = { ok: 30, refused: 6, upstreamFailed: 2, tokensIn: 500, tokensOut: 1500, gatewayBuckets: [0, 31, 36, 38, 38] };

function windowOf(...scrapes: [number, Traffic][]): ScrapeWindow {
  const w = new ScrapeWindow(10_000);
  for (const [at, t] of scrapes) w.add(at, parseExposition(metricsBody(t)));
  return w;
}

describe("summarize", () => {
  test("nothing before the first scrape", () => {
    expect(summarize(new ScrapeWindow(10_000))).toBeUndefined();
  });

  test("after one scrape: totals and all-time percentiles, no rates", () => {
    const live = summarize(windowOf([0, at0]))!;
    expect(live.requestsTotal).toBe(12);
    expect(live.requestRate).toBeUndefined();
    expect(live.tokensIn).toBe(100);
    expect(live.tokensInRate).toBeUndefined();
    expect(live.gateway.p50).toBeCloseTo(0.01 + 0.04 * (1 / 5), 12); // rank 6 of 12: 1 of 5 into (0.01, 0.05]
  });

  test("after two: rates over the window and percentiles of the window's requests only", () => {
    const live = summarize(windowOf([0, at0], [4000, at4]))!;
    expect(live.requestsTotal).toBe(38);
    expect(live.requestRate).toBe(26 / 4);
    expect(live.tokensInRate).toBe(100);
    expect(live.tokensOutRate).toBe(300);
    // All 26 in (0.005, 0.01]: p50 is half way through it, p99 near its top.
    expect(live.gateway.p50).toBeCloseTo(0.0075, 12);
    expect(live.gateway.p99).toBeCloseTo(0.005 + 0.005 * 0.99, 12);
    expect(live.upstream.p50).toBeDefined();
  });

  test("breakdowns: status classes, refusals by stage and rule, WAF findings, upstream health", () => {
    const live = summarize(windowOf([0, at0], [4000, at4]))!;
    expect(live.statusClasses).toEqual([
      { key: "2xx", total: 30, rate: 5 },
      { key: "4xx", total: 6, rate: 1 },
      { key: "5xx", total: 2, rate: 0.5 },
    ]);
    expect(live.models).toEqual([{ key: "mock-gpt", total: 38, rate: 6.5 }]);
    expect(live.refusalsByStage).toEqual([
      { key: "auth", total: 6, rate: 1 },
      { key: "waf", total: 2, rate: 0 },
    ]);
    // An empty rule label (auth refusals) is not a rule.
    expect(live.refusalsByRule).toEqual([{ key: "injection.ignore_previous", total: 2, rate: 0 }]);
    expect(live.wafFindings).toEqual([{ key: "pii.email (redact)", total: 5, rate: 0 }]);
    expect(live.upstreams).toEqual([
      { name: "mock", callRate: 22 / 4, errors: 2, errorCodes: "upstream_error 2", retries: 1, cooling: ["mock-gpt-mini"], latency: { p50: expect.any(Number), p99: expect.any(Number) } },
      // Known only from the rotation gauge: no calls yet.
      { name: "spare", callRate: 0, errors: 0, errorCodes: "", retries: 0, cooling: [], latency: { p50: undefined, p99: undefined } },
    ]);
  });

  test("gauges: ledger records, checkpoint age, audit queue; undefined when the gateway does not expose them", () => {
    const live = summarize(windowOf([0, at4]))!;
    expect([live.ledgerRecords, live.checkpointAgeSeconds, live.auditQueueDepth]).toEqual([38, 1.25, 0]);
    const w = new ScrapeWindow(10_000);
    w.add(0, parseExposition("# TYPE warden_requests_total counter\n"));
    const bare = summarize(w)!;
    expect([bare.ledgerRecords, bare.checkpointAgeSeconds, bare.auditQueueDepth]).toEqual([undefined, undefined, undefined]);
    expect(bare.requestsTotal).toBe(0);
    expect(bare.gateway).toEqual({ p50: undefined, p99: undefined });
  });

  test("token directions are read whichever names the gateway uses", () => {
    const w = new ScrapeWindow(10_000);
    w.add(0, parseExposition('# TYPE warden_tokens_total counter\nwarden_tokens_total{direction="prompt"} 7\nwarden_tokens_total{direction="completion"} 9\n'));
    expect(summarize(w)).toMatchObject({ tokensIn: 7, tokensOut: 9 });
  });
});

test("statusClass", () => {
  expect(["200", "204", "429", "503", "error"].map(statusClass)).toEqual(["2xx", "2xx", "4xx", "5xx", "error"]);
});
