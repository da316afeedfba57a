// Streaming load generator for bench/peers/run.ts: bench/stream-load.ts with what a comparison with
// other gateways needs — per-target request headers (auth, Portkey's routing headers), a model
// name, no "mock" field in the body (not every peer forwards it: the mock's defaults set the reply),
// and a "stalled" that means stuck rather than slow: a stream with no byte for --idle-ms is aborted
// and counted stalled at any time, and streams still open --tail-ms after the last start are cut
// (also counted stalled). At 15 000 streams the load generator and the mock share one core and
// every stream is slower than 40 × 25 ms; slow but moving is not a failure.
//
//   BUN_CONFIG_MAX_HTTP_REQUESTS=65336 bun bench/peers/stream-client.ts --url http://127.0.0.1:9000/v1 \
//     --model mock-stream --streams 1000 --duration 8 [--header 'Authorization: Bearer x' ...]
// Prints a summary on stderr and one "STREAM_JSON {...}" line on stdout.
// The expected token count and pacing come from the mock (bench/mock-upstream.ts --tokens --delay-ms);
// --tokens and --delay-ms here only size the buffers and the default tail.

export {}; // a module, not a global script

interface Opts {
  url: string;
  streams: number;
  tokens: number;
  delayMs: number;
  durationS: number;
  rampMs: number;
  model: string;
  headers: Record<string, string>;
  idleMs: number;
  tailMs: number;
}

function parseArgs(argv: string[]): Opts {
  const o: Opts = { url: "", streams: 100, tokens: 40, delayMs: 25, durationS: 10, rampMs: 1000, model: "mock-gpt", headers: {}, idleMs: 10_000, tailMs: NaN };
  for (let i = 0; i < argv.length; i++) {
    const num = () => {
      const v = Number(argv[++i]);
      if (!Number.isFinite(v) || v < 0) throw new Error(`${argv[i - 1]} needs a non-negative number`);
      return v;
    };
    switch (argv[i]) {
      case "--url": o.url = argv[++i]; break;
      case "--streams": o.streams = Math.floor(num()); break;
      case "--tokens": o.tokens = Math.floor(num()); break;
      case "--delay-ms": o.delayMs = num(); break;
      case "--duration": o.durationS = num(); break;
      case "--ramp-ms": o.rampMs = num(); break;
      case "--model": o.model = argv[++i]; break;
      case "--idle-ms": o.idleMs = num(); break;
      case "--tail-ms": o.tailMs = num(); break;
      case "--header": {
        const h = argv[++i] ?? "";
        const c = h.indexOf(":");
        if (c <= 0) throw new Error(`--header needs "Name: value", got ${JSON.stringify(h)}`);
        o.headers[h.slice(0, c).trim().toLowerCase()] = h.slice(c + 1).trim();
        break;
      }
      default: throw new Error(`unknown argument: ${argv[i]}`);
    }
  }
  if (!o.url) throw new Error("--url BASE (e.g. http://127.0.0.1:9000/v1) is required");
  const host = new URL(o.url).hostname;
  if (!/^127\.\d+\.\d+\.\d+$/.test(host) && host !== "localhost" && host !== "[::1]") {
    throw new Error(`refusing non-loopback target ${host}: benchmarks only run against this machine`);
  }
  if (o.streams < 1 || o.tokens < 1) throw new Error("--streams and --tokens must be >= 1");
  if (!Number.isFinite(o.tailMs)) o.tailMs = Math.max(30_000, o.tokens * o.delayMs * 10);
  return o;
}

const opts = parseArgs(process.argv.slice(2));
const endpoint = `${opts.url.replace(/\/+$/, "")}/chat/completions`;
const body = JSON.stringify({ model: opts.model, messages: [{ role: "user", content: "Say hello" }], stream: true });
const headers = { "content-type": "application/json", accept: "text/event-stream", ...opts.headers };

