/**
 * Warden's Prometheus metrics: one prom-client Registry of our own (never the global one), all
 * names prefixed `warden_`, base units (`_seconds`, `_bytes`), counters ending in `_total`.
 * GET /metrics serves it (./endpoint.ts).
 *
 * Request-path families are cells (./families.ts): a counter increment is a Map walk and an
 * addition, a stream's histograms are held by the stream and cost one comparison loop per chunk.
 * Ledger and process state is read when scraped, never pushed from the request path.
 *
 * Families and labels (a dashboard reads these names; keep them stable):
 *   warden_requests_total{route,model,status}            forwarded routes, status as sent
 *   warden_gateway_duration_seconds{route}               Warden's own time: total minus upstream
 *   warden_upstream_duration_seconds{upstream}           sending upstream → the reply's end
 *   warden_time_to_first_token_seconds{model}            arrival → first upstream SSE chunk
 *   warden_inter_token_gap_seconds{model}                between successive upstream SSE chunks
 *   warden_tokens_total{direction,model,tenant}          from the reply's usage
 *   warden_spend_usd_total{tenant}                       the reply's usage at WARDEN_PRICES (src/budget)
 *   warden_refusals_total{stage,code,rule}               every refusal by a Warden stage
 *   warden_waf_findings_total{rule,action}               blocks, redactions and flags
 *   warden_upstream_errors_total{upstream,code}          gateway-side failures and mapped upstream errors
 *   warden_upstream_retries_total{upstream,code}         failed attempts that were tried again (src/router)
 *   warden_fallbacks_total{from,to,reason}               requests moved to a fallback model
 *   warden_upstream_cooldowns_total{upstream,model}      deployments taken out of rotation
 *   warden_upstream_available{upstream,model}            1 in rotation, 0 cooling down (at scrape time)
 *   warden_upstream_in_flight{upstream,model}            requests in flight per deployment (at scrape time)
 *   warden_audit_queue_depth, warden_audit_records_lost_total, warden_ledger_records,
 *   warden_ledger_checkpoint_age_seconds, warden_wal_fsync_seconds, warden_rate_limit_store_up,
 *   warden_build_info{version,bun}, and process metrics (./process.ts).
 *
 * @example
 * const metrics = createMetrics();
 * metrics.finished("/v1/chat/completions", "gpt-4o", 200, 0.0004);
 * const text = await metrics.exposition();
 */
import { Counter, Gauge, Registry } from "prom-client";
import { CounterFamily, HistogramFamily, type HistogramCell } from "./families";
import { registerProcessMetrics } from "./process";
import type { Usage } from "./usage";
import { WARDEN_VERSION } from "../version";

export { modelLabeler, NO_MODEL, OTHER_MODEL } from "./labels";
export { tailUsage, type Usage } from "./usage";
export { metricsEndpoint, type MetricsAccess } from "./endpoint";

/** Warden's own work per request: tens of µs normally, milliseconds when something is wrong. */
export const GATEWAY_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];
/** A model call: an embedding in milliseconds, a long generation in minutes. */
export const UPSTREAM_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];
export const TTFT_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
/** Token gaps sit around 10-50 ms; sub-millisecond ones are chunks that arrived bunched. */
export const GAP_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
export const FSYNC_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

/** The router's deployments (src/router), read at scrape time. */
export interface DeploymentGauges {
  deployments: { target: { upstream: { name: string } }; health: { coolUntil: number; inflight: number } }[];
}

/** What the audit worker's handle (src/audit) reports, read at scrape time. */
export interface AuditGauges {
  status(): { queued: number; size: number; appendErrors: number; checkpointTimeMs: number | null };
}

/** A stream's two histograms for its model, held by the stream for its whole life. */
export interface StreamCells {
  firstToken: HistogramCell;
  tokenGap: HistogramCell;
}

export type Metrics = ReturnType<typeof createMetrics>;

/**
 * A fresh registry with every family. Each gateway (and each test) gets its own.
 *
 * @example
 * const metrics = createMetrics();
 * metrics.watchAudit(auditWorker);
 * metrics.watchRateLimitStore(() => true);
 */
