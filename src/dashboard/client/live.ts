/**
 * The dashboard's live numbers, computed from the window of /metrics scrapes: plain data for
 * the page to render, so the arithmetic is tested without a browser.
 *
 * Rates and latency quantiles cover the window (the last ~10 s); totals are since the gateway
 * started. Metric names are the gateway's (src/metrics): see METRICS below.
 *
 * @example
 * const live = summarize(window);
 * live.requestRate; // req/s over the window, undefined until the second scrape
 */
import { total, totalsBy, type Exposition } from "./exposition";
import { bucketsBy, bucketsOf, increase, quantile, type Bucket } from "./histogram";
import { counterIncrease, type ScrapeWindow } from "./window";
import { fmtCount } from "./format";

export const METRICS = {
  requests: "warden_requests_total",
  gatewayDuration: "warden_gateway_duration_seconds",
  upstreamDuration: "warden_upstream_duration_seconds",
  timeToFirstToken: "warden_time_to_first_token_seconds",
  interTokenGap: "warden_inter_token_gap_seconds",
  tokens: "warden_tokens_total",
  refusals: "warden_refusals_total",
  wafFindings: "warden_waf_findings_total",
  upstreamErrors: "warden_upstream_errors_total",
  upstreamRetries: "warden_upstream_retries_total",
  upstreamAvailable: "warden_upstream_available",
  ledgerRecords: "warden_ledger_records",
  checkpointAge: "warden_ledger_checkpoint_age_seconds",
  auditQueue: "warden_audit_queue_depth",
} as const;

/** `direction` label values of warden_tokens_total, read either way round. */
const TOKENS_IN = new Set(["in", "input", "prompt"]);
const TOKENS_OUT = new Set(["out", "output", "completion"]);

export interface Percentiles {
  p50?: number;
  p99?: number;
}

/** One row of a breakdown table: a total since start and a rate over the window. */
export interface Row {
  key: string;
  total: number;
  rate?: number;
}

export interface UpstreamRow {
  name: string;
  /** Upstream calls per second (the latency histogram's count). */
  callRate?: number;
  errors: number;
  /** e.g. "timeout 3, 502 1" */
  errorCodes: string;
  /** Failed attempts the router tried again. */
  retries: number;
  /** The models it is cooling down for (out of their rotation); empty: in rotation for all. */
  cooling: string[];
  latency: Percentiles;
}

export interface LiveNumbers {
  requestsTotal: number;
  requestRate?: number;
  gateway: Percentiles;
  upstream: Percentiles;
  timeToFirstToken: Percentiles;
  interTokenGap: Percentiles;
  tokensIn: number;
  tokensOut: number;
  tokensInRate?: number;
  tokensOutRate?: number;
  statusClasses: Row[];
  models: Row[];
  upstreams: UpstreamRow[];
  refusalsByStage: Row[];
  refusalsByRule: Row[];
  wafFindings: Row[];
  ledgerRecords?: number;
  checkpointAgeSeconds?: number;
  auditQueueDepth?: number;
}

