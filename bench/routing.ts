// Routing benchmark: what the router costs, and what a client sees when one of two upstreams dies.
//
//   ./node_modules/.bin/bun bench/routing.ts [--duration S] [--quick] [--out PATH] [--build] [--keep-logs]
//
// 1. Routing overhead: wrk (bench/wrk-chat.lua, 16-token replies) at c=32 and c=1 against
//    (a) one mock upstream directly, (b) Warden with that mock as its only upstream, (c) Warden with
//    two mock processes serving mock-gpt, once per strategy (weighted, least-inflight, latency, p2c);
//    without --quick also (d) two upstreams that are the same mock process (the router's work without
//    a second mock process competing for the 2 cores) and (b') (b) again as a noise reference.
//    One Warden start per configuration, all up at once, runs interleaved per level; the two mocks
//    stay up for the whole section.
// 2. Failover: Warden with upstreams a and b (fresh mock processes each run; a answers 16 tokens, b 17,
//    so the reply says who answered), default retries, strategy weighted and p2c; a fetch loop of 32
//    workers in this process sends non-streaming chat completions for FAIL_S seconds and at KILL_S the
//    mock a is either killed (SIGKILL) or hung (SIGSTOP: its sockets stay open, nothing answers; Warden
//    then runs with WARDEN_FIRST_BYTE_TIMEOUT_MS=1000 and WARDEN_CONNECT_TIMEOUT_MS=500).
//
// Writes bench/results/<YYYY-MM-DD>-routing.md (or --out) and prints the same tables.
// Every child runs in its own process group (setsid) and every group is killed at the end, on error
// and on Ctrl-C. Only 127.0.0.1 is ever a target.
import { spawn, type Subprocess } from "bun";
import { baseEnv, children, exited, freePort as freePortOn, interrupted, killAllSync, killChildrenOnExit, killGroup, removeDir, run as runIn, stopProc, tail, wrapped } from "./processes";
import { chmodSync, closeSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { newHealth } from "../src/router/health";
import { pick } from "../src/router/strategies";

const ROOT = resolve(import.meta.dir, "..");
const BENCH = import.meta.dir;
const BUN = process.execPath;
const WARDEN = join(ROOT, "dist", "warden");
const HOST = "127.0.0.1"; // loopback only, always
const WANT_NOFILE = 65536;

// ---------------------------------------------------------------------------------------------
// Options

interface Opts { durationS: number; quick: boolean; out: string | undefined; build: boolean; keepLogs: boolean }

function usage(msg?: string): never {
  if (msg) console.error(`bench/routing.ts: ${msg}`);
  console.error("usage: bun bench/routing.ts [--duration S] [--quick] [--out PATH] [--build] [--keep-logs]");
  process.exit(2);
}

function parseArgs(argv: string[]): Opts {
  const o: Opts = { durationS: 8, quick: false, out: undefined, build: false, keepLogs: false };
  let dSet = false;
  for (let i = 0; i < argv.length; i++) {
    switch (argv[i]) {
      case "--duration": {
        const v = Number(argv[++i]);
        if (!Number.isInteger(v) || v < 1 || v > 600) usage("--duration needs a whole number of seconds in 1..600");
        o.durationS = v;
        dSet = true;
        break;
      }
      case "--quick": o.quick = true; break;
      case "--out": o.out = argv[++i] ?? usage("--out needs a path"); break;
      case "--build": o.build = true; break;
      case "--keep-logs": o.keepLogs = true; break;
      case "-h": case "--help": usage();
      default: usage(`unknown argument: ${argv[i]}`);
    }
  }
  if (o.quick && !dSet) o.durationS = 2;
  return o;
}

const opts = parseArgs(process.argv.slice(2));
const WRK_TOKENS = 16; // as bench/run.ts
const TOKENS_A = 16;
const TOKENS_B = 17; // one token more: a failover reply tells which upstream answered
const WARMUP_S = opts.quick ? 1 : 2;
const STRATEGIES = ["weighted", "least-inflight", "latency", "p2c"] as const;
type Strategy = (typeof STRATEGIES)[number];
const FAIL_S = opts.quick ? 4 : 12; // failover load length
const KILL_S = opts.quick ? 1.5 : 4; // when mock a is killed / hung
const WORKERS = 32;
const CLIENT_TIMEOUT_MS = 20_000;
const BUCKET_MS = 500;
const BUCKETS_BEFORE = 2; // buckets shown before the kill
const BUCKETS_AFTER = opts.quick ? 5 : 8;
const HANG_ENV = { WARDEN_FIRST_BYTE_TIMEOUT_MS: "1000", WARDEN_CONNECT_TIMEOUT_MS: "500" };

// ---------------------------------------------------------------------------------------------
// Child processes: each in its own process group; every group is killed on exit, error or signal.

let workDir = "";
killChildrenOnExit("bench/routing.ts", () => {
  if (!opts.keepLogs) removeDir(workDir);
});

interface Server { name: string; proc: Subprocess; log: string; port: number }

const LIVE: Server[] = []; // servers whose CPU counts as "ours"

function startServer(name: string, cmd: string[], env: Record<string, string>, port: number, cwd = ROOT): Server {
  const log = join(workDir, `${name}.log`);
  const fd = openSync(log, "w");
  const proc = spawn({ cmd: wrapped(cmd, WANT_NOFILE), env, cwd, stdin: "ignore", stdout: fd, stderr: fd });
  closeSync(fd);
  children.add(proc);
  const s = { name, proc, log, port };
  LIVE.push(s);
  return s;
}

async function stopServer(s: Server): Promise<void> {
  await stopProc(s.proc);
  const i = LIVE.indexOf(s);
  if (i >= 0) LIVE.splice(i, 1);
}

function alive(s: Server): boolean {
  return !exited(s.proc);
}

async function waitReady(s: Server, url: string, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (!alive(s)) throw new Error(`${s.name} exited (code ${s.proc.exitCode ?? s.proc.signalCode}) before it was ready:\n${tail(s.log)}`);
    try {
      const r = await fetch(url, { signal: AbortSignal.timeout(1000) });
      await r.arrayBuffer();
      if (r.status === 200) return;
    } catch {}
    await Bun.sleep(50);
  }
  throw new Error(`${s.name} not ready at ${url} after ${timeoutMs} ms:\n${tail(s.log)}`);
}

