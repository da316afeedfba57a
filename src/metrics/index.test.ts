import { describe, expect, test } from "bun:test";
import { createMetrics } from "./index";

/** name{labels} → value, for the sample lines of an exposition. */
async function values(metrics: ReturnType<typeof createMetrics>): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const line of (await metrics.exposition()).split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const at = line.lastIndexOf(" ");
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}

const FAMILIES = [
  ["warden_requests_total", "counter"],
  ["warden_gateway_duration_seconds", "histogram"],
  ["warden_upstream_duration_seconds", "histogram"],
  ["warden_time_to_first_token_seconds", "histogram"],
  ["warden_inter_token_gap_seconds", "histogram"],
  ["warden_tokens_total", "counter"],
  ["warden_spend_usd_total", "counter"],
  ["warden_refusals_total", "counter"],
  ["warden_waf_findings_total", "counter"],
  ["warden_upstream_errors_total", "counter"],
  ["warden_audit_queue_depth", "gauge"],
  ["warden_audit_records_lost_total", "counter"],
  ["warden_ledger_records", "gauge"],
  ["warden_ledger_checkpoint_age_seconds", "gauge"],
  ["warden_wal_fsync_seconds", "histogram"],
  ["warden_rate_limit_store_up", "gauge"],
  ["warden_build_info", "gauge"],
  ["warden_process_cpu_seconds_total", "counter"],
  ["warden_process_resident_memory_bytes", "gauge"],
  ["warden_process_open_fds", "gauge"],
  ["warden_nodejs_heap_size_total_bytes", "gauge"],
] as const;

