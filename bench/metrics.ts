// What the Prometheus metrics add to a request, in µs: the calls src/app.ts's proxy() and
// src/forwarder make for one request, run in-process on the real registry (src/metrics), and
// next to them the same counts through prom-client's own Counter/Histogram children, which is
// what the cells replace.
//
//   ./node_modules/.bin/bun bench/metrics.ts [--out PATH]
//
// Writes bench/results/<date>-metrics.md.
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { Counter, Histogram, Registry } from "prom-client";
import { createMetrics, modelLabeler, tailUsage, GATEWAY_BUCKETS, GAP_BUCKETS } from "../src/metrics";
import { extract } from "../src/audit/record";

const outArg = process.argv.indexOf("--out");
const enc = new TextEncoder();

/** The 16-token JSON reply of bench/stages.ts, and the same reply as the mock upstream's stream. */
const REPLY = enc.encode(
  JSON.stringify({
    id: "chatcmpl-1",
    object: "chat.completion",
    created: 1,
    model: "mock-gpt",
    choices: [{ index: 0, message: { role: "assistant", content: Array.from({ length: 16 }, (_, i) => `tok${i}`).join(" ") }, finish_reason: "stop" }],
    usage: { prompt_tokens: 9, completion_tokens: 16, total_tokens: 25 },
  }),
);
const event = (o: unknown) => enc.encode(`data: ${JSON.stringify(o)}\n\n`);
const STREAM = [
  ...Array.from({ length: 16 }, (_, i) => event({ id: "c", object: "chat.completion.chunk", model: "mock-gpt", choices: [{ index: 0, delta: { content: ` tok${i}` } }], usage: null })),
  event({ id: "c", object: "chat.completion.chunk", model: "mock-gpt", choices: [], usage: { prompt_tokens: 9, completion_tokens: 16, total_tokens: 25 } }),
  enc.encode("data: [DONE]\n\n"),
];

/** Median of 7 rounds of `n` calls, in µs per call (bench/stages.ts's method). */
function time(n: number, fn: () => void): number {
  for (let i = 0; i < n; i++) fn();
  const rounds: number[] = [];
  for (let r = 0; r < 7; r++) {
    const t0 = Bun.nanoseconds();
    for (let i = 0; i < n; i++) fn();
    rounds.push((Bun.nanoseconds() - t0) / n / 1000);
  }
  return rounds.sort((a, b) => a - b)[3];
}

const metrics = createMetrics();
const modelLabel = modelLabeler([{ models: ["gpt-4o", "gpt-4o-mini", "mock-gpt", "mock-embed"] }]);
// Model names arrive from JSON.parse, a new string per request: cycle through distinct ones.
const names = Array.from({ length: 1024 }, () => JSON.parse('"mock-gpt"') as string);
let n = 0;
const NO_FINDINGS: { rule: string; action: string }[] = [];

/** proxy()'s metrics work for a served JSON reply, in the order it runs. */
function servedJson(): void {
  const model = names[n++ & 1023];
  const start = performance.now();
  for (const f of NO_FINDINGS) metrics.wafFinding(f.rule, f.action);
  const label = modelLabel(model);
  const clock = { arrivedAt: start, sentAt: start, endedAt: NaN, streamError: null as string | null, firstToken: null, tokenGap: null };
  clock.endedAt = performance.now(); // the forwarder, after reading the reply
  metrics.upstreamCall("mock", (clock.endedAt - clock.sentAt) / 1000);
  const usage = tailUsage([REPLY]);
  if (usage !== null) metrics.usage(label, "bench", usage);
  const upstreamMs = clock.endedAt >= clock.sentAt ? clock.endedAt - clock.sentAt : 0;
  metrics.finished("/v1/chat/completions", modelLabel(model), 200, (performance.now() - start - upstreamMs) / 1000);
}

/** proxy()'s metrics work for a refusal (auth or WAF): one refusal, one request count. */
function refused(): void {
  const start = performance.now();
  metrics.refused("auth", "missing_api_key", "");
  metrics.finished("/v1/chat/completions", modelLabel(null), 401, (performance.now() - start) / 1000);
}

/** The per-stream part: the model's cells, the stream's end and its usage from the last chunks. */
function streamEnd(): void {
  const model = names[n++ & 1023];
  const start = performance.now();
  const label = modelLabel(model);
  const cells = metrics.streamCells(label);
  const clock = { arrivedAt: start, sentAt: start, endedAt: performance.now(), streamError: null as string | null, firstToken: cells.firstToken, tokenGap: cells.tokenGap };
  metrics.upstreamCall("mock", (clock.endedAt - clock.sentAt) / 1000);
  const usage = tailUsage(STREAM);
  if (usage !== null) metrics.usage(label, "bench", usage);
  metrics.finished("/v1/chat/completions", modelLabel(model), 200, (performance.now() - start) / 1000);
}