export function createMetrics() {
  const registry = new Registry();

  const requests = new CounterFamily(registry, "warden_requests_total", "Requests to the forwarded routes, by route, model (configured name, \"other\", or \"\" when unread) and the HTTP status sent.", ["route", "model", "status"]);
  const gatewayDuration = new HistogramFamily(registry, "warden_gateway_duration_seconds", "Warden's own time per forwarded request: the whole request minus the upstream call.", ["route"], GATEWAY_BUCKETS);
  const upstreamDuration = new HistogramFamily(registry, "warden_upstream_duration_seconds", "Upstream calls, from sending the request to the end of the reply (streams included).", ["upstream"], UPSTREAM_BUCKETS);
  const timeToFirstToken = new HistogramFamily(registry, "warden_time_to_first_token_seconds", "Streams: from the request's arrival to the first SSE chunk from the upstream.", ["model"], TTFT_BUCKETS);
  const interTokenGap = new HistogramFamily(registry, "warden_inter_token_gap_seconds", "Streams: time between successive SSE chunks from the upstream, as forwarded.", ["model"], GAP_BUCKETS);
  const tokens = new CounterFamily(registry, "warden_tokens_total", "Tokens from the replies' usage, by direction (prompt, completion), model and tenant (\"\" for the master key or without auth).", ["direction", "model", "tenant"]);
  const spend = new CounterFamily(registry, "warden_spend_usd_total", "US dollars charged to virtual keys' budgets (usage at WARDEN_PRICES, rounded up to the micro-dollar per request), by tenant.", ["tenant"]);
  const refusals = new CounterFamily(registry, "warden_refusals_total", "Requests refused by a Warden stage (guard, auth, waf, ratelimit, adapter, forwarder, audit), by error code; rule is the WAF rule of a block.", ["stage", "code", "rule"]);
  const wafFindings = new CounterFamily(registry, "warden_waf_findings_total", "WAF rule matches, by rule and the action taken (block, redact, flag).", ["rule", "action"]);
  const upstreamErrors = new CounterFamily(registry, "warden_upstream_errors_total", "Failed upstream calls, by upstream and error code: unreachable, timed out, cut mid-stream, or an upstream error status.", ["upstream", "code"]);

  let audit: AuditGauges | undefined;
  new Gauge({
    name: "warden_audit_queue_depth",
    help: "Audit records handed off by the request path and not yet processed by the audit worker.",
    registers: [registry],
    collect() {
      this.set(audit?.status().queued ?? 0);
    },
  });
  new Counter({
    name: "warden_audit_records_lost_total",
    help: "Audit records that could not be made durable (async mode keeps serving; strict mode refused the reply).",
    registers: [registry],
    collect() {
      this.reset();
      this.inc(audit?.status().appendErrors ?? 0);
    },
  });
  new Gauge({
    name: "warden_ledger_records",
    help: "Records in the audit ledger (the Merkle tree's size).",
    registers: [registry],
    collect() {
      this.set(audit?.status().size ?? 0);
    },
  });
  new Gauge({
    name: "warden_ledger_checkpoint_age_seconds",
    help: "Seconds since the latest signed checkpoint of the ledger (0 before the first one).",
    registers: [registry],
    collect() {
      const at = audit?.status().checkpointTimeMs ?? null;
      this.set(at === null ? 0 : Math.max(0, (Date.now() - at) / 1000));
    },
  });
  const walFsync = new HistogramFamily(registry, "warden_wal_fsync_seconds", "fsync of the audit WAL, one per appended batch (group commit), timed in the audit worker.", [], FSYNC_BUCKETS);

  const retries = new CounterFamily(registry, "warden_upstream_retries_total", "Upstream attempts that failed before the reply began and were tried again, on the same or another deployment.", ["upstream", "code"]);
  const fallbacks = new CounterFamily(registry, "warden_fallbacks_total", "Requests moved to a fallback model: every deployment of `from` failed (reason error) or it said the prompt was too long (reason context_window).", ["from", "to", "reason"]);
  const cooldowns = new CounterFamily(registry, "warden_upstream_cooldowns_total", "Times a deployment (one model on one upstream) was taken out of rotation after failures or a Retry-After.", ["upstream", "model"]);
  let routes: (() => ReadonlyMap<string, DeploymentGauges>) | undefined;
  const eachDeployment = (f: (upstream: string, model: string, h: { coolUntil: number; inflight: number }) => void) => {
    for (const [model, route] of routes?.() ?? []) for (const d of route.deployments) f(d.target.upstream.name, model, d.health);
  };
  new Gauge({
    name: "warden_upstream_available",
    help: "1 when the deployment (one model on one upstream) is in rotation, 0 while it cools down after failures.",
    labelNames: ["upstream", "model"],
    registers: [registry],
    collect() {
      this.reset();
      const now = performance.now();
      eachDeployment((upstream, model, h) => this.set({ upstream, model }, now >= h.coolUntil ? 1 : 0));
    },
  });
  new Gauge({
    name: "warden_upstream_in_flight",
    help: "Requests sent to the deployment and not yet over (streams count until they end).",
    labelNames: ["upstream", "model"],
    registers: [registry],
    collect() {
      this.reset();
      eachDeployment((upstream, model, h) => this.set({ upstream, model }, h.inflight));
    },
  });

  let storeUp: (() => boolean | Promise<boolean>) | undefined;
  new Gauge({
    name: "warden_rate_limit_store_up",
    help: "1 when the rate-limit store answers (always for the in-memory store), 0 when the shared store cannot be reached.",
    registers: [registry],
    async collect() {
      this.set(storeUp === undefined || (await storeUp()) ? 1 : 0);
    },
  });
  new Gauge({ name: "warden_build_info", help: "Warden's version and the Bun runtime it runs on; always 1.", labelNames: ["version", "bun"], registers: [registry] }).set(
    { version: WARDEN_VERSION, bun: Bun.version },
    1,
  );
  registerProcessMetrics(registry);

  const streams = new Map<string, StreamCells>();

  return {
    registry,
    requests,
    gatewayDuration,
    upstreamDuration,
    timeToFirstToken,
    interTokenGap,
    tokens,
    spend,
    refusals,
    wafFindings,
    upstreamErrors,
    retries,
    fallbacks,
    cooldowns,
    walFsync,

    /** A forwarded request is over (reply sent, stream ended, or refused). */
    finished(route: string, model: string, status: number, gatewaySeconds: number): void {
      requests.at(route, model, status).inc();
      gatewayDuration.at(route).observe(gatewaySeconds);
    },
    refused(stage: string, code: string, rule: string): void {
      refusals.at(stage, code, rule).inc();
    },
    wafFinding(rule: string, action: string): void {
      wafFindings.at(rule, action).inc();
    },
    upstreamError(upstream: string, code: string): void {
      upstreamErrors.at(upstream, code).inc();
    },
    /** An attempt failed with `code` before its reply began, and the router tries again. */
    retried(upstream: string, code: string): void {
      upstreamErrors.at(upstream, code).inc();
      retries.at(upstream, code).inc();
    },
    fellBack(from: string, to: string, reason: string): void {
      fallbacks.at(from, to, reason).inc();
    },
    cooledDown(upstream: string, model: string): void {
      cooldowns.at(upstream, model).inc();
    },
    /** Where the deployment gauges come from; asked at scrape time. */
    watchRoutes(source: () => ReadonlyMap<string, DeploymentGauges>): void {
      routes = source;
    },
    /** An upstream call, from sending the request to the end (or failure) of the reply. */
    upstreamCall(upstream: string, seconds: number): void {
      upstreamDuration.at(upstream).observe(seconds);
    },
    /** What a reply's usage says it cost; tenant "" for the master key and anonymous callers. */
    usage(model: string, tenant: string, usage: Usage): void {
      tokens.at("prompt", model, tenant).inc(usage.prompt);
      tokens.at("completion", model, tenant).inc(usage.completion);
    },
    /** A request's cost charged to a tenant's keys, in micro-dollars. */
    spent(tenant: string, micros: number): void {
      spend.at(tenant).inc(micros / 1_000_000);
    },
    /** The TTFT and gap histograms of a model label, for a stream to observe into. */
    streamCells(model: string): StreamCells {
      let cells = streams.get(model);
      if (cells === undefined) streams.set(model, (cells = { firstToken: timeToFirstToken.at(model), tokenGap: interTokenGap.at(model) }));
      return cells;
    },
    /** fsync durations the audit worker measured, shipped in its status messages. */
    walFsyncs(seconds: readonly number[]): void {
      const cell = walFsync.at();
      for (const s of seconds) cell.observe(s);
    },
    watchAudit(source: AuditGauges): void {
      audit = source;
    },
    /** How to tell whether the rate-limit store is reachable; asked at scrape time. */
    watchRateLimitStore(up: () => boolean | Promise<boolean>): void {
      storeUp = up;
    },
    contentType: registry.contentType,
    exposition: (): Promise<string> => registry.metrics(),
  };
}