describe("the registry", () => {
  test("every family is declared with its type, all names prefixed warden_", async () => {
    const text = await createMetrics().exposition();
    for (const [name, type] of FAMILIES) expect(text).toContain(`# TYPE ${name} ${type}\n`);
    for (const m of text.matchAll(/^# TYPE (\S+)/gm)) expect(m[1]).toStartWith("warden_");
  });

  test("process metrics that misbehave under Bun are left out", async () => {
    const text = await createMetrics().exposition();
    for (const name of ["process_heap_bytes", "heap_size_used", "eventloop_lag", "active_handles", "active_requests", "active_resources", "heap_space", "gc_duration", "nodejs_version_info"]) {
      expect(text).not.toContain(name);
    }
    const v = await values(createMetrics());
    expect(v.get("warden_process_resident_memory_bytes")!).toBeGreaterThan(1 << 20);
    expect(v.get("warden_process_open_fds")!).toBeGreaterThan(0);
    expect(v.get(`warden_build_info{version="${(await import("../version")).WARDEN_VERSION}",bun="${Bun.version}"}`)).toBe(1);
  });

  test("each gateway has its own registry", async () => {
    const a = createMetrics();
    const b = createMetrics();
    a.refused("auth", "missing_api_key", "");
    expect((await values(a)).get('warden_refusals_total{stage="auth",code="missing_api_key",rule=""}')).toBe(1);
    expect((await values(b)).has('warden_refusals_total{stage="auth",code="missing_api_key",rule=""}')).toBe(false);
  });
});

describe("request-path helpers", () => {
  test("finished, refused, wafFinding, upstreamError, upstreamCall, usage", async () => {
    const m = createMetrics();
    m.finished("/v1/chat/completions", "gpt-4o", 200, 0.0002);
    m.finished("/v1/chat/completions", "gpt-4o", 200, 0.0004);
    m.finished("/v1/embeddings", "", 401, 0.00005);
    m.refused("waf", "content_policy_violation", "injection.ignore_previous");
    m.wafFinding("pii.email", "flag");
    m.wafFinding("pii.email", "flag");
    m.upstreamError("openai", "upstream_timeout");
    m.upstreamCall("openai", 1.5);
    m.usage("gpt-4o", "acme", { prompt: 9, completion: 16 });
    m.usage("gpt-4o", "acme", { prompt: 1, completion: 0 });
    const v = await values(m);
    expect(v.get('warden_requests_total{route="/v1/chat/completions",model="gpt-4o",status="200"}')).toBe(2);
    expect(v.get('warden_requests_total{route="/v1/embeddings",model="",status="401"}')).toBe(1);
    expect(v.get('warden_gateway_duration_seconds_count{route="/v1/chat/completions"}')).toBe(2);
    expect(v.get('warden_gateway_duration_seconds_sum{route="/v1/chat/completions"}')).toBeCloseTo(0.0006, 9);
    expect(v.get('warden_gateway_duration_seconds_bucket{le="0.00025",route="/v1/chat/completions"}')).toBe(1);
    expect(v.get('warden_refusals_total{stage="waf",code="content_policy_violation",rule="injection.ignore_previous"}')).toBe(1);
    expect(v.get('warden_waf_findings_total{rule="pii.email",action="flag"}')).toBe(2);
    expect(v.get('warden_upstream_errors_total{upstream="openai",code="upstream_timeout"}')).toBe(1);
    expect(v.get('warden_upstream_duration_seconds_bucket{le="1",upstream="openai"}')).toBe(0);
    expect(v.get('warden_upstream_duration_seconds_bucket{le="2.5",upstream="openai"}')).toBe(1);
    expect(v.get('warden_tokens_total{direction="prompt",model="gpt-4o",tenant="acme"}')).toBe(10);
    expect(v.get('warden_tokens_total{direction="completion",model="gpt-4o",tenant="acme"}')).toBe(16);
  });

  test("a model's stream cells are the same objects every time, and feed the TTFT and gap histograms", async () => {
    const m = createMetrics();
    const cells = m.streamCells("gpt-4o");
    expect(m.streamCells("gpt-4o")).toBe(cells);
    expect(m.streamCells("other")).not.toBe(cells);
    cells.firstToken.observe(0.2);
    cells.tokenGap.observe(0.02);
    cells.tokenGap.observe(0.03);
    const v = await values(m);
    expect(v.get('warden_time_to_first_token_seconds_count{model="gpt-4o"}')).toBe(1);
    expect(v.get('warden_inter_token_gap_seconds_count{model="gpt-4o"}')).toBe(2);
    expect(v.get('warden_inter_token_gap_seconds_bucket{le="0.025",model="gpt-4o"}')).toBe(1);
  });
});

describe("state read at scrape time", () => {
  test("audit gauges and lost records from the worker's status", async () => {
    const m = createMetrics();
    let status = { queued: 3, size: 120, appendErrors: 0, checkpointTimeMs: Date.now() - 7000 as number | null };
    m.watchAudit({ status: () => status });
    let v = await values(m);
    expect(v.get("warden_audit_queue_depth")).toBe(3);
    expect(v.get("warden_ledger_records")).toBe(120);
    expect(v.get("warden_audit_records_lost_total")).toBe(0);
    expect(v.get("warden_ledger_checkpoint_age_seconds")!).toBeGreaterThanOrEqual(7);
    expect(v.get("warden_ledger_checkpoint_age_seconds")!).toBeLessThan(9);
    status = { queued: 0, size: 130, appendErrors: 5, checkpointTimeMs: null };
    v = await values(m);
    expect(v.get("warden_audit_records_lost_total")).toBe(5);
    expect(v.get("warden_ledger_checkpoint_age_seconds")).toBe(0);
    expect(v.get("warden_audit_queue_depth")).toBe(0);
  });

  test("WAL fsync durations arrive in batches", async () => {
    const m = createMetrics();
    m.walFsyncs([0.0002, 0.004]);
    m.walFsyncs([0.3]);
    const v = await values(m);
    expect(v.get("warden_wal_fsync_seconds_count")).toBe(3);
    expect(v.get('warden_wal_fsync_seconds_bucket{le="0.00025"}')).toBe(1);
    expect(v.get('warden_wal_fsync_seconds_bucket{le="0.005"}')).toBe(2);
    expect(v.get("warden_wal_fsync_seconds_sum")).toBeCloseTo(0.3042, 9);
  });

  test("rate-limit store up: 1 without a shared store, then whatever the store says", async () => {
    const m = createMetrics();
    expect((await values(m)).get("warden_rate_limit_store_up")).toBe(1);
    let up = false;
    m.watchRateLimitStore(async () => up);
    expect((await values(m)).get("warden_rate_limit_store_up")).toBe(0);
    up = true;
    expect((await values(m)).get("warden_rate_limit_store_up")).toBe(1);
  });
});