const freePort = () => freePortOn(HOST);
const run = (cmd: string[], opt: { env?: Record<string, string>; timeoutMs: number; cwd?: string }) => runIn(cmd, { ...opt, cwd: opt.cwd ?? ROOT });

let CLK_TCK = 100;
let NPROC = 2;

/** utime + stime of a process, in seconds (Linux /proc). */
function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12])) / CLK_TCK;
  } catch {
    return NaN;
  }
}

/** CPU seconds the whole machine was busy (user + nice + system + irq + softirq). */
function machineCpuSeconds(): number {
  const f = readFileSync("/proc/stat", "utf8").split("\n", 1)[0].trim().split(/\s+/).slice(1).map(Number);
  return (f[0] + f[1] + f[2] + f[5] + f[6]) / CLK_TCK;
}

interface Snapshot { t: number; machine: number; servers: number; alive: number; self: number; warden: number; mocks: number }
function snapshot(warden: Server | undefined, mocks: Server[]): Snapshot {
  const self = process.cpuUsage();
  return {
    t: performance.now(),
    machine: machineCpuSeconds(),
    servers: LIVE.reduce((a, s) => a + (alive(s) ? cpuSeconds(s.proc.pid) : 0), 0),
    alive: LIVE.filter(alive).length,
    self: (self.user + self.system) / 1e6,
    warden: warden ? cpuSeconds(warden.proc.pid) : NaN,
    mocks: mocks.reduce((a, m) => a + cpuSeconds(m.proc.pid), 0),
  };
}

function cpuDuring(a: Snapshot, b: Snapshot, loadgenCpuS: number): { warden_cpu_s: number; mocks_cpu_s: number; other_cpu_pct: number } {
  const ours = b.servers - a.servers + (b.self - a.self) + (Number.isFinite(loadgenCpuS) ? loadgenCpuS : 0);
  const wall = (b.t - a.t) / 1000;
  const other = Math.max(0, b.machine - a.machine - ours);
  const pct = wall > 0 && a.alive === b.alive ? Math.min(100, (100 * other) / (wall * NPROC)) : NaN;
  return { warden_cpu_s: b.warden - a.warden, mocks_cpu_s: b.mocks - a.mocks, other_cpu_pct: pct };
}

// ---------------------------------------------------------------------------------------------
// Formatting

const f1 = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : "—");
const f2 = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : "—");
const fint = (x: number) => (Number.isFinite(x) ? Math.round(x).toLocaleString("en-US") : "—");
const ms = (us: number) => us / 1000;
const sign = (x: number, d = 0) => (Number.isFinite(x) ? `${x >= 0 ? "+" : ""}${x.toFixed(d)}` : "—");

function table(head: string[], rows: string[][], align?: ("l" | "r")[]): string {
  const a = align ?? head.map((_, i) => (i < 2 ? "l" : "r"));
  const out = [`| ${head.join(" | ")} |`, `| ${a.map((x) => (x === "r" ? "---:" : ":---")).join(" | ")} |`];
  for (const r of rows) out.push(`| ${r.join(" | ")} |`);
  return out.join("\n");
}

function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

// ---------------------------------------------------------------------------------------------
// Servers

function startMock(name: string, tokens: number): Promise<Server> {
  return freePort().then(async (port) => {
    const s = startServer(name, [BUN, join(BENCH, "mock-upstream.ts"), "--port", String(port), "--tokens", String(tokens), "--no-record"], baseEnv({}), port);
    await waitReady(s, `http://${HOST}:${port}/v1/models`, 20_000);
    return s;
  });
}

let wardenBin = "";
let wardenSeq = 0;
const wardenLogs: { label: string; log: string }[] = [];

async function startWarden(label: string, upstreams: { name: string; port: number }[], extra: Record<string, string>): Promise<Server> {
  const port = await freePort();
  const n = ++wardenSeq;
  const dataDir = join(workDir, `warden-data-${n}`);
  mkdirSync(dataDir, { recursive: true });
  const env: Record<string, string> = { WARDEN_PORT: String(port), WARDEN_DATA_DIR: dataDir, WARDEN_LOG_LEVEL: "warn", ...extra };
  for (const u of upstreams) {
    env[`WARDEN_UPSTREAM_${u.name.toUpperCase()}_URL`] = `http://${HOST}:${u.port}/v1`;
    env[`WARDEN_UPSTREAM_${u.name.toUpperCase()}_MODELS`] = "mock-gpt";
  }
  const s = startServer(`warden-${n}`, [wardenBin, "serve"], baseEnv(env), port, workDir);
  wardenLogs.push({ label, log: s.log });
  await waitReady(s, `http://${HOST}:${port}/ready`, 60_000);
  const bad = await sanity(`http://${HOST}:${port}/v1`);
  if (bad) throw new Error(`Warden (${label}) failed the sanity check: ${bad}`);
  return s;
}

async function sanity(base: string): Promise<string | undefined> {
  try {
    const r = await fetch(`${base}/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "mock-gpt", messages: [{ role: "user", content: "Say hello" }], mock: { tokens: 4 } }),
      signal: AbortSignal.timeout(5000),
    });
    const text = await r.text();
    if (r.status !== 200) return `HTTP ${r.status}: ${text.slice(0, 300)}`;
    if (JSON.parse(text)?.choices?.[0]?.message?.content !== "tok0 tok1 tok2 tok3") return `unexpected body ${text.slice(0, 300)}`;
    return undefined;
  } catch (e) {
    return `exception: ${(e as Error).message}`;
  }
}

/** Prometheus samples of one family: label set text → value. */
async function scrape(port: number, family: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  try {
    const text = await (await fetch(`http://${HOST}:${port}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
    for (const line of text.split("\n")) {
      if (!line.startsWith(family)) continue;
      const m = line.match(/^([a-z_]+)(\{[^}]*\})?\s+(\S+)$/);
      if (m && m[1] === family) out.set(m[2] ?? "", Number(m[3]));
    }
  } catch {}
  return out;
}

