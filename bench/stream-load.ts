// Streaming load generator: keeps N chat-completion streams open against one target, restarting
// each stream when it ends, and measures at the client what a user of a streaming model sees:
// the gap between successive token events, and the time to the first token.
//
// Run (the env variable is required, or Bun's fetch caps the run at 256 concurrent streams):
//   BUN_CONFIG_MAX_HTTP_REQUESTS=65336 bun bench/stream-load.ts --url http://127.0.0.1:9000/v1 \
//     --streams 1000 --tokens 40 --delay-ms 25 --duration 10
// Prints a human summary on stderr and one machine-readable line "STREAM_JSON {...}" on stdout.
//
// Timeline: streams start spread over --ramp-ms (no SYN flood); new streams start until
// ramp + duration has passed; streams still running then may finish within a grace period
// (one stream's length + 5 s), after which they are aborted and counted as stalled (an error).
// Per-event work is kept small (a substring search per data line, one store into a
// preallocated Float64Array); percentiles are computed once at the end.

export {}; // a module, not a global script (top-level await, private names)

interface Opts {
  url: string;
  streams: number;
  tokens: number;
  delayMs: number;
  durationS: number;
  rampMs: number;
  model: string;
}

function parseArgs(argv: string[]): Opts {
  const o: Opts = { url: "", streams: 100, tokens: 40, delayMs: 25, durationS: 10, rampMs: 1000, model: "mock-gpt" };
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
      default: throw new Error(`unknown argument: ${argv[i]}`);
    }
  }
  if (!o.url) throw new Error("--url BASE (e.g. http://127.0.0.1:9000/v1) is required");
  const host = new URL(o.url).hostname;
  if (!/^127\.\d+\.\d+\.\d+$/.test(host) && host !== "localhost" && host !== "[::1]") {
    throw new Error(`refusing non-loopback target ${host}: benchmarks only run against this machine`);
  }
  if (o.streams < 1 || o.tokens < 1) throw new Error("--streams and --tokens must be >= 1");
  return o;
}

const opts = parseArgs(process.argv.slice(2));
const endpoint = `${opts.url.replace(/\/+$/, "")}/chat/completions`;
const body = JSON.stringify({
  model: opts.model,
  messages: [{ role: "user", content: "Say hello" }],
  stream: true,
  mock: { tokens: opts.tokens, delayMs: opts.delayMs },
});
const headers = { "content-type": "application/json", accept: "text/event-stream" };

const maxHttp = Number(process.env.BUN_CONFIG_MAX_HTTP_REQUESTS ?? "256");
if (!(maxHttp >= opts.streams)) {
  process.stderr.write(
    `stream-load: WARNING: BUN_CONFIG_MAX_HTTP_REQUESTS=${process.env.BUN_CONFIG_MAX_HTTP_REQUESTS ?? "(unset, 256)"} < ${opts.streams} streams: ` +
      `fetch will queue the excess silently\n`,
  );
}

const streamMs = opts.tokens * opts.delayMs;
const graceMs = streamMs + 5000;
const totalMs = opts.rampMs + opts.durationS * 1000 + graceMs;
// Upper bounds: the mock emits at most one token per delayMs per stream, and every stream
// restart costs at least one stream length (plus one partial stream per worker).
const gapCap = Math.ceil(opts.streams * (totalMs / Math.max(1, opts.delayMs) + opts.tokens) * 1.1) + 1024;
const ttftCap = Math.ceil(opts.streams * (totalMs / Math.max(1, streamMs) + 2) * 1.1) + 1024;
const gaps = new Float64Array(gapCap);
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
const samples = new Map<string, number>(); // distinct error messages, counted
function note(msg: string): void {
  if (samples.size < 20 || samples.has(msg)) samples.set(msg, (samples.get(msg) ?? 0) + 1);
}

const live = new Set<AbortController>();
let stopStarting = false; // ramp + duration is over: no new streams
let cutting = false; // grace is over: remaining streams are aborted

// SSE: `data: <payload>` lines. A content delta has a non-empty "content" string; the role
// chunk (content ""), the finish chunk (delta {}), usage chunks and [DONE] are not tokens.
const CONTENT = '"content":"';
const QUOTE = 34;

/** One stream, start to end; false when it failed before any token (the caller backs off). */
async function oneStream(): Promise<boolean> {
  const ac = new AbortController();
  live.add(ac);
  started++;
  const t0 = performance.now();
  let opened = false;
  let sawDone = false;
  let sawError = false;
  try {
    const res = await fetch(endpoint, { method: "POST", headers, body, signal: ac.signal });
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
      note("stream ended without [DONE]");
    }
    return true;
  } catch (e) {
    if (cutting && ac.signal.aborted) {
      errors.stalled++;
      note(`stream still open ${graceMs} ms after the end of the run (aborted)`);
    } else {
      errors.exception++;
      note(`exception: ${(e as Error).name}: ${(e as Error).message}`);
    }
    return opened;
  } finally {
    if (opened) open--;
    live.delete(ac);
  }
}

async function worker(i: number): Promise<void> {
  await Bun.sleep((i * opts.rampMs) / opts.streams);
  // A refused or failed request is retried after a pause, not in a tight loop against a dead target.
  while (!stopStarting) if (!(await oneStream())) await Bun.sleep(100);
}

function pct(a: Float64Array, p: number): number {
  if (a.length === 0) return NaN;
  return a[Math.min(a.length - 1, Math.max(0, Math.ceil((p / 100) * a.length) - 1))];
}
const r2 = (x: number) => (Number.isFinite(x) ? Math.round(x * 100) / 100 : null);

const tStart = performance.now();
const cpu0 = process.cpuUsage();
const workers = Array.from({ length: opts.streams }, (_, i) => worker(i));
const stopTimer = setTimeout(() => { stopStarting = true; }, opts.rampMs + opts.durationS * 1000);
const all = Promise.all(workers);
const cutTimer = setTimeout(() => {
  cutting = true;
  for (const ac of live) ac.abort();
}, opts.rampMs + opts.durationS * 1000 + graceMs);
await all;
clearTimeout(stopTimer);
clearTimeout(cutTimer);
const elapsedS = (performance.now() - tStart) / 1000;
const cpu = process.cpuUsage(cpu0);

const g = gaps.subarray(0, nGaps).sort();
const f = ttfts.subarray(0, nTtft).sort();
const errorTotal = Object.values(errors).reduce((a, b) => a + b, 0);
const result = {
  url: endpoint,
  streams: opts.streams,
  tokens_per_stream: opts.tokens,
  delay_ms: opts.delayMs,
  duration_s: opts.durationS,
  elapsed_s: r2(elapsedS),
  started,
  completed,
  errors: { total: errorTotal, ...errors },
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
  `stream-load ${opts.streams} streams -> ${endpoint}: completed ${completed}, errors ${errorTotal}, peak open ${peakOpen}, ` +
    `gap p50 ${result.gap_ms.p50} p99 ${result.gap_ms.p99} max ${result.gap_ms.max} ms, ` +
    `ttft p50 ${result.ttft_ms.p50} p99 ${result.ttft_ms.p99} ms, client cpu ${result.client_cpu_s} s in ${result.elapsed_s} s\n`,
);
console.log(`STREAM_JSON ${JSON.stringify(result)}`);
process.exit(0);