const maxHttp = Number(process.env.BUN_CONFIG_MAX_HTTP_REQUESTS ?? "256");
if (!(maxHttp >= opts.streams)) {
  process.stderr.write(`stream-client: WARNING: BUN_CONFIG_MAX_HTTP_REQUESTS=${process.env.BUN_CONFIG_MAX_HTTP_REQUESTS ?? "(unset, 256)"} < ${opts.streams} streams: fetch will queue the excess silently\n`);
}

const streamMs = opts.tokens * opts.delayMs;
const totalMs = opts.rampMs + opts.durationS * 1000 + opts.tailMs;
// Upper bounds for the sample buffers (a stream delivers at most one token per delayMs).
const gapCap = Math.min(200_000_000, Math.ceil(opts.streams * (totalMs / Math.max(1, opts.delayMs) + opts.tokens) * 1.1) + 1024);
const ttftCap = Math.ceil(opts.streams * (totalMs / Math.max(1, streamMs) + 2) * 1.1) + 1024;
const gaps = new Float32Array(gapCap);
const ttfts = new Float64Array(ttftCap);
let nGaps = 0;
let nTtft = 0;
let overflow = 0;

let started = 0;
let completed = 0;
let tokens = 0;
let open = 0;
let peakOpen = 0;
const errors = { http: 0, no_done: 0, error_event: 0, exception: 0, stalled: 0 };
let cutCount = 0;
const samples = new Map<string, number>(); // distinct error messages, counted
function note(msg: string): void {
  if (samples.size < 20 || samples.has(msg)) samples.set(msg, (samples.get(msg) ?? 0) + 1);
}

interface Live { ac: AbortController; last: number; why?: "idle" | "cut" }
const live = new Set<Live>();
let stopStarting = false;

const CONTENT = '"content":"';
const QUOTE = 34;

/** One stream, start to end; false when it failed before any token (the caller backs off). */
async function oneStream(): Promise<boolean> {
  const l: Live = { ac: new AbortController(), last: performance.now() };
  live.add(l);
  started++;
  const t0 = l.last;
  let opened = false;
  let sawDone = false;
  let sawError = false;
  let got = 0;
  try {
    const res = await fetch(endpoint, { method: "POST", headers, body, signal: l.ac.signal });
    l.last = performance.now();
    if (res.status !== 200) {
      errors.http++;
      const text = await res.text().catch(() => "");
      note(`HTTP ${res.status}: ${text.slice(0, 200)}`);
      return false;
    }
    if (res.body === null) {
      errors.exception++;
      note("200 without a body");
      return false;
    }
    opened = true;
    if (++open > peakOpen) peakOpen = open;
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let prev = -1;
    let carry = "";
    for (;;) {
      const r = await reader.read();
      if (r.done) break;
      const t = performance.now();
      l.last = t;
      const s = carry.length === 0 ? decoder.decode(r.value, { stream: true }) : carry + decoder.decode(r.value, { stream: true });
      let pos = 0;
      for (;;) {
        const nl = s.indexOf("\n", pos);
        if (nl < 0) break;
        if (s.startsWith("data:", pos)) {
          const p = s.charCodeAt(pos + 5) === 32 ? pos + 6 : pos + 5;
          if (s.startsWith("[DONE]", p)) {
            sawDone = true;
          } else if (s.startsWith('{"error"', p)) {
            sawError = true;
            note(`error event: ${s.slice(p, Math.min(nl, p + 200))}`);
          } else {
            const k = s.indexOf(CONTENT, p);
            if (k >= 0 && k < nl && s.charCodeAt(k + CONTENT.length) !== QUOTE) {
              tokens++;
              got++;
              if (prev < 0) {
                if (nTtft < ttftCap) ttfts[nTtft++] = t - t0;
                else overflow++;
              } else if (nGaps < gapCap) gaps[nGaps++] = t - prev;
              else overflow++;
              prev = t;
            }
          }
        }
        pos = nl + 1;
      }
      carry = pos === s.length ? "" : s.slice(pos);
    }
    if (sawError) errors.error_event++;
    else if (sawDone) completed++;
    else {
      errors.no_done++;
      note(`stream ended without [DONE] after ${got} tokens`);
    }
    return true;
  } catch (e) {
    if (l.why) {
      errors.stalled++;
      if (l.why === "cut") cutCount++;
      note(l.why === "idle"
        ? `stalled: no byte for ${opts.idleMs} ms (${opened ? `after ${got} tokens` : "before the response head"}; aborted)`
        : `still open ${opts.tailMs} ms after the last stream started (aborted)`);
    } else {
      errors.exception++;
      const err = e as Error & { code?: string };
      note(`exception: ${err.name}${err.code ? ` ${err.code}` : ""}: ${err.message}${opened ? ` (after ${got} tokens)` : ""}`);
    }
    return opened;
  } finally {
    if (opened) open--;
    live.delete(l);
  }
}