/** src/forwarder/sse.ts per chunk: the comment check and one observe (performance.now() was there already). */
const gap = metrics.streamCells("mock-gpt").tokenGap;
let last = performance.now();
const chunk = STREAM[3];
function perChunk(): void {
  const now = performance.now();
  if (chunk[0] !== 0x3a) {
    gap.observe((now - last) / 1000);
    last = now;
  }
}
function perChunkBaseline(): void {
  last = performance.now(); // what the SSE path did anyway: one clock read per chunk
}

// prom-client's own metrics for the same work, with children cached per label combination.
const registry = new Registry();
const pcRequests = new Counter({ name: "b_requests_total", help: "h", labelNames: ["route", "model", "status"], registers: [registry] });
const pcGateway = new Histogram({ name: "b_gateway_seconds", help: "h", labelNames: ["route"], buckets: GATEWAY_BUCKETS, registers: [registry] });
const pcGap = new Histogram({ name: "b_gap_seconds", help: "h", labelNames: ["model"], buckets: GAP_BUCKETS, registers: [registry] });
const childRequests = pcRequests.labels("/v1/chat/completions", "mock-gpt", "200");
const childGateway = pcGateway.labels("/v1/chat/completions");
const childGap = pcGap.labels("mock-gpt");
const cellRequests = metrics.requests.at("/v1/chat/completions", "mock-gpt", 200);
const cellGateway = metrics.gatewayDuration.at("/v1/chat/completions");

const rows: [string, number][] = [
  ["served JSON reply: everything proxy() adds (labels, clock, upstream time, usage, tokens, count, gateway time)", time(200_000, servedJson)],
  ["  of which: usage from the reply's tail (tailUsage)", time(200_000, () => tailUsage([REPLY]))],
  ["  for comparison: the audit record's extract() on the same reply", time(200_000, () => extract([REPLY], false))],
  ["refused request: refusal + count + gateway time", time(200_000, refused)],
  ["stream, once per stream: cells, upstream time, usage from the last chunks, count", time(200_000, streamEnd)],
  ["  for comparison: extract() on the same 18-chunk stream", time(50_000, () => extract(STREAM, true))],
  ["stream, per chunk: comment check + gap observe (+ the clock read the SSE path already made)", time(1_000_000, perChunk)],
  ["  baseline: the clock read alone", time(1_000_000, perChunkBaseline)],
  ["cells: counter inc + histogram observe, cells looked up (as finished() does)", time(1_000_000, () => metrics.finished("/v1/chat/completions", "mock-gpt", 200, 0.0003))],
  ["cells: counter inc + histogram observe, cells held", time(1_000_000, () => (cellRequests.inc(), cellGateway.observe(0.0003)))],
  ["prom-client: counter inc + histogram observe, children cached", time(1_000_000, () => (childRequests.inc(), childGateway.observe(0.0003)))],
  ["prom-client: histogram observe (per chunk), child cached", time(1_000_000, () => childGap.observe(0.02))],
];

const table = ["| what | µs |", "| :--- | ---: |", ...rows.map(([what, us]) => `| ${what} | ${us.toFixed(3)} |`)].join("\n");
/** One scrape: the whole exposition text, awaited (median of 101). */
async function scrapeUs(): Promise<number> {
  const runs: number[] = [];
  for (let i = 0; i < 101; i++) {
    const t0 = Bun.nanoseconds();
    await metrics.exposition();
    runs.push((Bun.nanoseconds() - t0) / 1000);
  }
  return runs.sort((a, b) => a - b)[50];
}
const scrape = await scrapeUs();
const series = (await metrics.exposition()).split("\n").filter((l) => l !== "" && !l.startsWith("#")).length;
const md = `# Metrics: added cost per request

Command: \`./node_modules/.bin/bun bench/metrics.ts\` (Bun ${Bun.version}, ${new Date().toISOString()})

In-process, median of 7 rounds per line, on this shared 2-core machine (runs vary by up to ~30 %).
The reply is bench/stages.ts's 16-token chat completion; the stream is the same reply as 16
content events, a usage event and \`[DONE]\`. "served JSON reply" is the whole of what src/app.ts
and src/forwarder do for the metrics on a served request; a stream adds its per-stream line once
and its per-chunk line per chunk instead.

${table}

A scrape (not on the request path) builds the text of ${series} samples in ${scrape.toFixed(0)} µs.
`;
console.log(table);
const out = resolve(outArg > 0 ? process.argv[outArg + 1] : join(import.meta.dir, "results", `${new Date().toISOString().slice(0, 10)}-metrics.md`));
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, md);
console.log(`wrote ${out}`);