function sample(m: Map<string, number>, ...labels: string[]): number {
  let sum = 0;
  let found = false;
  for (const [k, v] of m) {
    if (labels.every((l) => k.includes(l))) {
      sum += v;
      found = true;
    }
  }
  return found ? sum : NaN;
}

// ---------------------------------------------------------------------------------------------
// Section 1: routing overhead (wrk)

interface WrkResult {
  requests: number; duration_s: number; rps: number;
  p50_us: number; p90_us: number; p99_us: number; max_us: number; mean_us: number;
  errors: { connect: number; read: number; write: number; status: number; timeout: number };
  warden_cpu_s: number; mocks_cpu_s: number; other_cpu_pct: number;
  failed?: string;
}

async function wrk(base: string, c: number, durS: number, warden: Server | undefined, mocks: Server[]): Promise<WrkResult> {
  const threads = c === 1 ? 1 : 2;
  const s0 = snapshot(warden, mocks);
  const r = await run(
    wrapped(["wrk", `-t${threads}`, `-c${c}`, `-d${durS}s`, "--timeout", "5s", "-s", join(BENCH, "wrk-chat.lua"), `${base}/chat/completions`], WANT_NOFILE),
    { env: baseEnv({ WRK_TOKENS: String(WRK_TOKENS) }), timeoutMs: (durS + 30) * 1000 },
  );
  const u = cpuDuring(s0, snapshot(warden, mocks), r.cpuS);
  const line = r.stdout.split("\n").find((l) => l.startsWith("WRK_JSON "));
  if (!line) {
    const why = `wrk exit ${r.code}: ${(r.stderr || r.stdout).trim().slice(0, 500)}`;
    return { requests: 0, duration_s: durS, rps: 0, p50_us: NaN, p90_us: NaN, p99_us: NaN, max_us: NaN, mean_us: NaN, errors: { connect: 0, read: 0, write: 0, status: 0, timeout: 0 }, ...u, failed: why };
  }
  return { ...JSON.parse(line.slice(9)), ...u };
}

function wrkErrors(r: WrkResult): string {
  if (r.failed) return `run failed: ${r.failed.replace(/\|/g, "/").replace(/\n/g, " ")}`;
  const e = r.errors;
  const total = e.connect + e.read + e.write + e.status + e.timeout;
  if (total === 0) return "0";
  const parts = Object.entries(e).filter(([, v]) => v > 0).map(([k, v]) => `${k === "status" ? "HTTP≥400" : k} ${v}`);
  return `**${total}** (${parts.join(", ")})`;
}

/** upstreams: 0 = direct; 1 = a only; 2 = a and b on the two mocks; 3 = a and b both on mock 1 (the control). */
interface OverheadConfig { key: string; label: string; upstreams: 0 | 1 | 2 | 3; strategy?: Strategy }
interface OverheadResult { cfg: OverheadConfig; c32?: WrkResult; c1?: WrkResult; split: string; startMs: number; failed?: string }

async function overhead(mock1: Server, mock2: Server): Promise<OverheadResult[]> {
  const configs: OverheadConfig[] = [
    { key: "direct", label: "(a) direct to mock", upstreams: 0 },
    { key: "one", label: "(b) Warden, 1 upstream", upstreams: 1 },
    ...STRATEGIES.map((s): OverheadConfig => ({ key: `two-${s}`, label: `(c) Warden, 2 upstreams, ${s}`, upstreams: 2, strategy: s })),
    ...(opts.quick ? [] : [
      { key: "same-mock", label: "(d) Warden, 2 upstreams → 1 mock, weighted", upstreams: 3 as const, strategy: "weighted" as const },
      { key: "one-again", label: "(b′) Warden, 1 upstream, again", upstreams: 1 as const },
    ]),
  ];
  const results: OverheadResult[] = configs.map((cfg) => ({ cfg, split: "—", startMs: NaN }));
  const wardens = new Map<OverheadResult, Server>();
  const base = (r: OverheadResult) => {
    const w = wardens.get(r);
    return `http://${HOST}:${w ? w.port : mock1.port}/v1`;
  };
  const mocksOf = (r: OverheadResult) => (r.cfg.upstreams === 2 ? [mock1, mock2] : [mock1]);
  const usable = (r: OverheadResult) => !r.failed && (r.cfg.upstreams === 0 || wardens.has(r));
  const check = (r: OverheadResult) => {
    for (const m of [mock1, mock2]) if (!alive(m)) throw new Error(`${m.name} exited during the runs:\n${tail(m.log)}`);
    const w = wardens.get(r);
    if (w && !alive(w) && !r.failed) {
      r.failed = `Warden exited during the runs (code ${w.proc.exitCode ?? w.proc.signalCode}): ${tail(w.log, 5).replace(/\n/g, " ")}`;
      console.error(`${r.cfg.label}: ${r.failed}`);
    }
  };
  console.log(`\n== routing overhead (wrk, ${opts.durationS} s per point, ${WRK_TOKENS}-token replies, ${WARMUP_S} s warm-up per configuration)`);
  try {
    // One Warden start per configuration, all up at once (idle when not measured), so that the
    // configurations can run interleaved at each level like bench/run.ts's targets.
    for (const r of results) {
      if (r.cfg.upstreams === 0 || interrupted) continue;
      const ups = r.cfg.upstreams === 1 ? [{ name: "a", port: mock1.port }] : [{ name: "a", port: mock1.port }, { name: "b", port: (r.cfg.upstreams === 2 ? mock2 : mock1).port }];
      const t0 = performance.now();
      try {
        wardens.set(r, await startWarden(r.cfg.label, ups, r.cfg.strategy ? { WARDEN_ROUTING_STRATEGY: r.cfg.strategy } : {}));
        r.startMs = performance.now() - t0;
      } catch (e) {
        r.failed = (e as Error).message;
        console.error(`${r.cfg.label}: ${r.failed}`);
      }
    }
    for (const r of results) {
      if (!usable(r) || interrupted) continue;
      const w = await wrk(base(r), 32, WARMUP_S, wardens.get(r), mocksOf(r));
      console.log(`warm-up ${r.cfg.label}: ${fint(w.rps)} req/s${w.failed ? ` (${w.failed})` : ""}`);
      check(r);
    }
    for (const c of [32, 1] as const) {
      for (const r of results) {
        if (!usable(r) || interrupted) continue;
        await Bun.sleep(300);
        const w = await wrk(base(r), c, opts.durationS, wardens.get(r), mocksOf(r));
        if (c === 32) r.c32 = w;
        else r.c1 = w;
        check(r);
        console.log(`c=${String(c).padEnd(2)} ${r.cfg.label.padEnd(38)} ${fint(w.rps).padStart(7)} req/s  p50 ${f2(ms(w.p50_us))} ms  p99 ${f2(ms(w.p99_us))} ms  errors ${wrkErrors(w)}  Warden CPU ${w.requests > 0 && r.cfg.upstreams > 0 ? f1((w.warden_cpu_s * 1e6) / w.requests) : "—"} µs/req  other CPU ${f1(w.other_cpu_pct)} %`);
      }
    }
    for (const [r, w] of wardens) {
      if (!alive(w)) continue;
      const calls = await scrape(w.port, "warden_upstream_duration_seconds_count");
      const a = sample(calls, 'upstream="a"');
      const b = r.cfg.upstreams >= 2 ? sample(calls, 'upstream="b"') : 0;
      if (a + b > 0) r.split = r.cfg.upstreams >= 2 ? `${Math.round((100 * a) / (a + b))} / ${Math.round((100 * b) / (a + b))}` : "100 / —";
    }
  } finally {
    for (const w of wardens.values()) await stopServer(w);
  }
  return results;
}