export function summarize(w: ScrapeWindow): LiveNumbers | undefined {
  const now = w.latest?.metrics;
  if (now === undefined) return undefined;
  const then = w.baseline?.metrics;
  const rate = (read: (m: Exposition) => number) => w.rate(read);
  const sumBy = (family: string, classify: (value: string) => string | undefined, label: string) => (m: Exposition) => {
    const out = new Map<string, number>();
    for (const [value, n] of totalsBy(m, family, label)) {
      const key = classify(value);
      if (key !== undefined) out.set(key, (out.get(key) ?? 0) + n);
    }
    return out;
  };

  const tokens = (dir: Set<string>) => (m: Exposition) => sumOf(totalsBy(m, METRICS.tokens, "direction"), (d) => dir.has(d.toLowerCase()));
  const upstreamLatency = bucketsBy(now, METRICS.upstreamDuration, "upstream");
  const upstreamLatencyBefore = then && bucketsBy(then, METRICS.upstreamDuration, "upstream");
  const errorsByUpstream = new Map<string, Map<string, number>>();
  for (const s of now.get(METRICS.upstreamErrors)?.samples ?? []) {
    const name = s.labels.upstream ?? "";
    const codes = errorsByUpstream.get(name) ?? new Map<string, number>();
    codes.set(s.labels.code ?? "", (codes.get(s.labels.code ?? "") ?? 0) + s.value);
    errorsByUpstream.set(name, codes);
  }
  const cooling = new Map<string, string[]>();
  for (const s of now.get(METRICS.upstreamAvailable)?.samples ?? []) {
    const list = cooling.get(s.labels.upstream ?? "") ?? [];
    if (s.value === 0) list.push(s.labels.model ?? "");
    cooling.set(s.labels.upstream ?? "", list);
  }
  const retries = totalsBy(now, METRICS.upstreamRetries, "upstream");
  const upstreamNames = [...new Set([...upstreamLatency.keys(), ...errorsByUpstream.keys(), ...cooling.keys()])].sort();

  return {
    requestsTotal: total(now, METRICS.requests),
    requestRate: rate((m) => total(m, METRICS.requests)),
    gateway: windowed(bucketsOf(now, METRICS.gatewayDuration), then && bucketsOf(then, METRICS.gatewayDuration)),
    upstream: windowed(bucketsOf(now, METRICS.upstreamDuration), then && bucketsOf(then, METRICS.upstreamDuration)),
    timeToFirstToken: windowed(bucketsOf(now, METRICS.timeToFirstToken), then && bucketsOf(then, METRICS.timeToFirstToken)),
    interTokenGap: windowed(bucketsOf(now, METRICS.interTokenGap), then && bucketsOf(then, METRICS.interTokenGap)),
    tokensIn: tokens(TOKENS_IN)(now),
    tokensOut: tokens(TOKENS_OUT)(now),
    tokensInRate: rate(tokens(TOKENS_IN)),
    tokensOutRate: rate(tokens(TOKENS_OUT)),
    statusClasses: rows(w, sumBy(METRICS.requests, statusClass, "status")),
    models: rows(w, sumBy(METRICS.requests, (v) => v, "model")),
    upstreams: upstreamNames.map((name) => {
      const codes = errorsByUpstream.get(name) ?? new Map<string, number>();
      const calls = (m: Exposition) => upstreamCount(m, name);
      return {
        name,
        callRate: rate(calls),
        errors: sumOf(codes),
        errorCodes: [...codes].filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1]).map(([code, n]) => `${code} ${fmtCount(n)}`).join(", "),
        retries: retries.get(name) ?? 0,
        cooling: (cooling.get(name) ?? []).sort(),
        latency: windowed(upstreamLatency.get(name) ?? [], upstreamLatencyBefore?.get(name)),
      };
    }),
    refusalsByStage: rows(w, sumBy(METRICS.refusals, (v) => v, "stage")),
    refusalsByRule: rows(w, sumBy(METRICS.refusals, (v) => (v === "" ? undefined : v), "rule")),
    wafFindings: rows(w, (m) => {
      const out = new Map<string, number>();
      for (const s of m.get(METRICS.wafFindings)?.samples ?? []) {
        const key = `${s.labels.rule ?? ""} (${s.labels.action ?? ""})`;
        out.set(key, (out.get(key) ?? 0) + s.value);
      }
      return out;
    }),
    ledgerRecords: gauge(now, METRICS.ledgerRecords),
    checkpointAgeSeconds: gauge(now, METRICS.checkpointAge),
    auditQueueDepth: gauge(now, METRICS.auditQueue),
  };
}

/** "2xx" for "200"; non-numeric statuses (e.g. "error") as they are. */
export function statusClass(status: string): string {
  return /^[1-5]\d\d$/.test(status) ? `${status[0]}xx` : status;
}

/** p50 and p99 of what the histogram observed in the window (all of it before a second scrape). */
function windowed(now: Bucket[], before: Bucket[] | undefined): Percentiles {
  const b = increase(now, before);
  return { p50: quantile(0.5, b), p99: quantile(0.99, b) };
}

/** Breakdown rows, largest total first; rate from the same breakdown at the window's start. */
function rows(w: ScrapeWindow, breakdown: (m: Exposition) => Map<string, number>): Row[] {
  const now = breakdown(w.latest!.metrics);
  const before = w.baseline && breakdown(w.baseline.metrics);
  const seconds = w.baseline ? (w.latest!.at - w.baseline.at) / 1000 : 0;
  return [...now]
    .map(([key, n]) => ({ key, total: n, rate: before && seconds > 0 ? counterIncrease(n, before.get(key) ?? 0) / seconds : undefined }))
    .sort((a, b) => b.total - a.total || a.key.localeCompare(b.key));
}

function upstreamCount(m: Exposition, upstream: string): number {
  let n = 0;
  for (const s of m.get(METRICS.upstreamDuration)?.samples ?? []) {
    if (s.name === `${METRICS.upstreamDuration}_count` && s.labels.upstream === upstream) n += s.value;
  }
  return n;
}

function gauge(m: Exposition, family: string): number | undefined {
  return m.get(family)?.samples.length ? total(m, family) : undefined;
}

function sumOf(values: Map<string, number>, keep: (key: string) => boolean = () => true): number {
  let n = 0;
  for (const [k, v] of values) if (keep(k)) n += v;
  return n;
}