async function worker(i: number): Promise<void> {
  await Bun.sleep((i * opts.rampMs) / opts.streams);
  // A refused or failed request is retried after a pause, not in a tight loop against a dead target.
  while (!stopStarting) if (!(await oneStream())) await Bun.sleep(100);
}

function pct(a: Float32Array | Float64Array, p: number): number {
  if (a.length === 0) return NaN;
  return a[Math.min(a.length - 1, Math.max(0, Math.ceil((p / 100) * a.length) - 1))];
}
const r2 = (x: number) => (Number.isFinite(x) ? Math.round(x * 100) / 100 : null);

const tStart = performance.now();
const cpu0 = process.cpuUsage();
const workers = Array.from({ length: opts.streams }, (_, i) => worker(i));
const stopAt = opts.rampMs + opts.durationS * 1000;
const stopTimer = setTimeout(() => { stopStarting = true; }, stopAt);
const watchdog = setInterval(() => {
  const now = performance.now();
  const cut = now - tStart > stopAt + opts.tailMs;
  for (const l of live) {
    if (l.why) continue;
    if (cut) l.why = "cut";
    else if (now - l.last > opts.idleMs) l.why = "idle";
    else continue;
    l.ac.abort();
  }
}, 250);
await Promise.all(workers);
clearTimeout(stopTimer);
clearInterval(watchdog);
const elapsedS = (performance.now() - tStart) / 1000;
const cpu = process.cpuUsage(cpu0);

const g = gaps.subarray(0, nGaps).sort();
const f = ttfts.subarray(0, nTtft).sort();
const errorTotal = Object.values(errors).reduce((a, b) => a + b, 0);
const result = {
  url: endpoint,
  model: opts.model,
  streams: opts.streams,
  duration_s: opts.durationS,
  ramp_ms: opts.rampMs,
  idle_ms: opts.idleMs,
  tail_ms: opts.tailMs,
  elapsed_s: r2(elapsedS),
  started,
  completed,
  errors: { total: errorTotal, ...errors },
  cut: cutCount,
  error_samples: [...samples].map(([msg, n]) => ({ msg, n })),
  tokens,
  peak_open: peakOpen,
  gap_ms: { count: nGaps, p50: r2(pct(g, 50)), p90: r2(pct(g, 90)), p99: r2(pct(g, 99)), p999: r2(pct(g, 99.9)), max: r2(nGaps ? g[nGaps - 1] : NaN) },
  ttft_ms: { count: nTtft, p50: r2(pct(f, 50)), p99: r2(pct(f, 99)), max: r2(nTtft ? f[nTtft - 1] : NaN) },
  overflow,
  client_cpu_s: r2((cpu.user + cpu.system) / 1e6),
  max_http_requests: maxHttp,
};
process.stderr.write(
  `stream-client ${opts.streams} streams -> ${endpoint}: completed ${completed}, errors ${errorTotal}, peak open ${peakOpen}, ` +
    `gap p50 ${result.gap_ms.p50} p99 ${result.gap_ms.p99} max ${result.gap_ms.max} ms, ` +
    `ttft p50 ${result.ttft_ms.p50} p99 ${result.ttft_ms.p99} ms, client cpu ${result.client_cpu_s} s in ${result.elapsed_s} s\n`,
);
console.log(`STREAM_JSON ${JSON.stringify(result)}`);
process.exit(0);