function overheadTables(results: OverheadResult[]): { main: string; ratio: string } {
  const rows: string[][] = [];
  for (const c of [32, 1] as const) {
    for (const r of results) {
      const w = c === 32 ? r.c32 : r.c1;
      if (!w) { rows.push([String(c), r.cfg.label, "—", "—", "—", "—", r.failed ? `run failed: ${r.failed.split("\n")[0]}` : "not run", "—", "—", "—", "—"]); continue; }
      const per = (cpu: number) => (w.requests > 0 && Number.isFinite(cpu) ? f1((cpu * 1e6) / w.requests) : "—");
      rows.push([String(c), r.cfg.label, fint(w.rps), f2(ms(w.p50_us)), f2(ms(w.p99_us)), f2(ms(w.max_us)), wrkErrors(w), r.cfg.upstreams === 0 ? "—" : per(w.warden_cpu_s), per(w.mocks_cpu_s), r.split, f1(w.other_cpu_pct)]);
    }
  }
  const main = table(["c", "configuration", "req/s", "p50 ms", "p99 ms", "max ms", "errors", "Warden CPU µs/req", "mocks CPU µs/req", "a / b split %", "other CPU %"], rows);
  const ref = results.find((r) => r.cfg.key === "one");
  const ratioRows: string[][] = [];
  for (const r of results) {
    if (r.cfg.key === "one" || r.cfg.key === "direct") continue;
    const b32 = ref?.c32, b1 = ref?.c1, x32 = r.c32, x1 = r.c1;
    const cpu = (w: WrkResult | undefined) => (w && w.requests > 0 ? (w.warden_cpu_s * 1e6) / w.requests : NaN);
    ratioRows.push([
      r.cfg.label,
      x32 && b32 ? f2(x32.rps / b32.rps) : "—",
      x1 && b1 ? f2(x1.rps / b1.rps) : "—",
      x32 && b32 ? sign(x32.p50_us - b32.p50_us) : "—",
      x32 && b32 ? sign(x32.p99_us - b32.p99_us) : "—",
      x1 && b1 ? sign(x1.p50_us - b1.p50_us) : "—",
      x1 && b1 ? sign(x1.p99_us - b1.p99_us) : "—",
      sign(cpu(x32) - cpu(b32), 1),
      sign(cpu(x1) - cpu(b1), 1),
    ]);
  }
  const ratio = table(
    ["configuration", "req/s ÷ (b), c=32", "req/s ÷ (b), c=1", "p50 vs (b), c=32 (µs)", "p99 vs (b), c=32 (µs)", "p50 vs (b), c=1 (µs)", "p99 vs (b), c=1 (µs)", "Warden CPU vs (b), c=32 (µs/req)", "Warden CPU vs (b), c=1 (µs/req)"],
    ratioRows,
    ["l", "r", "r", "r", "r", "r", "r", "r", "r"],
  );
  return { main, ratio };
}

/** In-process cost of one strategy pick among two deployments (the source tree's router, not the binary's). */
function pickCost(): string {
  const N = 1_000_000;
  const cands = [{ weight: 1, health: newHealth() }, { weight: 1, health: newHealth() }];
  cands[0].health.ewmaMs = 2.0;
  cands[1].health.ewmaMs = 2.2;
  const load = Uint8Array.from({ length: 4096 }, () => Math.floor(Math.random() * 6)); // in-flight counts that move
  const rows: string[][] = [];
  for (const strategy of STRATEGIES) {
    let sink = 0;
    for (let i = 0; i < 100_000; i++) sink += pick(cands, strategy).weight; // warm-up (JIT)
    const t0 = Bun.nanoseconds();
    for (let i = 0; i < N; i++) {
      cands[i & 1].health.inflight = load[i & 4095];
      sink += pick(cands, strategy).weight;
    }
    const ns = (Bun.nanoseconds() - t0) / N;
    if (sink < 0) console.log(sink);
    rows.push([strategy, f1(ns)]);
  }
  return table(["strategy", "ns per pick (2 deployments)"], rows, ["l", "r"]);
}

// ---------------------------------------------------------------------------------------------
// Section 2: failover

type Fault = "kill" | "hang";

interface Rec { start: number; end: number; status: number; attempts: number; up: "a" | "b" | "?"; err: string }

