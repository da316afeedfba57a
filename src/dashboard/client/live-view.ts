/// <reference lib="dom" />
/**
 * Puts the live numbers and the latest checkpoint on the page (see live.ts for the arithmetic).
 *
 * @example
 * renderLive(summarize(scrapes)!);
 * renderCheckpoint(parseCheckpointNote(note));
 */
import { toHex } from "./bytes";
import type { CheckpointNote } from "./checkpoint";
import { byId, renderTable, setText, sparkline, type Column } from "./dom";
import { fmtAge, fmtCount, fmtRate, fmtSeconds, NONE } from "./format";
import type { LiveNumbers, Row, UpstreamRow } from "./live";

/** How many req/s points the sparkline shows (at ~2 s per scrape, the last two minutes). */
const SPARK_POINTS = 60;
const history: number[] = [];

const ROW_COLUMNS = (name: string): Column<Row>[] => [
  { title: name, cell: (r) => r.key || "(none)" },
  { title: "total", cell: (r) => fmtCount(r.total), numeric: true },
  { title: "per s", cell: (r) => fmtRate(r.rate), numeric: true },
];

const UPSTREAM_COLUMNS: Column<UpstreamRow>[] = [
  { title: "upstream", cell: (u) => u.name || "(none)" },
  { title: "calls/s", cell: (u) => fmtRate(u.callRate), numeric: true },
  { title: "p50", cell: (u) => fmtSeconds(u.latency.p50), numeric: true },
  { title: "p99", cell: (u) => fmtSeconds(u.latency.p99), numeric: true },
  { title: "errors", cell: (u) => fmtCount(u.errors), numeric: true },
  { title: "by code", cell: (u) => u.errorCodes || "none" },
  { title: "retried", cell: (u) => fmtCount(u.retries), numeric: true },
  { title: "rotation", cell: (u) => (u.cooling.length === 0 ? "in" : `cooling: ${u.cooling.join(", ")}`) },
];

export function renderLive(live: LiveNumbers): void {
  setText("req-rate", fmtRate(live.requestRate));
  setText("req-total", fmtCount(live.requestsTotal));
  if (live.requestRate !== undefined) {
    history.push(live.requestRate);
    if (history.length > SPARK_POINTS) history.shift();
    sparkline("req-spark", history);
  }
  setText("gw-p50", fmtSeconds(live.gateway.p50));
  setText("gw-p99", fmtSeconds(live.gateway.p99));
  setText("up-p50", fmtSeconds(live.upstream.p50));
  setText("up-p99", fmtSeconds(live.upstream.p99));
  setText("ttft-p50", fmtSeconds(live.timeToFirstToken.p50));
  setText("ttft-p99", fmtSeconds(live.timeToFirstToken.p99));
  setText("gap-p99", fmtSeconds(live.interTokenGap.p99));
  setText("tok-in-rate", fmtRate(live.tokensInRate));
  setText("tok-out-rate", fmtRate(live.tokensOutRate));
  setText("tok-in", fmtCount(live.tokensIn));
  setText("tok-out", fmtCount(live.tokensOut));
  setText("ledger-records", fmtCount(live.ledgerRecords));
  setText("checkpoint-age", fmtAge(live.checkpointAgeSeconds));
  setText("cp-age", fmtAge(live.checkpointAgeSeconds));
  setText("audit-queue", fmtCount(live.auditQueueDepth));

  renderTable("status-table", ROW_COLUMNS("status"), live.statusClasses, "no requests yet");
  renderTable("model-table", ROW_COLUMNS("model"), live.models, "no requests yet");
  renderTable("upstream-table", UPSTREAM_COLUMNS, live.upstreams, "no upstream calls yet");
  renderTable("refusal-table", ROW_COLUMNS("stage"), live.refusalsByStage, "no refusals");
  renderTable("refusal-rule-table", ROW_COLUMNS("rule"), live.refusalsByRule, "no refusals by a rule");
  renderTable("waf-table", ROW_COLUMNS("rule (action)"), live.wafFindings, "no findings");
}

/** The latest checkpoint, or why there is none (404 before the first one is signed). */
export function renderCheckpoint(cp: CheckpointNote | undefined, missing?: string): void {
  byId("checkpoint").hidden = cp === undefined;
  const note = byId("checkpoint-missing");
  note.hidden = cp !== undefined;
  note.textContent = missing ?? "";
  // The age gauge reads 0 before the first checkpoint; "—" says what is true.
  if (cp === undefined) return setText("checkpoint-age", NONE);
  setText("cp-origin", cp.origin);
  setText("cp-size", fmtCount(cp.size));
  setText("cp-root", cp.rootBase64);
  setText("cp-root-hex", toHex(cp.root));
  setText("cp-signature", cp.signatures.map((s) => s.line).join("\n"));
}