/** 32 workers, each sending one non-streaming chat completion after the other until `untilMs` (performance.now()). */
async function loadLoop(base: string, t0: number, untilMs: number, recs: Rec[]): Promise<void> {
  const body = JSON.stringify({ model: "mock-gpt", messages: [{ role: "user", content: "Say hello" }] });
  const worker = async () => {
    while (performance.now() < untilMs && !interrupted) {
      const start = performance.now();
      let status = 0;
      let attempts = 1;
      let up: Rec["up"] = "?";
      let err = "";
      try {
        const r = await fetch(`${base}/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body, signal: AbortSignal.timeout(CLIENT_TIMEOUT_MS) });
        const text = await r.text();
        status = r.status;
        attempts = Number(r.headers.get("x-warden-attempts") ?? "1") || 1;
        const m = text.match(/"completion_tokens":(\d+)/);
        if (status === 200 && m) up = Number(m[1]) === TOKENS_A ? "a" : Number(m[1]) === TOKENS_B ? "b" : "?";
        if (status !== 200) {
          let code = "";
          try { code = JSON.parse(text)?.error?.code ?? ""; } catch {}
          err = `HTTP ${status}${code ? ` ${code}` : ""}`;
        }
      } catch (e) {
        err = (e as Error).name === "TimeoutError" ? `client timeout (${CLIENT_TIMEOUT_MS} ms)` : `exception: ${(e as Error).message}`;
      }
      recs.push({ start: start - t0, end: performance.now() - t0, status, attempts, up, err });
    }
  };
  await Promise.all(Array.from({ length: WORKERS }, worker));
}

interface FailoverResult {
  fault: Fault;
  strategy: Strategy;
  label: string;
  recs: Rec[];
  killAt: number; // ms after the load started
  availBefore: Map<string, number>;
  availAfter: Map<string, number>;
  retries: Map<string, number>;
  cooldowns: Map<string, number>;
  wardenAlive: boolean;
  failed?: string;
}

async function failover(fault: Fault, strategy: Strategy): Promise<FailoverResult> {
  const label = `${fault === "kill" ? "a killed (SIGKILL)" : "a hung (SIGSTOP)"}, ${strategy}`;
  const res: FailoverResult = { fault, strategy, label, recs: [], killAt: NaN, availBefore: new Map(), availAfter: new Map(), retries: new Map(), cooldowns: new Map(), wardenAlive: true };
  const started: Server[] = [];
  try {
    const a = await startMock(`mock-a-${fault}-${strategy}`, TOKENS_A);
    started.push(a);
    const b = await startMock(`mock-b-${fault}-${strategy}`, TOKENS_B);
    started.push(b);
    const warden = await startWarden(label, [{ name: "a", port: a.port }, { name: "b", port: b.port }], { WARDEN_ROUTING_STRATEGY: strategy, ...(fault === "hang" ? HANG_ENV : {}) });
    started.push(warden);
    res.availBefore = await scrape(warden.port, "warden_upstream_available");
    const base = `http://${HOST}:${warden.port}/v1`;
    const t0 = performance.now();
    const load = loadLoop(base, t0, t0 + FAIL_S * 1000, res.recs);
    await Bun.sleep(Math.max(0, t0 + KILL_S * 1000 - performance.now()));
    res.killAt = performance.now() - t0;
    killGroup(a.proc, fault === "kill" ? "SIGKILL" : "SIGSTOP");
    await load;
    res.availAfter = await scrape(warden.port, "warden_upstream_available");
    res.retries = await scrape(warden.port, "warden_upstream_retries_total");
    res.cooldowns = await scrape(warden.port, "warden_upstream_cooldowns_total");
    res.wardenAlive = alive(warden);
    if (fault === "hang") killGroup(a.proc, "SIGCONT");
  } catch (e) {
    res.failed = (e as Error).message;
    console.error(`${label}: ${res.failed}`);
  } finally {
    for (const s of started.reverse()) await stopServer(s);
  }
  return res;
}

interface FailoverStats {
  total: number; ok: number; errors: number; errBefore: number; errFirstSecond: number; errLater: number;
  firstErr: number; lastErr: number; errKinds: string;
  retried: number; attemptsHist: string; lastAffectedStart: number; lastAffectedEnd: number;
  viaAAfter: number; lastViaA: number;
  before: { n: number; p50: number; p99: number; max: number }; after: { n: number; p50: number; p99: number; max: number };
  rpsBefore: number;
}

function stats(r: FailoverResult): FailoverStats {
  const k = r.killAt;
  const lat = (xs: Rec[]) => {
    const s = xs.map((x) => x.end - x.start).sort((p, q) => p - q);
    return { n: s.length, p50: pct(s, 50), p99: pct(s, 99), max: s.length ? s[s.length - 1] : NaN };
  };
  const errs = r.recs.filter((x) => x.status !== 200);
  const kinds = new Map<string, number>();
  for (const e of errs) kinds.set(e.err, (kinds.get(e.err) ?? 0) + 1);
  const retried = r.recs.filter((x) => x.attempts > 1);
  const hist = new Map<number, number>();
  for (const x of retried) hist.set(x.attempts, (hist.get(x.attempts) ?? 0) + 1);
  const affected = r.recs.filter((x) => x.status !== 200 || x.attempts > 1);
  const viaA = r.recs.filter((x) => x.up === "a" && x.end >= k);
  const before = r.recs.filter((x) => x.end >= k - 1000 && x.end < k);
  return {
    total: r.recs.length,
    ok: r.recs.length - errs.length,
    errors: errs.length,
    errBefore: errs.filter((x) => x.end < k).length,
    errFirstSecond: errs.filter((x) => x.end >= k && x.end < k + 1000).length,
    errLater: errs.filter((x) => x.end >= k + 1000).length,
    firstErr: errs.length ? Math.min(...errs.map((x) => x.end)) - k : NaN,
    lastErr: errs.length ? Math.max(...errs.map((x) => x.end)) - k : NaN,
    errKinds: [...kinds].map(([m, n]) => `${n}× ${m}`).join("; "),
    retried: retried.length,
    attemptsHist: [...hist].sort((p, q) => p[0] - q[0]).map(([a, n]) => `${n}× ${a}`).join(", "),
    lastAffectedStart: affected.length ? Math.max(...affected.map((x) => x.start)) - k : NaN,
    lastAffectedEnd: affected.length ? Math.max(...affected.map((x) => x.end)) - k : NaN,
    viaAAfter: viaA.length,
    lastViaA: viaA.length ? Math.max(...viaA.map((x) => x.end)) - k : NaN,
    before: lat(before),
    // Every request in flight at some moment of the second after the fault (those stuck on a included).
    after: lat(r.recs.filter((x) => x.end >= k && x.start < k + 1000)),
    rpsBefore: before.length,
  };
}

function failoverTables(results: FailoverResult[]): { summary: string; detail: string; buckets: string } {
  const sRows: string[][] = [];
  const dRows: string[][] = [];
  for (const r of results) {
    if (r.failed || r.recs.length === 0) {
      sRows.push([r.label, `run failed: ${(r.failed ?? "no requests").split("\n")[0].replace(/\|/g, "/")}`, "—", "—", "—", "—", "—", "—", "—"]);
      continue;
    }
    const s = stats(r);
    const avail = (m: Map<string, number>, u: string) => { const v = sample(m, `upstream="${u}"`); return Number.isFinite(v) ? String(v) : "—"; };
    sRows.push([
      r.label,
      fint(s.total),
      s.errors === 0 ? "0" : `**${s.errors}** (${s.errBefore} before, ${s.errFirstSecond} in 0–1 s, ${s.errLater} later; ${sign(s.firstErr)}…${sign(s.lastErr)} ms)`,
      s.retried === 0 ? "0" : `${s.retried} (attempts: ${s.attemptsHist})`,
      Number.isFinite(s.lastAffectedEnd) ? `${sign(s.lastAffectedStart)} / ${sign(s.lastAffectedEnd)}` : "none",
      `${f1(s.before.p50)} / ${f1(s.before.p99)} / ${f1(s.before.max)} (n=${s.before.n})`,
      `${f1(s.after.p50)} / ${f1(s.after.p99)} / ${f1(s.after.max)} (n=${s.after.n})`,
      `${avail(r.availBefore, "a")} → ${avail(r.availAfter, "a")}`,
      `${avail(r.availAfter, "b")}`,
    ]);
    const num = (m: Map<string, number>, u: string) => { const v = sample(m, `upstream="${u}"`); return Number.isFinite(v) ? fint(v) : "0"; };
    dRows.push([
      r.label,
      s.errKinds || "—",
      `${s.viaAAfter}${s.viaAAfter ? ` (last ${sign(s.lastViaA)} ms)` : ""}`,
      [...r.retries].map(([l, v]) => `${l.replace(/[{}"]/g, "")}: ${v}`).join("; ") || "0",
      `a: ${num(r.cooldowns, "a")}, b: ${num(r.cooldowns, "b")}`,
      r.wardenAlive ? "yes" : "**no**",
    ]);
  }
  const summary = table(
    ["scenario", "requests", "client errors (non-200)", "requests retried (attempts > 1)", "last retried/failed request: start / end, ms after the fault", "p50 / p99 / max ms, 1 s before", "p50 / p99 / max ms, 1 s after", "available{a}: before → after", "available{b} after"],
    sRows,
    ["l", "r", "l", "l", "r", "r", "r", "r", "r"],
  );
  const detail = table(
    ["scenario", "error kinds", "replies from a after the fault", "warden_upstream_retries_total", "warden_upstream_cooldowns_total", "Warden alive after"],
    dRows,
    ["l", "l", "r", "l", "l", "l"],
  );
  // Per 500 ms bucket of completion time around the fault: completed (errors, retried, from a).
  const head = ["bucket (ms after the fault)", ...results.map((r) => r.label)];
  const bRows: string[][] = [];
  for (let i = -BUCKETS_BEFORE; i < BUCKETS_AFTER; i++) {
    const lo = i * BUCKET_MS, hi = lo + BUCKET_MS;
    const row = [`${lo >= 0 ? "+" : ""}${lo} … ${hi >= 0 ? "+" : ""}${hi}`];
    for (const r of results) {
      if (r.recs.length === 0) { row.push("—"); continue; }
      const xs = r.recs.filter((x) => x.end - r.killAt >= lo && x.end - r.killAt < hi);
      const e = xs.filter((x) => x.status !== 200).length;
      const rt = xs.filter((x) => x.attempts > 1).length;
      const fa = xs.filter((x) => x.up === "a").length;
      row.push(`${xs.length} (a ${fa}, retried ${rt}${e ? `, **err ${e}**` : ""})`);
    }
    bRows.push(row);
  }
  const buckets = table(head, bRows, ["l", ...results.map(() => "r" as const)]);
  return { summary, detail, buckets };
}

// ---------------------------------------------------------------------------------------------
// Main

async function sh(cmd: string): Promise<string> {
  return (await run(["/bin/sh", "-c", cmd], { timeoutMs: 10_000 })).stdout.trim();
}

async function ensureWrk(): Promise<string> {
  const have = async () => (await run(["/bin/sh", "-c", "command -v wrk"], { timeoutMs: 5000 })).code === 0;
  if (!(await have())) {
    console.log("wrk not found: installing it with apt-get (Debian package 'wrk')");
    const env = baseEnv({ DEBIAN_FRONTEND: "noninteractive" });
    let r = await run(["apt-get", "install", "-y", "wrk"], { env, timeoutMs: 300_000 });
    if (r.code !== 0) {
      await run(["apt-get", "update"], { env, timeoutMs: 300_000 });
      r = await run(["apt-get", "install", "-y", "wrk"], { env, timeoutMs: 300_000 });
    }
    if (r.code !== 0 || !(await have())) throw new Error(`wrk is required and could not be installed (apt-get install -y wrk exited ${r.code}); install it by hand and re-run.`);
  }
  const v = await run(["wrk", "--version"], { timeoutMs: 5000 });
  return (v.stdout + v.stderr).split("\n")[0].trim();
}

function wardenWarnings(): { count: number; lines: string[] } {
  let count = 0;
  const lines: string[] = [];
  for (const { label, log } of wardenLogs) {
    const distinct = new Map<string, number>();
    for (const l of (existsSync(log) ? readFileSync(log, "utf8") : "").split("\n")) {
      if (!l.startsWith("{")) continue;
      try {
        const j = JSON.parse(l);
        if (typeof j.msg === "string" && j.msg.startsWith("WARDEN_MASTER_KEY is not set")) continue; // expected: auth off
        count++;
        const extra = j.upstream ? ` (upstream ${j.upstream}${j.code ? `, ${j.code}` : ""})` : j.code ? ` (${j.code})` : "";
        const key = `${j.level}: ${j.msg}${extra}`;
        distinct.set(key, (distinct.get(key) ?? 0) + 1);
      } catch {}
    }
    if (distinct.size) lines.push(`  - ${label}: ${[...distinct].slice(0, 8).map(([k, n]) => `${n}× ${k}`).join("; ")}`);
  }
  return { count, lines };
}

async function main(): Promise<void> {
  const startedAt = new Date();
  workDir = mkdtempSync(join(tmpdir(), "warden-routing-"));
  CLK_TCK = Number(await sh("getconf CLK_TCK")) || 100;
  const wrkVersion = await ensureWrk();

  if (opts.build || !existsSync(WARDEN)) {
    console.log(`building dist/warden (${opts.build ? "--build" : "missing"}) ...`);
    const b = spawn({ cmd: [BUN, "build.ts"], cwd: ROOT, stdout: "inherit", stderr: "inherit", env: { ...process.env } });
    children.add(b);
    if ((await b.exited) !== 0) throw new Error("bun build.ts failed");
    children.delete(b);
  }
  const binHash = async (path: string) => new Bun.CryptoHasher("sha256").update(await Bun.file(path).arrayBuffer()).digest("hex");
  const wardenBuilt = statSync(WARDEN).mtime.toISOString();
  wardenBin = join(workDir, "bin", "warden");
  mkdirSync(dirname(wardenBin), { recursive: true });
  copyFileSync(WARDEN, wardenBin); // a rebuild during the run changes nothing
  chmodSync(wardenBin, 0o755);
  const wardenSha = await binHash(wardenBin);
  const head = (await run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], { timeoutMs: 10_000 })).stdout.trim() || "?";
  const dirty = (await run(["git", "-C", ROOT, "status", "--porcelain", "--", "src", "ffi", "build.ts", "package.json"], { timeoutMs: 10_000 })).stdout.split("\n").filter(Boolean).length;

  const cpuModel = readFileSync("/proc/cpuinfo", "utf8").match(/^model name\s*:\s*(.+)$/m)?.[1]?.trim() ?? "unknown";
  const memKb = Number(readFileSync("/proc/meminfo", "utf8").match(/^MemTotal:\s*(\d+)/m)?.[1] ?? 0);
  const nproc = await sh("nproc");
  NPROC = Number(nproc) || 2;
  const idleS = opts.quick ? 1 : 2;
  const idle0 = machineCpuSeconds();
  await Bun.sleep(idleS * 1000);
  const otherBefore = (100 * (machineCpuSeconds() - idle0)) / (idleS * NPROC);
  if (otherBefore > 10) console.warn(`WARNING: ${f1(otherBefore)} % of the machine's CPU is busy before the benchmark started: another workload will skew the results`);
  const kernel = await sh("uname -r");
  const wv = await run([wardenBin, "version"], { env: baseEnv({ WARDEN_DATA_DIR: join(workDir, "version-data") }), timeoutMs: 30_000, cwd: workDir });
  const wardenVersion = wv.stdout.trim().split("\n").join(", ") || `(warden version failed: ${wv.stderr.trim()})`;

  // Section 1: two mocks for the whole section.
  const mock1 = await startMock("mock-1", WRK_TOKENS);
  const mock2 = await startMock("mock-2", WRK_TOKENS);
  console.log(`mocks up: :${mock1.port}, :${mock2.port} (logs in ${workDir})`);
  let ov: OverheadResult[];
  try {
    ov = await overhead(mock1, mock2);
  } finally {
    await stopServer(mock2);
    await stopServer(mock1);
  }
  const ovt = overheadTables(ov);
  const picks = pickCost();
  console.log(`\n${ovt.main}\n\n${ovt.ratio}\n\n${picks}\n`);
  if (interrupted) return;

  // Section 2: failover.
  console.log(`== failover (${WORKERS} workers, ${FAIL_S} s, mock a killed or hung at ${KILL_S} s)`);
  const fo: FailoverResult[] = [];
  for (const fault of ["kill", "hang"] as const) {
    for (const strategy of ["weighted", "p2c"] as const) {
      if (interrupted) return;
      const r = await failover(fault, strategy);
      fo.push(r);
      if (!r.failed) {
        const s = stats(r);
        console.log(`${r.label.padEnd(28)} ${s.total} requests, ${s.errors} errors, ${s.retried} retried, last affected ends ${sign(s.lastAffectedEnd)} ms, p99 before/after ${f1(s.before.p99)}/${f1(s.after.p99)} ms`);
      }
      await Bun.sleep(300);
    }
  }
  const fot = failoverTables(fo);
  console.log(`\n${fot.summary}\n\n${fot.detail}\n\n${fot.buckets}\n`);

  const warn = wardenWarnings();
  const now = new Date();
  const cmd = ["./node_modules/.bin/bun", "bench/routing.ts", ...process.argv.slice(2)].map((a) => (/^[\w./=:-]+$/.test(a) ? a : `'${a.replace(/'/g, "'\\''")}'`)).join(" ");
  const maxOther = Math.max(0, ...ov.flatMap((r) => [r.c32?.other_cpu_pct, r.c1?.other_cpu_pct]).filter((x): x is number => Number.isFinite(x)));
  const startMs = ov.map((r) => r.startMs).filter(Number.isFinite);
  const md = `# Warden benchmark — routing overhead and failover${opts.quick ? " (quick smoke run)" : ""}

Command: \`${cmd}\`

Date: ${startedAt.toISOString()} (start) to ${now.toISOString()} (end)

## Machine

| fact | value |
| :--- | :--- |
| nproc | ${nproc} |
| CPU | ${cpuModel} |
| memory | ${(memKb / 1048576).toFixed(1)} GiB |
| kernel | ${kernel} |
| Bun (runner, mocks, failover client) | ${Bun.version} |
| Warden (\`dist/warden version\`) | ${wardenVersion} |
| Warden binary | \`dist/warden\` sha256 ${wardenSha.slice(0, 16)}…, built ${wardenBuilt} (run from a private copy) |
| source tree | git ${head}${dirty ? `, ${dirty} uncommitted change(s) under src/, ffi/, build.ts, package.json (the binary may include them)` : ", clean"} |
| wrk | ${wrkVersion} |

All processes — load generator, mock upstreams and Warden — share these ${nproc} cores: absolute numbers mean little,
so compare configurations within this one run only. Differences of a few percent between configurations are within
the noise${opts.quick ? "" : " ((b′) is a second Warden configured exactly as (b): the gap between them shows how large that noise is)"}.

## 1. Routing overhead (wrk)

Mock upstreams: two \`bench/mock-upstream.ts --tokens ${WRK_TOKENS} --no-record\` processes, up for the whole section.
Warden: \`dist/warden serve\` with \`WARDEN_UPSTREAM_A_URL\`/\`_MODELS=mock-gpt\` (and \`WARDEN_UPSTREAM_B_*\` for two upstreams,
weight 1 each; in (d) both URLs name the same mock process, so the router has two deployments to choose from but the machine
runs one mock, as in (b)), \`WARDEN_ROUTING_STRATEGY\` as named (default weighted otherwise), \`WARDEN_LOG_LEVEL=warn\`, no master key,
default retries and audit mode. One Warden start (and data dir) per configuration; all of them are started first and stay
up, idle when not measured, so that the configurations run interleaved: every configuration at c=32, then every one at c=1.

\`wrk -t{1 for c=1, else 2} -c{c} -d${opts.durationS}s --timeout 5s -s bench/wrk-chat.lua\`, ${WRK_TOKENS}-token replies, after a ${WARMUP_S} s
warm-up per configuration at c=32. Latency is wrk's (not corrected for coordinated omission). "Warden CPU" is the CPU time
Warden used during the run per request served; "mocks CPU" the same for the mock(s) in use; "a / b split" is each
upstream's share of Warden's upstream calls (warden_upstream_duration_seconds_count, warm-up included); "other CPU %" is the
share of all cores used during the run by processes that are not part of this benchmark.

${ovt.main}

Each routed configuration against (b), Warden with one upstream — the router's own cost (req/s as a fraction; latency
and Warden's CPU per request as a difference):

${ovt.ratio}

For scale, the strategy's pick itself, in-process (\`pick()\` of src/router/strategies.ts from the source tree, two
deployments whose in-flight counts change between calls, 1 M calls after a warm-up; not measured: the rest of the
router's per-request work — the pool of available deployments, the health bookkeeping):

${picks}

## 2. Failover

Per scenario: fresh mocks a (\`--tokens ${TOKENS_A}\`) and b (\`--tokens ${TOKENS_B}\`: a reply's completion_tokens tells which upstream
answered), a fresh Warden with both serving mock-gpt, \`WARDEN_ROUTING_STRATEGY\` as named, default retries (2), backoff,
cooldown (3 failures, 30 s) and timeouts; the "hung" scenarios add \`WARDEN_FIRST_BYTE_TIMEOUT_MS=1000\` and
\`WARDEN_CONNECT_TIMEOUT_MS=500\`. The client is a fetch loop in the runner: ${WORKERS} workers, each sending one non-streaming
chat completion (no \`mock\` override) after the other for ${FAIL_S} s, client timeout ${CLIENT_TIMEOUT_MS / 1000} s. At ${KILL_S} s
mock a is sent SIGKILL ("killed") or SIGSTOP ("hung": its sockets stay open, the kernel still accepts connections, nothing
answers; it gets SIGCONT and is killed after the run). Times are relative to that signal ("the fault"). Latency "1 s before":
the requests that completed in the second before the fault; "1 s after": every request in flight at some moment of the
second after it (those already under way at the fault included). "last retried/failed request" is the last request that either failed
or carried \`x-warden-attempts\` > 1: when its start is near 0, traffic moved at once. warden_upstream_available and the
counters are scraped from /metrics before the load and right after it (within the 30 s cooldown).

${fot.summary}

${fot.detail}

Requests completed per ${BUCKET_MS} ms bucket around the fault (by completion time): total (of which answered by a, retried, errors).

${fot.buckets}

## Notes

- other CPU: ${f1(otherBefore)} % of all cores busy with other processes in the ${idleS} s before the servers started, at most
  ${f1(maxOther)} % during a wrk run.
- Warden start to /ready: ${startMs.length ? `${fint(Math.min(...startMs))}–${fint(Math.max(...startMs))} ms` : "—"}.
- Warden log lines at warn level and above (the "master key not set" warning excepted): ${warn.count === 0 ? "none" : warn.count}
${warn.lines.join("\n")}
`;
  const out = resolve(opts.out ?? join(BENCH, "results", `${startedAt.toISOString().slice(0, 10)}-routing.md`));
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, md);
  if (warn.lines.length) console.log(`Warden warnings:\n${warn.lines.join("\n")}`);
  console.log(`\nwrote ${relative(process.cwd(), out) || out} in ${((now.getTime() - startedAt.getTime()) / 1000).toFixed(0)} s`);
}

try {
  await main();
  killAllSync();
  if (!opts.keepLogs && workDir) rmSync(workDir, { recursive: true, force: true });
  else if (workDir) console.log(`logs kept in ${workDir}`);
  process.exit(interrupted ? 130 : 0);
} catch (e) {
  console.error(`bench/routing.ts: ${(e as Error).stack ?? (e as Error).message}`);
  killAllSync();
  if (workDir) console.error(`logs kept in ${workDir}`);
  process.exit(1);
}
