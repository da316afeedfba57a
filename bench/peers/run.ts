// Warden side by side with the gateways people use today (issue #7), on this machine, in one run:
// direct to the mock upstream, the bare Bun pass-through (bench/passthrough.ts), Warden with every
// hot-path stage on, Portkey's gateway, LiteLLM's proxy and Bifrost (each peer at its documented
// defaults; installed by bench/peers/setup.ts, which this runs first).
//
//   ./node_modules/.bin/bun bench/peers/run.ts [--quick] [--out DIR] [--duration S] [--extra-duration S]
//       [--stream-duration S] [--soak S] [--targets direct,passthrough,warden,portkey,litellm,bifrost]
//       [--streams 100,1000,...] [--wait-quiet S] [--warmup S] [--no-setup] [--build] [--keep-logs]
//
// Scenarios (targets interleaved at every level, like bench/run.ts):
//   1. non-streaming sweep, wrk at c = 1, 4, 32, 128, 512 (and 2, 8, 16, 64, 256 for scenario 3);
//   2. streaming: N = 100, 1000, 2000, 5000, 15000 concurrent streams of 40 tokens 25 ms apart;
//   3. throughput at fixed p99 bounds (1, 5, 10, 50 ms), from the sweep's points;
//   4. soak: 10 minutes of paced load at 70 % of Warden's best req/s; Warden's RSS and open fds
//      every 10 s (the peers are not soaked: the run would not fit in 30 minutes).
// The system under test runs on core 0 (taskset), the load generator, both mocks and this runner on
// core 1. Writes bench/results/<date>-peers-{summary,nonstreaming,streaming,throughput,soak}.md and
// <date>-peers-{latency,stream-gap,soak}.png (`-peers-quick-` with --quick); see bench/README.md.
// Every child runs in its own process group and every group is killed at the end, on error and on
// Ctrl-C. Only 127.0.0.1 is ever a target.
import { spawn, type Subprocess } from "bun";
import { chmodSync, closeSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { renderPng, type Panel, type Series } from "./chart";
import { PEERS_DIR, bifrostBin, litellmBin, portkeyEntry, readStatus, setupPeers, statusFile, type PeerStatus } from "./setup";

const PEERS = import.meta.dir;
const BENCH = resolve(PEERS, "..");
const ROOT = resolve(BENCH, "..");
const BUN = process.execPath;
const WARDEN = join(ROOT, "dist", "warden");
const HOST = "127.0.0.1"; // loopback only, always
const MAX_HTTP = "65336"; // Bun's fetch queues beyond 256 concurrent requests without this
const WANT_NOFILE = 65536;

// ---------------------------------------------------------------------------------------------
// Options

type Key = "direct" | "passthrough" | "warden" | "portkey" | "litellm" | "bifrost";
const ALL_KEYS: Key[] = ["direct", "passthrough", "warden", "portkey", "litellm", "bifrost"];

interface Opts {
  quick: boolean;
  out: string;
  durationS: number;
  extraDurationS: number;
  streamDurationS: number;
  soakS: number;
  targets: Key[];
  streams: number[] | undefined;
  setup: boolean;
  build: boolean;
  waitQuietS: number;
  keepLogs: boolean;
  warmupS: number;
}

function usage(msg?: string): never {
  if (msg) console.error(`bench/peers/run.ts: ${msg}`);
  console.error(
    "usage: bun bench/peers/run.ts [--quick] [--out DIR] [--duration S] [--extra-duration S] [--stream-duration S] [--soak S]\n" +
      "                              [--targets direct,passthrough,warden,portkey,litellm,bifrost] [--streams N,N,...] [--wait-quiet S] [--warmup S] [--no-setup] [--build] [--keep-logs]",
  );
  process.exit(2);
}

function parseArgs(argv: string[]): Opts {
  const o: Opts = { quick: false, out: join(BENCH, "results"), durationS: 8, extraDurationS: 5, streamDurationS: 8, soakS: 600, targets: ALL_KEYS, streams: undefined, setup: true, build: false, waitQuietS: NaN, keepLogs: false, warmupS: 10 };
  const set = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const secs = (min = 1) => {
      const v = Number(argv[++i]);
      if (!Number.isFinite(v) || v < min || v > 3600) usage(`${argv[i - 1]} needs a number of seconds in ${min}..3600`);
      set.add(argv[i - 1]);
      return Math.round(v);
    };
    switch (argv[i]) {
      case "--quick": o.quick = true; break;
      case "--warmup": o.warmupS = secs(); break;
      case "--out": o.out = resolve(argv[++i] ?? usage("--out needs a directory")); break;
      case "--duration": o.durationS = secs(); break;
      case "--extra-duration": o.extraDurationS = secs(0); break;
      case "--stream-duration": o.streamDurationS = secs(); break;
      case "--soak": o.soakS = secs(0); break;
      case "--targets": {
        const ks = (argv[++i] ?? "").split(",").filter(Boolean) as Key[];
        if (ks.length === 0 || ks.some((k) => !ALL_KEYS.includes(k))) usage(`--targets takes a comma-separated list of ${ALL_KEYS.join(", ")}`);
        o.targets = ALL_KEYS.filter((k) => ks.includes(k));
        break;
      }
      case "--streams": {
        const ns = (argv[++i] ?? "").split(",").map(Number);
        if (ns.length === 0 || ns.some((n) => !Number.isInteger(n) || n < 1 || n > 50_000)) usage("--streams takes a comma-separated list of stream counts (1..50000)");
        o.streams = ns;
        break;
      }
      case "--no-setup": o.setup = false; break;
      case "--wait-quiet": o.waitQuietS = secs(0); break;
      case "--build": o.build = true; break;
      case "--keep-logs": o.keepLogs = true; break;
      case "-h": case "--help": usage();
      default: usage(`unknown argument: ${argv[i]}`);
    }
  }
  if (o.quick) {
    if (!set.has("--duration")) o.durationS = 2;
    if (!set.has("--extra-duration")) o.extraDurationS = 0;
    if (!set.has("--stream-duration")) o.streamDurationS = 3;
    if (!set.has("--soak")) o.soakS = 30;
  }
  return o;
}

const opts = parseArgs(process.argv.slice(2));
const MAIN_LEVELS = [1, 4, 32, 128, 512]; // scenario 1
const EXTRA_LEVELS = opts.extraDurationS > 0 ? [2, 8, 16, 64, 256] : []; // more points for scenario 3
const LEVELS = [...MAIN_LEVELS, ...EXTRA_LEVELS].sort((a, b) => a - b);
const STREAM_LEVELS = opts.streams ?? (opts.quick ? [100, 1000] : [100, 1000, 2000, 5000, 15000]);
const P99_BOUNDS_MS = [1, 5, 10, 50];
const NS_TOKENS = 16; // non-streaming replies: the mock's default
const ST_TOKENS = 40; // streams: 40 tokens ...
const ST_DELAY_MS = 25; // ... 25 ms apart
// Long enough for every target's JIT to settle (Warden's was still compiling 8 s into a c=32 run).
const WARMUP_S = opts.quick && !process.argv.includes("--warmup") ? 1 : opts.warmupS;
const SOAK_FRACTION = 0.7;
const SOAK_CONNS = 256; // room for the paced requests when latency spikes
const SOAK_SEGMENT_S = opts.quick ? 10 : 30;
const SOAK_SAMPLE_S = opts.quick ? 2 : 10;
const IDLE_MS = 10_000; // a stream with no byte for this long is stalled
const TAIL_MS = opts.quick ? 15_000 : 30_000; // streams still open this long after the last start are cut
const QUIET_WAIT_S = Number.isFinite(opts.waitQuietS) ? opts.waitQuietS : opts.quick ? 10 : 120; // at most this long waiting for other workloads to calm down
const NOISY_PCT = 25; // a wrk point during which other processes used more than this share of the machine is run again, once
const rampMs = (n: number) => (n <= 2000 ? 1000 : Math.round(n / 2)); // 15 000 streams: 7.5 s, not a SYN flood
const SUT_CPUS = "0";
const LOAD_CPUS = "1";
const DATE = new Date().toISOString().slice(0, 10);
const PREFIX = `${DATE}-peers${opts.quick ? "-quick" : ""}`;

// ---------------------------------------------------------------------------------------------
// Child processes: each server in its own process group; every group is killed on exit or signal.

const children = new Set<Subprocess>();
let workDir = "";
let pinning = false; // taskset usable and at least 2 cores

function killGroup(p: Subprocess, sig: NodeJS.Signals): void {
  try { process.kill(-p.pid, sig); } catch {}
  try { p.kill(sig); } catch {}
}
const exited = (p: Subprocess) => p.exitCode !== null || p.signalCode !== null;

function killAllSync(): void {
  for (const p of children) killGroup(p, "SIGKILL");
  children.clear();
}

async function stopProc(p: Subprocess, graceMs = 3000): Promise<void> {
  if (!exited(p)) {
    killGroup(p, "SIGTERM");
    await Promise.race([p.exited, Bun.sleep(graceMs)]);
  }
  killGroup(p, "SIGKILL");
  await Promise.race([p.exited, Bun.sleep(1000)]);
  children.delete(p);
}

process.on("exit", killAllSync);
let interrupted = false;
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
  process.on(sig, () => {
    if (interrupted) return;
    interrupted = true;
    console.error(`\nbench/peers/run.ts: ${sig}: stopping all child processes`);
    killAllSync();
    if (!opts.keepLogs && workDir) rmSync(workDir, { recursive: true, force: true });
    process.exit(130);
  });
}

const RAISE_NOFILE = `ulimit -n ${WANT_NOFILE} 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$@"`;
const pin = (cpus: string, cmd: string[]) => (pinning ? ["taskset", "-c", cpus, ...cmd] : cmd);
/** A server: pinned, in a new session (own process group), open-files limit raised, then exec. */
const serverCmd = (cpus: string, cmd: string[]) => pin(cpus, ["setsid", "/bin/sh", "-c", RAISE_NOFILE, "sh", ...cmd]);
/** A load generator: pinned to the load core, open-files limit raised. */
const loadCmd = (cmd: string[]) => pin(LOAD_CPUS, ["/bin/sh", "-c", RAISE_NOFILE, "sh", ...cmd]);

function baseEnv(extra: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = { PATH: process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin", HOME: process.env.HOME ?? "/tmp" };
  if (process.env.TMPDIR) env.TMPDIR = process.env.TMPDIR;
  return { ...env, ...extra };
}

interface Server { name: string; proc: Subprocess; log: string; port: number; cmd: string; role: "mock" | "sut" }
const SERVERS: Server[] = [];

const q = (a: string) => (/^[\w./=:@,+-]+$/.test(a) ? a : `'${a.replace(/'/g, "'\\''")}'`);

function startServer(name: string, role: Server["role"], cpus: string, cmd: string[], env: Record<string, string>, port: number, shownEnv: string[] = [], cwd = ROOT): Server {
  const log = join(workDir, `${name}.log`);
  const fd = openSync(log, "w");
  const proc = spawn({ cmd: serverCmd(cpus, cmd), env, cwd, stdin: "ignore", stdout: fd, stderr: fd });
  closeSync(fd);
  children.add(proc);
  const shown = [...(pinning ? [`taskset -c ${cpus}`] : []), ...shownEnv.map((k) => `${k}=${q(env[k] ?? "")}`), ...cmd.map((a) => q(a.startsWith(workDir) ? `$WORK${a.slice(workDir.length)}` : a.startsWith(PEERS_DIR) ? `$PEERS${a.slice(PEERS_DIR.length)}` : a.startsWith(ROOT + "/") ? relative(ROOT, a) : a))].join(" ");
  const s: Server = { name, proc, log, port, cmd: shown, role };
  SERVERS.push(s);
  return s;
}

const alive = (s: Server) => !exited(s.proc);

function tail(path: string, lines = 30): string {
  try {
    return readFileSync(path, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

async function waitReady(s: Server, url: string, timeoutMs: number, headers: Record<string, string> = {}): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (!alive(s)) throw new Error(`${s.name} exited (code ${s.proc.exitCode ?? s.proc.signalCode}) before it was ready:\n${tail(s.log)}`);
    try {
      const r = await fetch(url, { headers, signal: AbortSignal.timeout(1000) });
      await r.arrayBuffer();
      if (r.status === 200) return;
    } catch {}
    await Bun.sleep(100);
  }
  throw new Error(`${s.name} not ready at ${url} after ${timeoutMs} ms:\n${tail(s.log)}`);
}

async function freePort(): Promise<number> {
  const l = Bun.listen({ hostname: HOST, port: 0, socket: { data() {} } });
  const port = l.port;
  l.stop(true);
  return port;
}

async function run(cmd: string[], o: { env?: Record<string, string>; timeoutMs: number; cwd?: string }): Promise<{ code: number | null; stdout: string; stderr: string; cpuS: number }> {
  const proc = spawn({ cmd, env: o.env ?? baseEnv({}), cwd: o.cwd ?? ROOT, stdin: "ignore", stdout: "pipe", stderr: "pipe", timeout: o.timeoutMs, killSignal: "SIGKILL" });
  children.add(proc);
  try {
    const [stdout, stderr] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
    const code = await proc.exited;
    const cpu = proc.resourceUsage()?.cpuTime.total;
    return { code, stdout, stderr, cpuS: cpu === undefined ? NaN : Number(cpu) / 1e6 };
  } finally {
    children.delete(proc);
  }
}

async function sh(cmd: string, timeoutMs = 10_000): Promise<string> {
  const r = await run(["/bin/sh", "-c", cmd], { timeoutMs });
  return (r.stdout.trim() || r.stderr.trim());
}

// ---------------------------------------------------------------------------------------------
// /proc accounting: a server's CPU is its whole process group's (utime + stime of every process
// in it, plus cutime + cstime: the children it reaped), its memory the sum of their RSS.

let CLK_TCK = 100;
let NPROC = 2;

interface ProcStat { pgrp: number; ticks: number }
function procStats(): Map<number, ProcStat> {
  const out = new Map<number, ProcStat>();
  for (const d of readdirSync("/proc")) {
    const pid = Number(d);
    if (!Number.isInteger(pid)) continue;
    try {
      const s = readFileSync(`/proc/${pid}/stat`, "utf8");
      const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
      out.set(pid, { pgrp: Number(f[2]), ticks: Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]) });
    } catch {}
  }
  return out;
}

function groupPidsOf(stats: Map<number, ProcStat>, pgid: number): number[] {
  const out: number[] = [];
  for (const [pid, s] of stats) if (s.pgrp === pgid) out.push(pid);
  return out;
}

function machineCpuSeconds(): number {
  const f = readFileSync("/proc/stat", "utf8").split("\n", 1)[0].trim().split(/\s+/).slice(1).map(Number);
  return (f[0] + f[1] + f[2] + f[5] + f[6]) / CLK_TCK;
}

function rssKb(pid: number): number {
  try {
    const m = readFileSync(`/proc/${pid}/status`, "utf8").match(/^VmRSS:\s*(\d+)/m);
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

function fdCount(pid: number): number {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return NaN;
  }
}

function procStatus(pid: number, key: string): string {
  try {
    const m = readFileSync(`/proc/${pid}/status`, "utf8").match(new RegExp(`^${key}:\\s*(.+)$`, "m"));
    return m ? m[1].trim() : "?";
  } catch {
    return "?";
  }
}

interface Snapshot { t: number; machine: number; groups: Map<number, number>; alive: number; self: number }
function snapshot(): Snapshot {
  const stats = procStats();
  const groups = new Map<number, number>();
  let n = 0;
  for (const s of SERVERS) {
    if (!alive(s)) continue;
    n++;
    let ticks = 0;
    for (const pid of groupPidsOf(stats, s.proc.pid)) ticks += stats.get(pid)!.ticks;
    groups.set(s.proc.pid, ticks / CLK_TCK);
  }
  const self = process.cpuUsage();
  return { t: performance.now(), machine: machineCpuSeconds(), groups, alive: n, self: (self.user + self.system) / 1e6 };
}

interface CpuUse { sut_cpu_s: number; sut_core_pct: number; mocks_cpu_s: number; idle_suts_cpu_pct: number; other_cpu_pct: number }
/** The SUT's CPU seconds during a run, the mocks', the other (idle) gateways' share of the machine,
 * and "other CPU %": the share of all cores used by processes that are not part of this benchmark. */
function cpuDuring(a: Snapshot, b: Snapshot, loadgenCpuS: number, sut: Server): CpuUse {
  const d = (s: Server) => (b.groups.get(s.proc.pid) ?? NaN) - (a.groups.get(s.proc.pid) ?? NaN);
  let ours = (b.self - a.self) + (Number.isFinite(loadgenCpuS) ? loadgenCpuS : 0);
  let mocks = 0;
  let idle = 0;
  for (const s of SERVERS) {
    const x = d(s);
    if (!Number.isFinite(x)) continue;
    ours += x;
    if (s.role === "mock") mocks += x;
    else if (s !== sut) idle += x;
  }
  const wall = (b.t - a.t) / 1000;
  const other = Math.max(0, b.machine - a.machine - ours);
  const ok = wall > 0 && a.alive === b.alive;
  return {
    sut_cpu_s: d(sut),
    sut_core_pct: wall > 0 ? (100 * d(sut)) / wall : NaN,
    mocks_cpu_s: mocks,
    idle_suts_cpu_pct: ok ? (100 * idle) / (wall * NPROC) : NaN,
    other_cpu_pct: ok ? Math.min(100, (100 * other) / (wall * NPROC)) : NaN,
  };
}

/** Samples the SUT's process-group RSS (and the leader's open fds) while a run goes on. */
function peakSampler(sut: Server, everyMs: number, fds: boolean): { stop(): { rss_kb: number; fds: number } } {
  let pids = groupPidsOf(procStats(), sut.proc.pid);
  let peakRss = 0;
  let peakFds = 0;
  let n = 0;
  const tick = () => {
    if (++n % 20 === 0) pids = groupPidsOf(procStats(), sut.proc.pid);
    let r = 0;
    for (const p of pids) r += rssKb(p);
    if (r > peakRss) peakRss = r;
    if (fds) {
      const f = fdCount(sut.proc.pid);
      if (f > peakFds) peakFds = f;
    }
  };
  tick();
  const timer = setInterval(tick, everyMs);
  return {
    stop() {
      clearInterval(timer);
      tick();
      return { rss_kb: peakRss, fds: fds ? peakFds : NaN };
    },
  };
}

/** Waits (at most maxMs) until a server's process group uses under 5 % of a core: a gateway still
 * working off a queue after its run (requests the client gave up on) must not run into the next one. */
async function drain(s: Server, maxMs: number): Promise<number> {
  const t0 = performance.now();
  let prev = snapshot().groups.get(s.proc.pid) ?? NaN;
  let pt = performance.now();
  while (performance.now() - t0 < maxMs && alive(s)) {
    await Bun.sleep(500);
    const cur = snapshot().groups.get(s.proc.pid) ?? NaN;
    const now = performance.now();
    const pct = (100 * (cur - prev)) / ((now - pt) / 1000);
    prev = cur;
    pt = now;
    if (!(pct >= 5)) break;
  }
  return performance.now() - t0;
}

// ---------------------------------------------------------------------------------------------
// Targets

interface Endpoint { base: string; model: string; headers: Record<string, string>; server: Server }
interface Target {
  key: Key;
  label: string;
  color: string;
  dash?: string;
  peer: boolean;
  version: string;
  ns?: Endpoint; // non-streaming (mock with 16-token replies)
  st?: Endpoint; // streaming (mock with 40 tokens 25 ms apart)
  deadNs?: string;
  deadSt?: string;
  dead?: string; // the process died during the run
}

const LABEL: Record<Key, string> = { direct: "direct (mock)", passthrough: "pass-through", warden: "Warden", portkey: "Portkey", litellm: "LiteLLM", bifrost: "Bifrost" };
const COLOR: Record<Key, string> = { direct: "#7f7f7f", passthrough: "#1f77b4", warden: "#2ca02c", portkey: "#9467bd", litellm: "#ff7f0e", bifrost: "#8c564b" };

async function sanityNs(e: Endpoint): Promise<string | undefined> {
  try {
    const r = await fetch(`${e.base}/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json", ...e.headers },
      body: JSON.stringify({ model: e.model, messages: [{ role: "user", content: "Say hello" }] }),
      signal: AbortSignal.timeout(10_000),
    });
    const text = await r.text();
    if (r.status !== 200) return `non-streaming: HTTP ${r.status}: ${text.slice(0, 300)}`;
    const want = Array.from({ length: NS_TOKENS }, (_, i) => `tok${i}`).join(" ");
    if (JSON.parse(text)?.choices?.[0]?.message?.content !== want) return `non-streaming: unexpected body ${text.slice(0, 300)}`;
    return undefined;
  } catch (err) {
    return `non-streaming: exception: ${(err as Error).message}`;
  }
}

async function sanitySt(e: Endpoint): Promise<string | undefined> {
  try {
    const r = await fetch(`${e.base}/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json", ...e.headers },
      body: JSON.stringify({ model: e.model, messages: [{ role: "user", content: "Say hello" }], stream: true }),
      signal: AbortSignal.timeout(15_000),
    });
    const st = await r.text();
    if (r.status !== 200) return `streaming: HTTP ${r.status}: ${st.slice(0, 300)}`;
    const deltas = st.split("\n").filter((l) => l.startsWith("data:") && /"content":"[^"]/.test(l)).length;
    if (deltas !== ST_TOKENS || !st.includes("[DONE]")) return `streaming: ${deltas} content deltas (want ${ST_TOKENS}), [DONE] ${st.includes("[DONE]")}: ${st.slice(0, 200)}`;
    return undefined;
  } catch (err) {
    return `streaming: exception: ${(err as Error).message}`;
  }
}

// ---------------------------------------------------------------------------------------------
// Scenario runs

interface WrkResult {
  requests: number; duration_s: number; rps: number;
  p50_us: number; p90_us: number; p99_us: number; p999_us: number; max_us: number; mean_us: number;
  errors: { connect: number; read: number; write: number; status: number; timeout: number };
  cpu: CpuUse; peak_rss_kb: number; loadgen_cpu_s: number;
  failed?: string;
}

const headerLines = (h: Record<string, string>) => Object.entries(h).map(([k, v]) => `${k}: ${v}`).join("\n");

async function wrk(t: Target, e: Endpoint, c: number, durS: number, rate = 0): Promise<WrkResult> {
  const s0 = snapshot();
  const sampler = peakSampler(e.server, 250, false);
  const r = await run(
    loadCmd(["wrk", "-t1", `-c${c}`, `-d${durS}s`, "--timeout", "5s", "-s", join(PEERS, "wrk-peer.lua"), `${e.base}/chat/completions`]),
    { env: baseEnv({ WRK_MODEL: e.model, WRK_HEADERS: headerLines(e.headers), ...(rate > 0 ? { WRK_RATE: String(rate) } : {}) }), timeoutMs: (durS + 30) * 1000 },
  );
  const peak = sampler.stop();
  const cpu = cpuDuring(s0, snapshot(), r.cpuS, e.server);
  const line = r.stdout.split("\n").find((l) => l.startsWith("WRK_JSON "));
  const base = { cpu, peak_rss_kb: peak.rss_kb, loadgen_cpu_s: r.cpuS };
  if (!line) {
    const nan = NaN;
    return { requests: 0, duration_s: durS, rps: 0, p50_us: nan, p90_us: nan, p99_us: nan, p999_us: nan, max_us: nan, mean_us: nan, errors: { connect: 0, read: 0, write: 0, status: 0, timeout: 0 }, ...base, failed: `wrk exit ${r.code}: ${(r.stderr || r.stdout).trim().slice(0, 500)}` };
  }
  void t;
  return { ...JSON.parse(line.slice(9)), ...base };
}

interface StreamResult {
  streams: number; started: number; completed: number;
  errors: { total: number; http: number; no_done: number; error_event: number; exception: number; stalled: number };
  cut: number;
  error_samples: { msg: string; n: number }[];
  tokens: number; peak_open: number; elapsed_s: number;
  gap_ms: { count: number; p50: number; p90: number; p99: number; p999: number; max: number };
  ttft_ms: { count: number; p50: number; p99: number; max: number };
  client_cpu_s: number; overflow: number;
  cpu: CpuUse; peak_rss_kb: number; peak_fds: number;
  failed?: string;
}

async function streamRun(e: Endpoint, n: number, durS: number): Promise<StreamResult> {
  const s0 = snapshot();
  const sampler = peakSampler(e.server, 500, true);
  const ramp = rampMs(n);
  const r = await run(
    loadCmd([BUN, join(PEERS, "stream-client.ts"), "--url", e.base, "--model", e.model, "--streams", String(n), "--tokens", String(ST_TOKENS), "--delay-ms", String(ST_DELAY_MS),
      "--duration", String(durS), "--ramp-ms", String(ramp), "--idle-ms", String(IDLE_MS), "--tail-ms", String(TAIL_MS), ...Object.entries(e.headers).flatMap(([k, v]) => ["--header", `${k}: ${v}`])]),
    { env: baseEnv({ BUN_CONFIG_MAX_HTTP_REQUESTS: MAX_HTTP }), timeoutMs: ramp + durS * 1000 + TAIL_MS + 60_000 },
  );
  const peak = sampler.stop();
  const cpu = cpuDuring(s0, snapshot(), r.cpuS, e.server);
  const line = r.stdout.split("\n").find((l) => l.startsWith("STREAM_JSON "));
  if (!line) {
    const nan = NaN;
    return {
      streams: n, started: 0, completed: 0, errors: { total: 0, http: 0, no_done: 0, error_event: 0, exception: 0, stalled: 0 }, cut: 0, error_samples: [],
      tokens: 0, peak_open: 0, elapsed_s: nan, gap_ms: { count: 0, p50: nan, p90: nan, p99: nan, p999: nan, max: nan }, ttft_ms: { count: 0, p50: nan, p99: nan, max: nan },
      client_cpu_s: nan, overflow: 0, cpu, peak_rss_kb: peak.rss_kb, peak_fds: peak.fds, failed: `stream-client exit ${r.code}: ${(r.stderr || r.stdout).trim().slice(-500)}`,
    };
  }
  return { ...JSON.parse(line.slice(12)), cpu, peak_rss_kb: peak.rss_kb, peak_fds: peak.fds };
}

// ---------------------------------------------------------------------------------------------
// Formatting

const f1 = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : "—");
const f2 = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : "—");
const f3 = (x: number) => (Number.isFinite(x) ? x.toFixed(3) : "—");
const fint = (x: number) => (Number.isFinite(x) ? Math.round(x).toLocaleString("en-US") : "—");
const ms = (us: number) => us / 1000;
const mb = (kb: number) => (Number.isFinite(kb) && kb > 0 ? (kb / 1024).toFixed(0) : "—");
const sign = (x: number, d = 2) => (Number.isFinite(x) ? `${x >= 0 ? "+" : ""}${x.toFixed(d)}` : "—");
const ratio = (a: number, b: number, d = 2) => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? `${(a / b).toFixed(d)}×` : "—");

function table(head: string[], rows: string[][], align?: ("l" | "r")[]): string {
  const a = align ?? head.map((_, i) => (i < 2 ? "l" : "r"));
  const out = [`| ${head.join(" | ")} |`, `| ${a.map((x) => (x === "r" ? "---:" : ":---")).join(" | ")} |`];
  for (const r of rows) out.push(`| ${r.map((c) => c.replace(/\|/g, "/").replace(/\n/g, " ")).join(" | ")} |`);
  return out.join("\n");
}

function wrkErrTotal(r: WrkResult): number {
  const e = r.errors;
  return e.connect + e.read + e.write + e.status + e.timeout;
}
function wrkErrors(r: WrkResult): string {
  if (r.failed) return `run failed: ${r.failed}`;
  const total = wrkErrTotal(r);
  if (total === 0) return "0";
  const parts = Object.entries(r.errors).filter(([, v]) => v > 0).map(([k, v]) => `${k === "status" ? "HTTP≥400" : k} ${v}`);
  return `**${total}** (${parts.join(", ")})`;
}
function streamErrors(r: StreamResult): string {
  if (r.failed) return `run failed: ${r.failed}`;
  const { total, ...rest } = r.errors;
  if (total === 0) return "0";
  const parts = Object.entries(rest).filter(([, v]) => v > 0).map(([k, v]) => `${k.replace("_", " ")} ${v}`);
  return `**${total}** (${parts.join(", ")})`;
}

/** Least-squares slope of y over x. */
function slope(pts: { x: number; y: number }[]): number {
  const n = pts.length;
  if (n < 2) return NaN;
  const mx = pts.reduce((a, p) => a + p.x, 0) / n;
  const my = pts.reduce((a, p) => a + p.y, 0) / n;
  let num = 0;
  let den = 0;
  for (const p of pts) {
    num += (p.x - mx) * (p.y - my);
    den += (p.x - mx) ** 2;
  }
  return den > 0 ? num / den : NaN;
}

// ---------------------------------------------------------------------------------------------
// Main

interface SoakSample { t_s: number; rss_kb: number; fds: number; cpu_pct: number; audit_queue: number; audit_lost: number; ledger_records: number }

/** Gauges and counters (unlabelled samples only) from Warden's /metrics. */
async function scrape(port: number, masterKey: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  try {
    const r = await fetch(`http://${HOST}:${port}/metrics`, { headers: { authorization: `Bearer ${masterKey}` }, signal: AbortSignal.timeout(5000) });
    for (const line of (await r.text()).split("\n")) {
      const m = line.match(/^([a-z_:]+)\s+(\S+)$/);
      if (m) out.set(m[1], Number(m[2]));
    }
  } catch {}
  return out;
}
interface SoakSegment { from_s: number; r: WrkResult }

let quietWaitS = 0;

async function main(): Promise<void> {
  const startedAt = new Date();
  const t0 = performance.now();
  workDir = mkdtempSync(join(tmpdir(), "warden-peers-"));
  CLK_TCK = Number(await sh("getconf CLK_TCK")) || 100;
  NPROC = Number(await sh("nproc")) || 2;
  pinning = NPROC >= 2 && (await run(["taskset", "-c", SUT_CPUS, "true"], { timeoutMs: 5000 }).catch(() => ({ code: 1 }))).code === 0;
  if (pinning) await run(["taskset", "-a", "-p", "-c", LOAD_CPUS, String(process.pid)], { timeoutMs: 5000 }); // the runner itself: with the load
  else console.warn("WARNING: no CPU pinning (taskset unusable or a single core): the SUT shares every core with the load");

  const wrkV = await run(["wrk", "--version"], { timeoutMs: 5000 }).catch(() => ({ code: 127, stdout: "", stderr: "wrk: not found" }));
  if (!(wrkV.stdout + wrkV.stderr).includes("wrk ")) throw new Error("wrk is required (Debian package 'wrk': apt-get install -y wrk)");
  const wrkVersion = (wrkV.stdout + wrkV.stderr).split("\n")[0].trim();

  // Peers.
  let statuses: PeerStatus[];
  if (opts.setup) {
    console.log(`== peers: installing or checking them in ${PEERS_DIR} (bench/peers/setup.ts)`);
    statuses = await setupPeers({ only: (["portkey", "litellm", "bifrost"] as const).filter((k) => opts.targets.includes(k)), log: (s) => console.log(s) });
  } else {
    statuses = readStatus() ?? [];
    if (statuses.length === 0) throw new Error(`--no-setup, but ${statusFile()} is missing: run bench/peers/setup.ts first`);
  }
  const status = (k: Key) => statuses.find((s) => s.name === k);

  if (opts.build || !existsSync(WARDEN)) {
    console.log(`building dist/warden (${opts.build ? "--build" : "missing"}) ...`);
    const b = await run([BUN, "build.ts"], { env: { ...process.env } as Record<string, string>, timeoutMs: 600_000 });
    if (b.code !== 0) throw new Error(`bun build.ts failed:\n${b.stderr.slice(-2000)}`);
  }
  const binHash = async (path: string) => new Bun.CryptoHasher("sha256").update(await Bun.file(path).arrayBuffer()).digest("hex");
  const wardenBuilt = statSync(WARDEN).mtime.toISOString();
  const wardenBin = join(workDir, "bin", "warden");
  mkdirSync(dirname(wardenBin), { recursive: true });
  copyFileSync(WARDEN, wardenBin);
  chmodSync(wardenBin, 0o755);
  const wardenSha = await binHash(wardenBin);
  const head = (await run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], { timeoutMs: 10_000 })).stdout.trim() || "?";
  const dirty = (await run(["git", "-C", ROOT, "status", "--porcelain", "--", "src", "ffi", "build.ts", "package.json"], { timeoutMs: 10_000 })).stdout.split("\n").filter(Boolean).length;

  // Machine facts.
  const cpuinfo = readFileSync("/proc/cpuinfo", "utf8");
  const cpuModel = cpuinfo.match(/^model name\s*:\s*(.+)$/m)?.[1]?.trim() ?? "unknown";
  const memKb = Number(readFileSync("/proc/meminfo", "utf8").match(/^MemTotal:\s*(\d+)/m)?.[1] ?? 0);
  const kernel = await sh("uname -r");
  const nofile = await sh(`ulimit -n ${WANT_NOFILE} 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null; ulimit -n`);
  const nofileHard = await sh("ulimit -Hn");
  const raiseTry = await sh(`ulimit -n ${WANT_NOFILE} 2>&1 && echo ok`);
  const nodeV = await sh("node --version");
  // Other people's workloads share this machine: wait (a while) for a quiet moment before starting.
  let otherBefore = NaN;
  let quietSamples = 0;
  const quietT0 = performance.now();
  const quietDeadline = quietT0 + QUIET_WAIT_S * 1000;
  for (;;) {
    const idle0 = machineCpuSeconds();
    await Bun.sleep(2000);
    otherBefore = (100 * (machineCpuSeconds() - idle0)) / (2 * NPROC);
    if (otherBefore <= 10) {
      if (++quietSamples >= 3) break; // 6 s in a row
      continue;
    }
    quietSamples = 0;
    if (performance.now() > quietDeadline) break;
    console.warn(`${new Date().toISOString().slice(11, 19)} ${f1(otherBefore)} % of the machine's CPU is busy with other processes: waiting for a quieter moment (up to ${QUIET_WAIT_S} s)`);
  }
  quietWaitS = (performance.now() - quietT0) / 1000;
  if (otherBefore > 10) console.warn(`WARNING: ${f1(otherBefore)} % of the machine's CPU is busy before the benchmark started: another workload will skew the results`);
  const wv = await run([wardenBin, "version"], { env: baseEnv({ WARDEN_DATA_DIR: join(workDir, "version-data") }), timeoutMs: 30_000, cwd: workDir });
  const wardenVersion = wv.stdout.trim().split("\n").join(", ") || `(warden version failed: ${wv.stderr.trim()})`;

  // Servers. Two mocks on the load core: 16-token replies at once (non-streaming), and 40 tokens 25 ms
  // apart (streaming); every target is configured with both (model mock-gpt → the first, mock-stream → the second).
  const [nsPort, stPort] = [await freePort(), await freePort()];
  const mockNs = startServer("mock-ns", "mock", LOAD_CPUS, [BUN, join(BENCH, "mock-upstream.ts"), "--port", String(nsPort), "--no-record"], baseEnv({}), nsPort);
  const mockSt = startServer("mock-stream", "mock", LOAD_CPUS, [BUN, join(BENCH, "mock-upstream.ts"), "--port", String(stPort), "--tokens", String(ST_TOKENS), "--delay-ms", String(ST_DELAY_MS), "--no-record"], baseEnv({}), stPort);
  await waitReady(mockNs, `http://${HOST}:${nsPort}/v1/models`, 20_000);
  await waitReady(mockSt, `http://${HOST}:${stPort}/v1/models`, 20_000);
  const nsBase = `http://${HOST}:${nsPort}/v1`;
  const stBase = `http://${HOST}:${stPort}/v1`;

  const targets: Target[] = [];
  const notes: string[] = [];
  const configs: string[] = [];
  const want = (k: Key) => opts.targets.includes(k);
  const pending: Promise<void>[] = [];

  if (want("direct")) {
    targets.push({ key: "direct", label: LABEL.direct, color: COLOR.direct, dash: "6 4", peer: false, version: `bench/mock-upstream.ts on Bun ${Bun.version}`,
      ns: { base: nsBase, model: "mock-gpt", headers: {}, server: mockNs }, st: { base: stBase, model: "mock-stream", headers: {}, server: mockSt } });
  }
  if (want("passthrough")) {
    const t: Target = { key: "passthrough", label: LABEL.passthrough, color: COLOR.passthrough, dash: "3 3", peer: false, version: `bench/passthrough.ts on Bun ${Bun.version}` };
    targets.push(t);
    const mk = async (name: string, target: number, model: string) => {
      const port = await freePort();
      const env = baseEnv({ BUN_CONFIG_MAX_HTTP_REQUESTS: MAX_HTTP });
      const s = startServer(name, "sut", SUT_CPUS, [BUN, join(BENCH, "passthrough.ts"), "--port", String(port), "--target", `http://${HOST}:${target}`], env, port, ["BUN_CONFIG_MAX_HTTP_REQUESTS"]);
      await waitReady(s, `http://${HOST}:${port}/v1/models`, 20_000);
      return { base: `http://${HOST}:${port}/v1`, model, headers: {}, server: s };
    };
    t.ns = await mk("passthrough-ns", nsPort, "mock-gpt");
    t.st = await mk("passthrough-stream", stPort, "mock-stream");
    configs.push("pass-through: two bench/passthrough.ts processes (one per mock), `BUN_CONFIG_MAX_HTTP_REQUESTS=65336`.");
  }
  /** Starts a Warden with every hot-path stage on; returns its headers and master key, or why it could not. */
  const startWarden = async (name: string): Promise<{ s: Server; port: number; headers: Record<string, string>; masterKey: string } | string> => {
    const port = await freePort();
    const dataDir = join(workDir, `${name}-data`);
    mkdirSync(dataDir, { recursive: true });
    const masterKey = `bench-master-${crypto.randomUUID()}`;
    // Every hot-path stage on (as bench/run.ts --stages): a master key, so every request is
    // authenticated with a virtual key that has request, token and concurrency limits (key look-up,
    // WAF with the default policy, token counting, rate limiter), default audit mode (the ledger on).
    const env = baseEnv({
      WARDEN_PORT: String(port), WARDEN_HOST: HOST, WARDEN_DATA_DIR: dataDir, WARDEN_LOG_LEVEL: "warn", WARDEN_MASTER_KEY: masterKey,
      WARDEN_UPSTREAM_NS_URL: nsBase, WARDEN_UPSTREAM_NS_MODELS: "mock-gpt",
      WARDEN_UPSTREAM_STREAM_URL: stBase, WARDEN_UPSTREAM_STREAM_MODELS: "mock-stream",
    });
    const created = await run([wardenBin, "keys", "create", "--tenant", "bench", "--name", "bench", "--rpm", "1000000000", "--tpm", "1000000000000", "--max-concurrent", "100000"], { env, timeoutMs: 30_000, cwd: workDir });
    let key: string | undefined;
    try { key = JSON.parse(created.stdout).key; } catch {}
    if (created.code !== 0 || typeof key !== "string") return `warden keys create failed (exit ${created.code}): ${(created.stderr || created.stdout).trim().slice(0, 500)}`;
    const srv = startServer(name, "sut", SUT_CPUS, [wardenBin, "serve"], env, port,
      ["WARDEN_PORT", "WARDEN_HOST", "WARDEN_DATA_DIR", "WARDEN_LOG_LEVEL", "WARDEN_MASTER_KEY", "WARDEN_UPSTREAM_NS_URL", "WARDEN_UPSTREAM_NS_MODELS", "WARDEN_UPSTREAM_STREAM_URL", "WARDEN_UPSTREAM_STREAM_MODELS"], workDir);
    try {
      await waitReady(srv, `http://${HOST}:${port}/ready`, 60_000);
    } catch (e) {
      return (e as Error).message;
    }
    return { s: srv, port, headers: { authorization: `Bearer ${key}` }, masterKey };
  };
  let wardenMasterKey = "";
  if (want("warden")) {
    const t: Target = { key: "warden", label: LABEL.warden, color: COLOR.warden, peer: false, version: wardenVersion };
    targets.push(t);
    pending.push(startWarden("warden").then((w) => {
      if (typeof w === "string") {
        t.deadNs = t.deadSt = w;
        return;
      }
      wardenMasterKey = w.masterKey;
      t.ns = { base: `http://${HOST}:${w.port}/v1`, model: "mock-gpt", headers: w.headers, server: w.s };
      t.st = { base: `http://${HOST}:${w.port}/v1`, model: "mock-stream", headers: w.headers, server: w.s };
    }));
    configs.push("Warden: `warden keys create --tenant bench --name bench --rpm 1000000000 --tpm 1000000000000 --max-concurrent 100000` (limits this machine cannot reach: every check runs, none refuses), then `warden serve` with the environment shown above (no `BUN_CONFIG_MAX_HTTP_REQUESTS`: Warden raises it itself); every request carries `Authorization: Bearer <the virtual key>`. Default audit mode (async, the ledger on). The soak runs on a second, fresh Warden (`warden-soak`, same settings, its own data directory), started after the streaming runs and the first Warden stopped, so that its memory curve starts clean.");
  }
  if (want("portkey")) {
    const st = status("portkey");
    const t: Target = { key: "portkey", label: LABEL.portkey, color: COLOR.portkey, peer: true, version: st?.installed ? `@portkey-ai/gateway ${st.version} on Node ${nodeV}` : "not installed" };
    targets.push(t);
    if (!st?.installed || !existsSync(portkeyEntry())) {
      t.deadNs = t.deadSt = `not installed: ${st?.error ?? `${portkeyEntry()} missing`}`;
    } else {
      const port = await freePort();
      const s = startServer("portkey", "sut", SUT_CPUS, ["node", portkeyEntry(), "--headless", `--port=${port}`], baseEnv({}), port, [], dirname(portkeyEntry()));
      const hdr = (mockPort: number) => ({ authorization: "Bearer sk-mock", "x-portkey-provider": "openai", "x-portkey-custom-host": `http://${HOST}:${mockPort}/v1` });
      t.ns = { base: `http://${HOST}:${port}/v1`, model: "mock-gpt", headers: hdr(nsPort), server: s };
      t.st = { base: `http://${HOST}:${port}/v1`, model: "mock-stream", headers: hdr(stPort), server: s };
      pending.push(waitReady(s, `http://${HOST}:${port}/`, 60_000).catch((e) => { t.deadNs = t.deadSt = (e as Error).message; }));
      configs.push("Portkey: `node build/start-server.js --headless --port=N` (its documented `npx @portkey-ai/gateway`, without the UI), no config file; each request is routed by headers: `x-portkey-provider: openai`, `x-portkey-custom-host: http://127.0.0.1:<mock>/v1`, `Authorization: Bearer sk-mock`. It listens on all interfaces (no option to bind 127.0.0.1); only 127.0.0.1 is used.");
    }
  }
  if (want("litellm")) {
    const st = status("litellm");
    const t: Target = { key: "litellm", label: LABEL.litellm, color: COLOR.litellm, peer: true, version: st?.installed ? `litellm ${st.version} (${st.details.python ?? "python"}, uvicorn ${st.details.uvicorn ?? "?"})` : "not installed" };
    targets.push(t);
    if (!st?.installed || !existsSync(litellmBin())) {
      t.deadNs = t.deadSt = `not installed: ${st?.error ?? `${litellmBin()} missing`}`;
    } else {
      const port = await freePort();
      const cfg = join(workDir, "litellm.yaml");
      writeFileSync(cfg, [
        "model_list:",
        "  - model_name: mock-gpt",
        "    litellm_params:",
        "      model: openai/mock-gpt",
        `      api_base: ${nsBase}`,
        "      api_key: sk-mock",
        "  - model_name: mock-stream",
        "    litellm_params:",
        "      model: openai/mock-stream",
        `      api_base: ${stBase}`,
        "      api_key: sk-mock",
        "",
      ].join("\n"));
      const masterKey = `sk-${Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("hex")}`;
      const env = baseEnv({ LITELLM_MASTER_KEY: masterKey, LITELLM_LOCAL_MODEL_COST_MAP: "True" });
      const s = startServer("litellm", "sut", SUT_CPUS, [litellmBin(), "--config", cfg, "--host", HOST, "--port", String(port), "--num_workers", "1", "--telemetry", "False"], env, port, ["LITELLM_MASTER_KEY", "LITELLM_LOCAL_MODEL_COST_MAP"], workDir);
      const headers = { authorization: `Bearer ${masterKey}` };
      t.ns = { base: `http://${HOST}:${port}/v1`, model: "mock-gpt", headers, server: s };
      t.st = { base: `http://${HOST}:${port}/v1`, model: "mock-stream", headers, server: s };
      pending.push(waitReady(s, `http://${HOST}:${port}/health/liveliness`, 120_000).catch((e) => { t.deadNs = t.deadSt = (e as Error).message; }));
      configs.push(`LiteLLM: \`litellm --config litellm.yaml --host 127.0.0.1 --port N --num_workers 1 --telemetry False\` with \`LITELLM_MASTER_KEY\` (it refuses to start without one; requests carry it as the Bearer token) and \`LITELLM_LOCAL_MODEL_COST_MAP=True\`, no database (no \`DATABASE_URL\`), everything else default. litellm.yaml:\n\n\`\`\`yaml\n${readFileSync(cfg, "utf8").replaceAll(nsBase, "http://127.0.0.1:<mock-ns>/v1").replaceAll(stBase, "http://127.0.0.1:<mock-stream>/v1")}\`\`\``);
    }
  }
  if (want("bifrost")) {
    const st = status("bifrost");
    const t: Target = { key: "bifrost", label: LABEL.bifrost, color: COLOR.bifrost, peer: true, version: st?.installed ? `bifrost-http ${st.version}` : "not installed" };
    targets.push(t);
    if (!st?.installed || !existsSync(bifrostBin())) {
      t.deadNs = t.deadSt = `not installed: ${st?.error ?? `${bifrostBin()} missing`}`;
    } else {
      t.deadNs = t.deadSt = "installed, but this runner has no tested Bifrost configuration: the Go module proxy never served it on the machine the runner was written on. Add its config (providers.openai with network_config.base_url per mock) here before trusting a number.";
    }
  }
  await Promise.all(pending);
  for (const t of targets) {
    if (t.ns && !t.deadNs) t.deadNs = await sanityNs(t.ns);
    if (t.st && !t.deadSt) t.deadSt = await sanitySt(t.st);
    if (t.deadNs || t.deadSt) {
      console.warn(`${t.label}: ${t.deadNs ? `non-streaming unusable: ${t.deadNs}` : ""}${t.deadNs && t.deadSt ? "; " : ""}${t.deadSt ? `streaming unusable: ${t.deadSt}` : ""}`);
    }
  }
  console.log(`servers up (logs in ${workDir}): ${SERVERS.map((s) => `${s.name} :${s.port}`).join(", ")}`);
  const setupS = (performance.now() - t0) / 1000;

  const retired = new Set<Server>(); // stopped on purpose (the first Warden, before the soak)
  const checkAlive = () => {
    for (const m of [mockNs, mockSt]) if (!alive(m)) throw new Error(`${m.name} exited during the run (code ${m.proc.exitCode ?? m.proc.signalCode}):\n${tail(m.log)}`);
    for (const t of targets) {
      for (const e of [t.ns, t.st]) {
        if (!e || t.dead || alive(e.server) || retired.has(e.server)) continue;
        const code = e.server.proc.exitCode ?? e.server.proc.signalCode;
        t.dead = `${e.server.name} exited during the run (code ${code}, at ${new Date().toISOString()} or shortly before)`;
        notes.push(`${t.dead}; log tail:\n\n\`\`\`\n${tail(e.server.log, 25)}\n\`\`\``);
        console.error(t.dead);
      }
    }
  };
  const usableNs = (t: Target) => t.ns && !t.deadNs && !t.dead;
  const usableSt = (t: Target) => t.st && !t.deadSt && !t.dead;

  // ---- 1 (and 3): non-streaming sweep
  const wrkRes = new Map<string, WrkResult>();
  const rerun: string[] = [];
  const drains: string[] = []; // runs after which the gateway kept working (busy) for a while
  console.log(`\n== non-streaming sweep (wrk -t1, ${opts.durationS} s at c=${MAIN_LEVELS.join(",")}${EXTRA_LEVELS.length ? `, ${opts.extraDurationS} s at c=${EXTRA_LEVELS.join(",")}` : ""})`);
  for (const t of targets) {
    checkAlive();
    if (!usableNs(t) || interrupted) continue;
    const w = await wrk(t, t.ns!, 32, WARMUP_S);
    console.log(`warm-up ${t.label}: ${fint(w.rps)} req/s${w.failed ? ` (${w.failed})` : ""}`);
  }
  const sweepT0 = performance.now();
  for (const c of LEVELS) {
    for (const t of targets) {
      checkAlive();
      if (!usableNs(t) || interrupted) continue;
      await Bun.sleep(300);
      const dur = MAIN_LEVELS.includes(c) ? opts.durationS : opts.extraDurationS;
      let r = await wrk(t, t.ns!, c, dur);
      if (r.cpu.other_cpu_pct > NOISY_PCT && !interrupted) {
        console.log(`c=${c} ${t.label}: other processes used ${f1(r.cpu.other_cpu_pct)} % of the machine: running this point again`);
        await Bun.sleep(2000);
        const again = await wrk(t, t.ns!, c, dur);
        rerun.push(`c=${c} ${t.label} (other CPU ${f1(r.cpu.other_cpu_pct)} % → ${f1(again.cpu.other_cpu_pct)} %)`);
        if (!(again.cpu.other_cpu_pct > r.cpu.other_cpu_pct)) r = again;
      }
      wrkRes.set(`${c}/${t.key}`, r);
      const drained = await drain(t.ns!.server, 10_000);
      if (drained > 1500) drains.push(`${t.label} c=${c}: ${f1(drained / 1000)} s`);
      console.log(`c=${String(c).padEnd(3)} ${t.label.padEnd(14)} ${fint(r.rps).padStart(7)} req/s  p50 ${f2(ms(r.p50_us))}  p99 ${f2(ms(r.p99_us))}  p99.9 ${f2(ms(r.p999_us))} ms  errors ${wrkErrors(r)}  CPU ${f3((r.cpu.sut_cpu_s * 1000) / r.requests)} s/1k req  RSS ${mb(r.peak_rss_kb)} MB  other ${f1(r.cpu.other_cpu_pct)} %`);
    }
  }
  const sweepS = (performance.now() - sweepT0) / 1000;

  // ---- 2: streaming
  const stRes = new Map<string, StreamResult>();
  const skipped = new Map<Key, string>();
  console.log(`\n== streaming (${ST_TOKENS} tokens × ${ST_DELAY_MS} ms per stream, ${opts.streamDurationS} s of starts per run after the ramp)`);
  for (const t of targets) {
    checkAlive();
    if (!usableSt(t) || interrupted) continue;
    const w = await streamRun(t.st!, 50, WARMUP_S);
    console.log(`warm-up ${t.label}: ${w.completed} streams${w.failed ? ` (${w.failed})` : ""}`);
  }
  const streamT0 = performance.now();
  for (const n of STREAM_LEVELS) {
    for (const t of targets) {
      checkAlive();
      if (!usableSt(t) || interrupted || skipped.has(t.key)) continue;
      await Bun.sleep(n >= 5000 ? 3000 : 1000); // let the previous run's sockets close
      const r = await streamRun(t.st!, n, opts.streamDurationS);
      stRes.set(`${n}/${t.key}`, r);
      const drained = await drain(t.st!.server, 20_000);
      if (drained > 1500) drains.push(`${t.label} N=${n}: ${f1(drained / 1000)} s`);
      console.log(`N=${String(n).padEnd(5)} ${t.label.padEnd(14)} gap p50 ${f1(r.gap_ms.p50)} p99 ${f1(r.gap_ms.p99)} ms  ttft p50 ${f1(r.ttft_ms.p50)} p99 ${f1(r.ttft_ms.p99)} ms  completed ${r.completed}/${r.started}  errors ${streamErrors(r)}  peak open ${r.peak_open}  RSS ${mb(r.peak_rss_kb)} MB  fds ${fint(r.peak_fds)}  other ${f1(r.cpu.other_cpu_pct)} %`);
      if (r.error_samples.length) console.log(`   ${r.error_samples.slice(0, 4).map((s) => `${s.n}× ${s.msg}`).join(" | ")}`);
      // A peer that failed most of its streams at one level is not driven harder (time): said in the report.
      if (t.peer && (r.failed || r.errors.total > 0.5 * Math.max(1, r.started))) skipped.set(t.key, `skipped: ${r.failed ? "the run failed" : `${fint(r.errors.total)} of ${fint(r.started)} streams failed`} at N=${n}`);
    }
  }
  const streamS = (performance.now() - streamT0) / 1000;

  // ---- 4: soak (Warden only)
  const soakSamples: SoakSample[] = [];
  const soakSegs: SoakSegment[] = [];
  const warden = targets.find((t) => t.key === "warden");
  const wardenBest = Math.max(0, ...LEVELS.map((c) => wrkRes.get(`${c}/warden`)).filter((r): r is WrkResult => !!r && !r.failed && wrkErrTotal(r) === 0).map((r) => r.rps));
  const soakRate = Math.round(SOAK_FRACTION * wardenBest);
  let soakNote = "";
  const soakT0 = performance.now();
  let wardenMemBeforeSoak = "";
  let soakWarden: Server | undefined;
  if (opts.soakS > 0 && warden && usableNs(warden) && soakRate > 0 && !interrupted) {
    // The soak gets a fresh Warden: the first one carries whatever the 15 000-stream run left behind.
    const old = warden.ns!.server;
    wardenMemBeforeSoak = `RSS ${procStatus(old.proc.pid, "VmRSS")}, peak (VmHWM) ${procStatus(old.proc.pid, "VmHWM")}, threads ${procStatus(old.proc.pid, "Threads")}`;
    retired.add(old);
    await stopProc(old.proc);
    SERVERS.splice(SERVERS.indexOf(old), 1);
    const fresh = await startWarden("warden-soak");
    if (typeof fresh === "string") {
      soakNote = `not run: the soak's Warden did not start: ${fresh}`;
    } else {
      soakWarden = fresh.s;
      const e: Endpoint = { base: `http://${HOST}:${fresh.port}/v1`, model: "mock-gpt", headers: fresh.headers, server: fresh.s };
      const bad = await sanityNs(e);
      if (bad) soakNote = `not run: the soak's Warden failed the sanity check: ${bad}`;
      else await soak(e, fresh.port, fresh.masterKey);
    }
  } else {
    soakNote = opts.soakS <= 0 ? "not run (--soak 0)" : !warden ? "not run (Warden not among --targets)" : `not run: ${warden.dead ?? warden.deadNs ?? "no error-free Warden point in the sweep to size the rate from"}`;
  }
  async function soak(e: Endpoint, port: number, masterKey: string): Promise<void> {
    const w = warden!;
    const segs = Math.max(1, Math.round(opts.soakS / SOAK_SEGMENT_S));
    console.log(`\n== soak: a fresh Warden at ${fint(soakRate)} req/s (${SOAK_FRACTION * 100} % of its best, ${fint(wardenBest)}), ${segs} × ${SOAK_SEGMENT_S} s, RSS and fds every ${SOAK_SAMPLE_S} s`);
    const pid = e.server.proc.pid;
    let prev = snapshot();
    const start = performance.now();
    const sampleNow = () => {
      const now = snapshot();
      const cpu = ((now.groups.get(pid) ?? NaN) - (prev.groups.get(pid) ?? NaN)) / ((now.t - prev.t) / 1000);
      prev = now;
      let rss = 0;
      for (const p of groupPidsOf(procStats(), pid)) rss += rssKb(p);
      const sample: SoakSample = { t_s: (now.t - start) / 1000, rss_kb: rss, fds: fdCount(pid), cpu_pct: 100 * cpu, audit_queue: NaN, audit_lost: NaN, ledger_records: NaN };
      soakSamples.push(sample);
      // Warden's own view: is the audit worker keeping up? (the records waiting are held in memory)
      void scrape(port, masterKey).then((m) => {
        sample.audit_queue = m.get("warden_audit_queue_depth") ?? NaN;
        sample.audit_lost = m.get("warden_audit_records_lost_total") ?? NaN;
        sample.ledger_records = m.get("warden_ledger_records") ?? NaN;
      });
    };
    // Samples are taken inside each segment, at SOAK_SAMPLE_S/2, 3·SOAK_SAMPLE_S/2, ... after its start,
    // never in the moment between two wrk runs (whose connections would be missing from the fd count).
    for (let i = 0; i < segs && !interrupted; i++) {
      checkAlive();
      if (!alive(e.server)) {
        soakNote = `the soak's Warden exited (code ${e.server.proc.exitCode ?? e.server.proc.signalCode}) after ${f1((performance.now() - start) / 1000)} s:\n\n\`\`\`\n${tail(e.server.log, 25)}\n\`\`\``;
        notes.push(soakNote);
        break;
      }
      const from = (performance.now() - start) / 1000;
      const timers: Timer[] = [];
      for (let k = SOAK_SAMPLE_S / 2; k < SOAK_SEGMENT_S; k += SOAK_SAMPLE_S) timers.push(setTimeout(sampleNow, k * 1000));
      const r = await wrk(w, e, SOAK_CONNS, SOAK_SEGMENT_S, soakRate);
      for (const x of timers) clearTimeout(x);
      soakSegs.push({ from_s: from, r });
      const last = soakSamples[soakSamples.length - 1];
      console.log(`soak ${String(Math.round(from)).padStart(4)} s: ${fint(r.rps)} req/s  p50 ${f2(ms(r.p50_us))}  p99 ${f2(ms(r.p99_us))} ms  errors ${wrkErrors(r)}  RSS ${last ? mb(last.rss_kb) : "—"} MB  fds ${last?.fds ?? "—"}  audit queue ${fint(last?.audit_queue ?? NaN)}  other ${f1(r.cpu.other_cpu_pct)} %`);
    }
    await Bun.sleep(300); // the last scrape
  }
  const soakS = (performance.now() - soakT0) / 1000;

  // Process facts after the load.
  checkAlive();
  const memAfter = [...targets.flatMap((t) => [...new Set([t.ns?.server, t.st?.server].filter((s): s is Server => !!s))]), ...(soakWarden ? [soakWarden] : [])].map((s) =>
    `${s.name}: ${retired.has(s) ? `${wardenMemBeforeSoak} (before it was stopped for the soak)` : alive(s) ? `RSS ${procStatus(s.proc.pid, "VmRSS")}, peak (VmHWM) ${procStatus(s.proc.pid, "VmHWM")}, threads ${procStatus(s.proc.pid, "Threads")}` : "exited"}`);
  const logOf = (s: Server | undefined) => (s && existsSync(s.log) ? readFileSync(s.log, "utf8") : "");
  const wardenLog = logOf(warden?.ns?.server) + logOf(soakWarden);
  const portkeyLog = logOf(targets.find((t) => t.key === "portkey")?.ns?.server);
  const litellmLog = logOf(targets.find((t) => t.key === "litellm")?.ns?.server);
  for (const s of [...SERVERS]) await stopProc(s.proc);
  if (existsSync(WARDEN) && (await binHash(WARDEN)) !== wardenSha) notes.push("dist/warden was rebuilt during the run; this run measured the copy taken at its start (hash above).");

  // Logs: Warden's warn+ lines by message; the peers' error lines.
  const distinct = (lines: string[], keyOf: (l: string) => string | undefined) => {
    const m = new Map<string, number>();
    for (const l of lines) {
      const k = keyOf(l);
      if (k) m.set(k, (m.get(k) ?? 0) + 1);
    }
    return [...m].sort((a, b) => b[1] - a[1]);
  };
  const wardenWarn = distinct(wardenLog.split("\n").filter((l) => l.startsWith("{")), (l) => {
    try {
      const j = JSON.parse(l);
      const extra = j.error ?? j.err ?? j.code ?? j.reason;
      return `${j.level}: ${j.msg}${extra ? ` (${String(typeof extra === "object" ? JSON.stringify(extra) : extra).slice(0, 160)})` : ""}`;
    } catch {
      return undefined;
    }
  });
  const peerErr = (log: string) => distinct(log.split("\n"), (l) => (/error|exception|traceback|fatal/i.test(l) && !/^\s+at /.test(l) ? l.replace(/\x1b\[[0-9;]*m/g, "").replace(/\d{2}:\d{2}:\d{2}/g, "hh:mm:ss").trim().slice(0, 200) : undefined));
  const portkeyErr = peerErr(portkeyLog);
  const litellmErr = peerErr(litellmLog);

  // ---------------------------------------------------------------------------------------------
  // Reports
  mkdirSync(opts.out, { recursive: true });
  const endedAt = new Date();
  const totalS = (performance.now() - t0) / 1000;
  const cmd = ["./node_modules/.bin/bun", "bench/peers/run.ts", ...process.argv.slice(2)].map(q).join(" ");
  const W = (c: number, k: Key) => wrkRes.get(`${c}/${k}`);
  const S = (n: number, k: Key) => stRes.get(`${n}/${k}`);
  const peers = targets.filter((t) => t.peer);
  const live = (t: Target) => !!(t.ns && !t.deadNs);
  const notRunning = (t: Target) => ((t.deadNs ?? "").startsWith("not installed") ? "not installed" : "not running");
  const why = (t: Target, st = false) => {
    const w = (st ? t.deadSt : t.deadNs) ?? t.dead ?? "not run";
    return w.startsWith("not installed") ? "not installed (see the install table above)" : w;
  };
  const file = (s: string) => join(opts.out, `${PREFIX}-${s}`);

  const versionRows: string[][] = [
    ["machine", `${NPROC} cores (${cpuModel}), ${(memKb / 1048576).toFixed(1)} GiB, kernel ${kernel}`],
    ["Bun (runner, mocks, pass-through, load clients)", Bun.version],
    ["Warden", `${wardenVersion}; \`dist/warden\` sha256 ${wardenSha.slice(0, 16)}…, built ${wardenBuilt} (run from a private copy); git ${head}${dirty ? `, ${dirty} uncommitted change(s) under src/, ffi/, build.ts, package.json (the binary may include them)` : ", clean"}`],
    ...(["portkey", "litellm", "bifrost"] as const).map((k) => {
      const s = status(k);
      if (!s) return [LABEL[k], "not asked for (--targets)"];
      const det = Object.entries(s.details).map(([a, b]) => `${a} ${b}`).join("; ");
      return [LABEL[k], s.installed ? `${s.version}${det ? `; ${det}` : ""}` : `**not installed** — ${s.error}${det ? ` (${det})` : ""}`];
    }),
    ["Node.js (Portkey)", nodeV],
    ["wrk", wrkVersion],
    ["open-files limit (children)", `${nofile} (hard limit ${nofileHard}; \`ulimit -n ${WANT_NOFILE}\` → ${raiseTry.includes("ok") ? "ok" : `\`${raiseTry.split("\n").pop()}\``})`],
    ["CPU pinning", pinning ? `\`taskset -c ${SUT_CPUS}\`: the system under test (pass-through, Warden, Portkey, LiteLLM); \`taskset -c ${LOAD_CPUS}\`: wrk / the stream client, both mocks and this runner. "direct" is the mock itself on core ${LOAD_CPUS}, sharing it with the load generator.` : "none (taskset unusable or one core): every process shares every core"],
  ];
  const installRows = statuses.map((s) => [
    LABEL[s.name as Key] ?? s.name,
    s.installed ? `installed ${s.version}` : "**not installed**",
    s.commands.map((c) => `\`${c}\``).join("<br>") || "—",
    s.error ? `\`${s.error.replace(/`/g, "'").replace(/\n/g, " ")}\`` : s.notes.join("; ") || "—",
  ]);
  const header = (title: string) => `# ${title}${opts.quick ? " (quick smoke run)" : ""}

Issue #7: Warden side by side with the gateways people use today, on one machine, one mock upstream, one run.

Command: \`${cmd}\` (total ${f1(totalS / 60)} min: setup ${f1(setupS)} s, of which ${f1(quietWaitS)} s waiting for other workloads on the machine to calm down, sweep ${f1(sweepS)} s, streaming ${f1(streamS)} s, soak ${f1(soakS)} s)

Date: ${startedAt.toISOString()} (start) to ${endedAt.toISOString()} (end). Other files of this run: ${["summary", "nonstreaming", "streaming", "throughput", "soak"].map((s) => `[${s}](${PREFIX}-${s}.md)`).join(", ")}; charts ${["latency", "stream-gap", "soak"].map((s) => `[${s}](${PREFIX}-${s}.png)`).join(", ")}.

## Machine and versions

${table(["what", "value"], versionRows, ["l", "l"])}

Peers are installed outside the git tree (\`${PEERS_DIR.replace(process.env.HOME ?? "\u0000", "~")}\`) by \`bench/peers/setup.ts\`:

${table(["peer", "state", "commands", "error / notes"], installRows, ["l", "l", "l", "l"])}
`;
  const serverCmds = SERVERS.map((s) => `- ${s.name}: \`${s.cmd}\``).join("\n");
  const setupSection = `## Setup

Two mock upstream processes (\`bench/mock-upstream.ts\`): **mock-ns** answers non-streaming chat completions with 16 tokens at once,
**mock-stream** streams 40 tokens 25 ms apart; every target serves model \`mock-gpt\` from mock-ns and \`mock-stream\` from
mock-stream (the reply length comes from the mock's command line, not from a \`"mock"\` field in the body: Portkey does not
forward unknown fields). Processes (\`$WORK\` = the run's temp dir, \`$PEERS\` = the peers' install dir):

${serverCmds}

${configs.map((c) => `- ${c}`).join("\n")}

Load: \`${pinning ? `taskset -c ${LOAD_CPUS} ` : ""}wrk -t1 -c<c> -d<s>s --timeout 5s -s bench/peers/wrk-peer.lua <base>/chat/completions\` with \`WRK_MODEL\`, \`WRK_HEADERS\`
(the target's headers) and, for the soak, \`WRK_RATE\`; streams: \`${pinning ? `taskset -c ${LOAD_CPUS} ` : ""}BUN_CONFIG_MAX_HTTP_REQUESTS=65336 bun bench/peers/stream-client.ts --url <base> --model mock-stream --streams N --duration ${opts.streamDurationS} --ramp-ms <1000, or N/2 above 2000> --idle-ms ${IDLE_MS} --tail-ms ${TAIL_MS} --header ...\`.
"other CPU %" is the share of both cores used during a run by processes outside this benchmark (machine busy time from /proc/stat minus the CPU of every process of the benchmark): more than a few percent means another workload skewed that row.
`;
  const idleMax = Math.max(0, ...[...wrkRes.values(), ...stRes.values()].map((r) => r.cpu.idle_suts_cpu_pct).filter(Number.isFinite));
  const otherMax = Math.max(0, ...[...wrkRes.values(), ...stRes.values()].map((r) => r.cpu.other_cpu_pct).filter(Number.isFinite));
  const logNotes = [
    `other CPU: ${f1(otherBefore)} % of both cores busy with other processes in the 2 s before the servers started; at most ${f1(otherMax)} % during a run. The idle gateways (all stay up, interleaved) used at most ${f1(idleMax)} % of the machine during another target's run.`,
    `non-streaming points run twice because other processes used more than ${NOISY_PCT} % of the machine during the first run (the quieter run is kept): ${rerun.length ? rerun.join("; ") : "none"}.`,
    `gateways still busy after their run (the next run waited until they used < 5 % of a core, at most 10 s after a wrk point, 20 s after a streaming run): ${drains.length ? drains.join("; ") : "none"}.`,
    `Warden log lines at warn level and above: ${wardenWarn.length === 0 ? "none" : `\n${wardenWarn.slice(0, 15).map(([k, n]) => `  - ${n}× ${k}`).join("\n")}`}`,
    `Portkey log lines mentioning an error: ${!portkeyLog ? "(Portkey not run)" : portkeyErr.length === 0 ? "none" : `\n${portkeyErr.slice(0, 10).map(([k, n]) => `  - ${n}× \`${k.replace(/`/g, "'")}\``).join("\n")}`}`,
    `LiteLLM log lines mentioning an error: ${!litellmLog ? "(LiteLLM not run)" : litellmErr.length === 0 ? "none" : `\n${litellmErr.slice(0, 10).map(([k, n]) => `  - ${n}× \`${k.replace(/`/g, "'")}\``).join("\n")}`}`,
    `memory after the run: ${memAfter.join("; ")}`,
    ...notes,
  ];

  // ---- Scenario 1: non-streaming
  const nsRows: string[][] = [];
  for (const c of MAIN_LEVELS) {
    for (const t of targets) {
      const r = W(c, t.key);
      if (!r) { nsRows.push([String(c), t.label, "—", "—", "—", "—", "—", "—", why(t), "—", "—", "—", "—"]); continue; }
      const d = W(c, "direct");
      nsRows.push([
        String(c), t.label, fint(r.rps), f2(ms(r.p50_us)), f2(ms(r.p99_us)), f2(ms(r.p999_us)),
        t.key === "direct" || !d ? "—" : sign(ms(r.p50_us - d.p50_us)), t.key === "direct" || !d ? "—" : sign(ms(r.p99_us - d.p99_us)),
        wrkErrors(r), r.requests > 0 ? f3((r.cpu.sut_cpu_s * 1000) / r.requests) : "—", fint(r.cpu.sut_core_pct), mb(r.peak_rss_kb), f1(r.cpu.other_cpu_pct),
      ]);
    }
  }
  const nsTable = table(["c", "target", "req/s", "p50 ms", "p99 ms", "p99.9 ms", "p50 added vs direct (ms)", "p99 added vs direct (ms)", "errors", "CPU s / 1000 req", "CPU % of a core", "peak RSS MB", "other CPU %"], nsRows);
  const extraRows: string[][] = [];
  for (const c of EXTRA_LEVELS) {
    for (const t of targets) {
      const r = W(c, t.key);
      if (!r) continue;
      extraRows.push([String(c), t.label, fint(r.rps), f2(ms(r.p50_us)), f2(ms(r.p99_us)), f2(ms(r.p999_us)), wrkErrors(r), r.requests > 0 ? f3((r.cpu.sut_cpu_s * 1000) / r.requests) : "—", fint(r.cpu.sut_core_pct), mb(r.peak_rss_kb), f1(r.cpu.other_cpu_pct)]);
    }
  }
  const nsRatioRows: string[][] = [];
  for (const c of MAIN_LEVELS) {
    const w = W(c, "warden");
    const row = [String(c)];
    for (const p of [...peers, ...targets.filter((t) => t.key === "passthrough" || t.key === "direct")]) {
      const r = W(c, p.key);
      row.push(w && r && !r.failed && r.rps > 0 ? `${ratio(w.rps, r.rps)} req/s; ${ratio((r.cpu.sut_cpu_s / r.requests), (w.cpu.sut_cpu_s / w.requests))} CPU` : p.peer && !live(p) ? `n/a (${notRunning(p)})` : "—");
    }
    nsRatioRows.push(row);
  }
  const nsRatio = table(["c", ...peers.map((p) => `Warden / ${p.label}`), ...targets.filter((t) => t.key === "passthrough" || t.key === "direct").map((t) => `Warden / ${t.label}`)], nsRatioRows, ["l", ...Array(peers.length + 2).fill("r")]);

  // Issue targets.
  const verdict = (ok: boolean | undefined) => (ok === undefined ? "n/a" : ok ? "**met**" : "**missed**");
  const w32 = W(32, "warden"), w512 = W(512, "warden");
  const goalRows: string[][] = [];
  for (const [k, x] of [["portkey", 10], ["litellm", 25]] as const) {
    const p = targets.find((t) => t.key === k);
    const r = W(32, k);
    const rr = w32 && r && r.rps > 0 ? w32.rps / r.rps : NaN;
    goalRows.push([`≥ ${x}× ${LABEL[k]}'s req/s at c=32`, p && r ? `Warden ${fint(w32?.rps ?? NaN)} / ${LABEL[k]} ${fint(r.rps)} = ${f2(rr)}×` : `${LABEL[k]} not measured: ${p ? why(p) : "not among --targets"}`, verdict(Number.isFinite(rr) ? rr >= x : undefined)]);
  }
  goalRows.push(["no collapse: req/s at c=512 ≥ at c=32", w32 && w512 ? `Warden c=512 ${fint(w512.rps)} (${wrkErrTotal(w512)} errors) vs c=32 ${fint(w32.rps)}` : "not measured", verdict(w32 && w512 ? w512.rps >= w32.rps && wrkErrTotal(w512) === 0 : undefined)]);
  const w15 = S(15000, "warden");
  goalRows.push(["15 000 concurrent streams held, no failure", w15 ? `${fint(w15.completed)} completed of ${fint(w15.started)} started, errors ${streamErrors(w15)}, peak open ${fint(w15.peak_open)}` : STREAM_LEVELS.includes(15000) ? `not measured: ${warden ? why(warden, true) : "Warden not among --targets"}` : "not in this run's levels", verdict(w15 ? !w15.failed && w15.errors.total === 0 && w15.peak_open >= 15000 : undefined)]);

  // ---- Scenario 2: streaming
  const stRows: string[][] = [];
  for (const n of STREAM_LEVELS) {
    for (const t of targets) {
      const r = S(n, t.key);
      if (!r) { stRows.push([String(n), t.label, "—", "—", "—", "—", "—", "—", "—", skipped.get(t.key) ?? why(t, true), "—", "—", "—", "—", "—", "—", "—", "—"]); continue; }
      const d = S(n, "direct");
      stRows.push([
        String(n), t.label, f1(r.gap_ms.p50), f1(r.gap_ms.p99), f1(r.gap_ms.max), f1(r.ttft_ms.p50), f1(r.ttft_ms.p99),
        t.key === "direct" || !d ? "—" : sign(r.ttft_ms.p50 - d.ttft_ms.p50, 1),
        `${fint(r.completed)} / ${fint(r.started)}`, streamErrors(r), fint(r.peak_open), fint(r.tokens / r.elapsed_s),
        mb(r.peak_rss_kb), fint(r.peak_fds), r.tokens > 0 ? f1((r.cpu.sut_cpu_s * 1e6) / r.tokens) : "—", fint(r.cpu.sut_core_pct), `${f1(r.client_cpu_s)} / ${f1(r.elapsed_s)}`, f1(r.cpu.other_cpu_pct),
      ]);
    }
  }
  const stTable = table(["streams", "target", "gap p50 ms", "gap p99 ms", "gap max ms", "TTFT p50 ms", "TTFT p99 ms", "TTFT p50 added vs direct (ms)", "completed / started", "errors", "peak open", "tokens/s", "peak RSS MB", "peak fds", "SUT CPU µs/token", "SUT CPU % of a core", "client CPU s / wall s", "other CPU %"], stRows);
  const stRatioRows: string[][] = [];
  for (const n of STREAM_LEVELS) {
    const w = S(n, "warden");
    const row = [String(n)];
    for (const p of [...peers, ...targets.filter((t) => t.key === "passthrough")]) {
      const r = S(n, p.key);
      row.push(w && r && !r.failed ? `gap p99 ${ratio(w.gap_ms.p99, r.gap_ms.p99)}; TTFT p50 ${sign(w.ttft_ms.p50 - r.ttft_ms.p50, 1)} ms; failed ${fint(w.errors.total)} vs ${fint(r.errors.total)}; RSS ${ratio(w.peak_rss_kb, r.peak_rss_kb)}` : skipped.get(p.key) ?? (p.peer && !live(p) ? `n/a (${notRunning(p)})` : "—"));
    }
    stRatioRows.push(row);
  }
  const stRatio = table(["streams", ...peers.map((p) => `Warden vs ${p.label}`), ...targets.filter((t) => t.key === "passthrough").map((t) => `Warden vs ${t.label}`)], stRatioRows, ["l", ...Array(peers.length + 1).fill("l")]);
  const stSamples: string[] = [];
  for (const [k, r] of stRes) if (r.error_samples.length) stSamples.push(`- ${k}: ${r.error_samples.slice(0, 6).map((s) => `${fint(s.n)}× \`${s.msg.replace(/`/g, "'").replace(/\|/g, "/")}\``).join("; ")}`);

  // ---- Scenario 3: throughput at p99 bounds
  const best = (k: Key, boundMs: number) => {
    let b: { c: number; r: WrkResult } | undefined;
    for (const c of LEVELS) {
      const r = W(c, k);
      if (!r || r.failed || wrkErrTotal(r) > 0 || !(ms(r.p99_us) <= boundMs)) continue;
      if (!b || r.rps > b.r.rps) b = { c, r };
    }
    return b;
  };
  const tpRows: string[][] = [];
  for (const t of targets) {
    const row = [t.label];
    for (const bound of P99_BOUNDS_MS) {
      const b = best(t.key, bound);
      row.push(b ? `${fint(b.r.rps)} (c=${b.c}, p99 ${f2(ms(b.r.p99_us))})` : live(t) ? "none" : "—");
    }
    tpRows.push(row);
  }
  const tpTable = table(["target", ...P99_BOUNDS_MS.map((b) => `p99 ≤ ${b} ms: req/s (at c, p99 ms)`)], tpRows, ["l", "r", "r", "r", "r"]);
  const tpRatioRows: string[][] = [];
  for (const p of [...peers, ...targets.filter((t) => t.key === "passthrough")]) {
    const row = [`Warden / ${p.label}`];
    for (const bound of P99_BOUNDS_MS) {
      const w = best("warden", bound), r = best(p.key, bound);
      row.push(w && r ? ratio(w.r.rps, r.r.rps) : p.peer && !live(p) ? `n/a (${notRunning(p)})` : w && !r ? `∞ (${p.label}: none)` : !w && r ? `0 (Warden: none)` : "—");
    }
    tpRatioRows.push(row);
  }
  const tpRatio = table(["ratio", ...P99_BOUNDS_MS.map((b) => `p99 ≤ ${b} ms`)], tpRatioRows, ["l", "r", "r", "r", "r"]);

  // ---- Scenario 4: soak
  const warm = soakSamples.filter((s) => s.t_s >= Math.min(60, opts.soakS / 5));
  const rssSlope = slope(warm.map((s) => ({ x: s.t_s / 60, y: s.rss_kb / 1024 }))); // MB per minute
  const half = soakSamples.filter((s) => s.t_s >= (soakSamples[soakSamples.length - 1]?.t_s ?? 0) / 2);
  const rssSlope2 = slope(half.map((s) => ({ x: s.t_s / 60, y: s.rss_kb / 1024 })));
  // The garbage collector saws RSS up and down by tens of MB, so a fit over a few minutes swings
  // with the phase of its last samples. A leak lifts the floor of the saw: the slope of each
  // minute's lowest sample is the verdict, together with the slope over the whole run.
  const floors = new Map<number, number>();
  for (const s of warm) floors.set(Math.floor(s.t_s / 60), Math.min(floors.get(Math.floor(s.t_s / 60)) ?? Infinity, s.rss_kb / 1024));
  const floorSlope = floors.size >= 3 ? slope([...floors].map(([m, y]) => ({ x: m + 0.5, y }))) : NaN;
  const fdSlope = slope(warm.map((s) => ({ x: s.t_s / 60, y: s.fds })));
  const fdFirst = warm[0]?.fds ?? NaN, fdLast = warm[warm.length - 1]?.fds ?? NaN;
  const soakErr = soakSegs.reduce((a, s) => a + wrkErrTotal(s.r) + (s.r.failed ? 1 : 0), 0);
  const soakReq = soakSegs.reduce((a, s) => a + s.r.requests, 0);
  const flat = soakSamples.length >= 3 ? floorSlope <= 1 && rssSlope <= 1 && fdLast - fdFirst <= 20 && soakErr === 0 : undefined;
  goalRows.push(["flat soak (RSS after warm-up: slope of the per-minute floor and of all samples ≤ 1 MB/min; fds +≤ 20; no errors)", soakSamples.length >= 3 ? `RSS ${mb(soakSamples[0].rss_kb)} → ${mb(soakSamples[soakSamples.length - 1].rss_kb)} MB, floor slope ${sign(floorSlope, 2)} MB/min, all samples ${sign(rssSlope, 2)} MB/min (second half alone ${sign(rssSlope2, 2)}); fds ${fint(fdFirst)} → ${fint(fdLast)}; ${fint(soakErr)} errors in ${fint(soakReq)} requests` : `not run: ${soakNote}`, verdict(flat)]);
  const goalTable = table(["target from the issue", "measured", "verdict"], goalRows, ["l", "l", "l"]);
  const soakSegRows = soakSegs.map((s) => [f1(s.from_s), fint(s.r.rps), f2(ms(s.r.p50_us)), f2(ms(s.r.p99_us)), f2(ms(s.r.p999_us)), wrkErrors(s.r), s.r.requests > 0 ? f3((s.r.cpu.sut_cpu_s * 1000) / s.r.requests) : "—", f1(s.r.cpu.other_cpu_pct)]);
  const soakSampleRows = soakSamples.map((s) => [f1(s.t_s), mb(s.rss_kb), fint(s.fds), f1(s.cpu_pct), fint(s.audit_queue), fint(s.ledger_records), fint(s.audit_lost)]);

  // ---- Charts
  const seriesOf = (pts: (t: Target) => { x: number; y: number }[]): Series[] =>
    targets.map((t) => ({ name: t.label, color: t.color, dash: t.dash, points: pts(t) })).filter((s) => s.points.length > 0);
  const wrkPts = (f: (r: WrkResult) => number) => (t: Target) => LEVELS.map((c) => ({ c, r: W(c, t.key) })).filter((x) => x.r && !x.r.failed && x.r.requests > 0).map((x) => ({ x: x.c, y: f(x.r!) }));
  const stPts = (f: (r: StreamResult) => number) => (t: Target) => STREAM_LEVELS.map((n) => ({ n, r: S(n, t.key) })).filter((x) => x.r && !x.r.failed && x.r.tokens > 0).map((x) => ({ x: x.n, y: f(x.r!) }));
  const charts: string[] = [];
  const chartNote = `${NPROC} cores; ${pinning ? `system under test on core ${SUT_CPUS}, load generator and mocks on core ${LOAD_CPUS}` : "no pinning"}; ${new Date().toISOString().slice(0, 10)}. Peers not shown: ${peers.filter((p) => !live(p)).map((p) => `${p.label} (${(p.deadNs ?? "").split(":")[0]})`).join(", ") || "none"}.`;
  const tryChart = async (name: string, o: Parameters<typeof renderPng>[0]) => {
    try {
      await renderPng(o);
      charts.push(name);
    } catch (e) {
      notes.push(`chart ${name} could not be rendered: ${(e as Error).message.split("\n")[0]}`);
    }
  };
  const levelTicks = LEVELS;
  await tryChart("latency", {
    path: file("latency.png"), title: "Non-streaming chat completions: throughput and latency vs concurrency (wrk)",
    note: `16-token replies from the mock. ${chartNote}`, cols: 2,
    panels: [
      { title: "requests/s", xLabel: "concurrent connections", yLabel: "req/s (log)", xLog: true, yLog: true, xTicks: levelTicks, series: seriesOf(wrkPts((r) => r.rps)) },
      { title: "p50 latency", xLabel: "concurrent connections", yLabel: "ms (log)", xLog: true, yLog: true, xTicks: levelTicks, series: seriesOf(wrkPts((r) => ms(r.p50_us))) },
      { title: "p99 latency", xLabel: "concurrent connections", yLabel: "ms (log)", xLog: true, yLog: true, xTicks: levelTicks, series: seriesOf(wrkPts((r) => ms(r.p99_us))) },
      { title: "CPU per 1000 requests (system under test)", xLabel: "concurrent connections", yLabel: "CPU s (log)", xLog: true, yLog: true, xTicks: levelTicks, series: seriesOf(wrkPts((r) => (r.cpu.sut_cpu_s * 1000) / r.requests)) },
    ],
  });
  await tryChart("stream-gap", {
    path: file("stream-gap.png"), title: "Streaming: inter-token gap and time to first token vs concurrent streams",
    note: `40 tokens per stream, 25 ms apart at the mock (ideal gap 25 ms). ${chartNote}`, cols: 2,
    panels: [
      { title: "inter-token gap p50 (0 = tokens batched in one read)", xLabel: "concurrent streams", yLabel: "ms (linear)", xLog: true, xTicks: STREAM_LEVELS, series: seriesOf(stPts((r) => r.gap_ms.p50)), refs: [{ y: ST_DELAY_MS, label: "ideal 25 ms" }] },
      { title: "inter-token gap p99", xLabel: "concurrent streams", yLabel: "ms (log)", xLog: true, yLog: true, xTicks: STREAM_LEVELS, series: seriesOf(stPts((r) => r.gap_ms.p99)), refs: [{ y: ST_DELAY_MS, label: "ideal 25 ms" }] },
      { title: "time to first token p50", xLabel: "concurrent streams", yLabel: "ms (log)", xLog: true, yLog: true, xTicks: STREAM_LEVELS, series: seriesOf(stPts((r) => r.ttft_ms.p50)), refs: [{ y: ST_DELAY_MS, label: "ideal 25 ms" }] },
      { title: "streams failed or stalled (% of started)", xLabel: "concurrent streams", yLabel: "% (linear)", xLog: true, xTicks: STREAM_LEVELS, series: seriesOf(stPts((r) => (100 * r.errors.total) / Math.max(1, r.started))) },
    ],
  });
  if (soakSamples.length >= 2) {
    await tryChart("soak", {
      path: file("soak.png"), title: `Soak: Warden at ${fint(soakRate)} req/s (70 % of its best) for ${f1(soakSamples[soakSamples.length - 1].t_s / 60)} min`,
      note: `RSS of Warden's process group and its open file descriptors every ${SOAK_SAMPLE_S} s; p99 per ${SOAK_SEGMENT_S} s wrk segment. ${chartNote}`, cols: 3, panelW: 460, panelH: 320,
      panels: [
        { title: "RSS (MB)", xLabel: "minutes", yLabel: "MB", series: [{ name: "Warden", color: COLOR.warden, points: soakSamples.map((s) => ({ x: s.t_s / 60, y: s.rss_kb / 1024 })) }] },
        { title: "open file descriptors", xLabel: "minutes", yLabel: "fds", series: [{ name: "Warden", color: COLOR.warden, points: soakSamples.map((s) => ({ x: s.t_s / 60, y: s.fds })) }] },
        { title: "p50 and p99 latency per segment", xLabel: "minutes", yLabel: "ms", series: [
          { name: "Warden p99", color: COLOR.warden, points: soakSegs.map((s) => ({ x: (s.from_s + SOAK_SEGMENT_S / 2) / 60, y: ms(s.r.p99_us) })) },
          { name: "Warden p50", color: "#17becf", dash: "5 3", points: soakSegs.map((s) => ({ x: (s.from_s + SOAK_SEGMENT_S / 2) / 60, y: ms(s.r.p50_us) })) },
        ] },
        { title: "req/s per segment", xLabel: "minutes", yLabel: "req/s", series: [{ name: "Warden", color: COLOR.warden, points: soakSegs.map((s) => ({ x: (s.from_s + SOAK_SEGMENT_S / 2) / 60, y: s.r.rps })) }], refs: [{ y: soakRate, label: "target rate" }] },
        { title: "audit queue depth (records not yet written)", xLabel: "minutes", yLabel: "records", series: [{ name: "Warden", color: COLOR.warden, points: soakSamples.map((s) => ({ x: s.t_s / 60, y: s.audit_queue })) }] },
        { title: "Warden CPU (% of its one core)", xLabel: "minutes", yLabel: "%", series: [{ name: "Warden", color: COLOR.warden, points: soakSamples.map((s) => ({ x: s.t_s / 60, y: s.cpu_pct })) }] },
      ],
    });
  }
  const img = (name: string, alt: string) => (charts.includes(name) ? `![${alt}](${PREFIX}-${name}.png)\n` : `(chart ${name}: not rendered, see the notes)\n`);

  // ---- Where Warden loses (computed, so the summary cannot flatter it)
  const losses: string[] = [];
  for (const p of peers) {
    for (const c of MAIN_LEVELS) {
      const w = W(c, "warden"), r = W(c, p.key);
      if (w && r && r.rps > w.rps) losses.push(`non-streaming c=${c}: ${p.label} ${fint(r.rps)} req/s > Warden ${fint(w.rps)}`);
      if (w && r && r.p99_us < w.p99_us) losses.push(`non-streaming c=${c}: ${p.label} p99 ${f2(ms(r.p99_us))} ms < Warden ${f2(ms(w.p99_us))} ms`);
      if (w && r && r.peak_rss_kb < w.peak_rss_kb) losses.push(`non-streaming c=${c}: ${p.label} peak RSS ${mb(r.peak_rss_kb)} MB < Warden ${mb(w.peak_rss_kb)} MB`);
    }
    for (const n of STREAM_LEVELS) {
      const w = S(n, "warden"), r = S(n, p.key);
      const ctx = w && r ? ` (of the streams that got through: ${p.label} delivered ${fint(r.tokens / r.elapsed_s)} tokens/s with ${fint(r.errors.total)} of ${fint(r.started)} streams failed or stalled, Warden ${fint(w.tokens / w.elapsed_s)} tokens/s with ${fint(w.errors.total)} failed)` : "";
      if (w && r && r.gap_ms.p99 < w.gap_ms.p99) losses.push(`streaming N=${n}: ${p.label} gap p99 ${f1(r.gap_ms.p99)} ms < Warden ${f1(w.gap_ms.p99)} ms${ctx}`);
      if (w && r && r.ttft_ms.p50 < w.ttft_ms.p50) losses.push(`streaming N=${n}: ${p.label} TTFT p50 ${f1(r.ttft_ms.p50)} ms < Warden ${f1(w.ttft_ms.p50)} ms${ctx}`);
      if (w && r && r.errors.total < w.errors.total) losses.push(`streaming N=${n}: ${p.label} ${fint(r.errors.total)} failed streams < Warden ${fint(w.errors.total)}`);
      if (w && r && r.peak_rss_kb < w.peak_rss_kb) losses.push(`streaming N=${n}: ${p.label} peak RSS ${mb(r.peak_rss_kb)} MB < Warden ${mb(w.peak_rss_kb)} MB`);
    }
  }
  for (const n of STREAM_LEVELS) {
    const w = S(n, "warden");
    if (w && (w.failed || w.errors.total > 0)) losses.push(`streaming N=${n}: Warden failed ${w.failed ? "the run" : `${fint(w.errors.total)} of ${fint(w.started)} streams`} (${w.error_samples.slice(0, 3).map((s) => `${fint(s.n)}× ${s.msg}`).join("; ") || w.failed})`);
  }
  for (const c of MAIN_LEVELS) {
    const w = W(c, "warden");
    if (w && (w.failed || wrkErrTotal(w) > 0)) losses.push(`non-streaming c=${c}: Warden errors ${wrkErrors(w)}`);
  }

  const summary = `${header("Peers side by side — summary")}
## Targets from the issue

${goalTable}

## Ratios Warden / peer per scenario

Non-streaming (req/s ratio; "CPU" = the peer's CPU per request ÷ Warden's, above 1 means Warden is cheaper):

${nsRatio}

Streaming (Warden's inter-token gap p99 ÷ the peer's; the time to first token Warden adds (+) or saves (−) at p50;
failed or stalled streams, Warden vs the peer; peak RSS ratio):

${stRatio}

Throughput at a p99 bound (best req/s among the sweep's points whose p99 stays under the bound, no errors):

${tpRatio}

Soak: Warden only (the peers are not soaked: with them the run would not fit in 30 minutes). ${soakSamples.length >= 3 ? `RSS floor slope ${sign(floorSlope, 2)} MB/min (all samples ${sign(rssSlope, 2)}), fds ${fint(fdFirst)} → ${fint(fdLast)}.` : soakNote}

## Where Warden loses or fails

${losses.length ? losses.map((l) => `- ${l}`).join("\n") : "- nowhere in this run"}

${img("latency", "latency vs concurrency")}
${img("stream-gap", "inter-token gap vs streams")}
## Notes

${logNotes.map((n) => `- ${n}`).join("\n")}
`;

  const nsMd = `${header("Peers side by side — non-streaming sweep")}
${setupSection}
## Non-streaming chat completions (wrk)

\`wrk -t1 -c<c> -d${opts.durationS}s --timeout 5s\` per point, after a ${WARMUP_S} s warm-up per target at c=32; targets interleaved at each c.
Latency is wrk's (closed loop, not corrected for coordinated omission). "added vs direct" is the target's percentile minus direct's at
the same c. "CPU s / 1000 req" is the CPU time of the system under test's whole process group (children included; for direct,
the mock) per 1000 requests served, "CPU % of a core" the same CPU time over the point's wall time (100 = its core saturated;
the pinned systems under test have one core); "peak RSS" the largest sum of its processes' RSS, sampled every 250 ms during the point.

${nsTable}

Ratios (Warden's req/s ÷ the other's; "CPU" = the other's CPU per request ÷ Warden's):

${nsRatio}
${extraRows.length ? `\nExtra points (${opts.extraDurationS} s each) for the throughput-at-p99 scenario:\n\n${table(["c", "target", "req/s", "p50 ms", "p99 ms", "p99.9 ms", "errors", "CPU s / 1000 req", "CPU % of a core", "peak RSS MB", "other CPU %"], extraRows)}\n` : ""}
${img("latency", "latency vs concurrency")}
## Notes

${logNotes.map((n) => `- ${n}`).join("\n")}
`;

  const stMd = `${header("Peers side by side — streaming")}
${setupSection}
## Streaming chat completions (bench/peers/stream-client.ts)

N concurrent streams, each 40 content tokens 25 ms apart at the mock, each restarted when it ends; streams start spread over the
ramp (1 s, or N/2 ms above 2000 streams), new ones start for ${opts.streamDurationS} s after it, then the open ones finish. A stream with no byte
for ${IDLE_MS / 1000} s is aborted and counted **stalled**; so is one still open ${TAIL_MS / 1000} s after the last start. "errors" adds HTTP statuses other than
200, streams that ended without [DONE], \`{"error":...}\` events, exceptions (connection refused or reset, ...) and stalls. Gap = time
between successive content deltas of one stream at the client (ideal 25 ms); TTFT = request start to the first content delta (ideal
≈ 25 ms). "peak fds" = open descriptors of the system under test's main process (sampled every 500 ms). "client CPU s / wall s"
near 1 means the load generator's core was saturated (it shares core ${LOAD_CPUS} with the mocks), which holds every target back alike.
${peers.length ? "A peer that failed more than half its streams at one level is not run at higher levels (time)." : ""}

${stTable}

Ratios:

${stRatio}
${stSamples.length ? `\nError samples (distinct messages, counted):\n\n${stSamples.join("\n")}\n` : ""}
${img("stream-gap", "inter-token gap vs streams")}
## Notes

${logNotes.map((n) => `- ${n}`).join("\n")}
`;

  const tpMd = `${header("Peers side by side — throughput at fixed p99 bounds")}
${setupSection}
## Throughput at fixed p99 bounds

wrk2 (constant-rate load) is not available here, so this uses the sweep's closed-loop points: wrk at c = ${LEVELS.join(", ")}
(${opts.durationS} s at ${MAIN_LEVELS.join(", ")}${EXTRA_LEVELS.length ? `, ${opts.extraDurationS} s at ${EXTRA_LEVELS.join(", ")}` : ""}). For each bound, the highest req/s among a target's points with p99 ≤ the bound
and no errors. "none" = no point of that target stayed under the bound (even at c=1).

${tpTable}

${tpRatio}

## Notes

${logNotes.map((n) => `- ${n}`).join("\n")}
`;

  const soakMd = `${header("Peers side by side — soak")}
${setupSection}
## Soak (Warden)

${soakSegs.length ? `Paced load at ${fint(soakRate)} req/s (${SOAK_FRACTION * 100} % of Warden's best error-free req/s in the sweep, ${fint(wardenBest)}), \`wrk -t1 -c${SOAK_CONNS}\` with
\`WRK_RATE=${soakRate}\` (bench/peers/wrk-peer.lua paces each request to its slot), run as ${soakSegs.length} consecutive ${SOAK_SEGMENT_S} s segments (fresh connections
each); Warden's process-group RSS, open fds and CPU sampled every ${SOAK_SAMPLE_S} s. Slopes are least-squares fits (after the first
${f1(Math.min(60, opts.soakS / 5))} s of warm-up): over every sample, over each minute's lowest sample (the floor of the garbage
collector's saw, which a leak lifts: the verdict), and over the second half alone (shown, but it swings with the saw's phase). The peers were not soaked (optional in the issue; it would take
the run past 30 minutes).

| measure | value |
| :--- | ---: |
| requests | ${fint(soakReq)} |
| errors | ${fint(soakErr)} |
| RSS first / last sample (MB) | ${mb(soakSamples[0]?.rss_kb ?? NaN)} / ${mb(soakSamples[soakSamples.length - 1]?.rss_kb ?? NaN)} |
| RSS min / max (MB) | ${mb(Math.min(...soakSamples.map((s) => s.rss_kb)))} / ${mb(Math.max(...soakSamples.map((s) => s.rss_kb)))} |
| RSS slope after warm-up (MB/min) | ${sign(rssSlope, 3)} |
| RSS floor slope: each minute's lowest sample (MB/min) | ${sign(floorSlope, 3)} |
| RSS slope over the second half (MB/min) | ${sign(rssSlope2, 3)} |
| open fds after warm-up, first / last | ${fint(fdFirst)} / ${fint(fdLast)} |
| fd slope after warm-up (per min) | ${sign(fdSlope, 2)} |
| audit queue depth (records handed to the audit worker, not yet written), first / max / last sample | ${fint(soakSamples[0]?.audit_queue ?? NaN)} / ${fint(Math.max(...soakSamples.map((s) => s.audit_queue).filter(Number.isFinite)))} / ${fint(soakSamples[soakSamples.length - 1]?.audit_queue ?? NaN)} |
| audit records lost (last sample) | ${fint(soakSamples[soakSamples.length - 1]?.audit_lost ?? NaN)} |
| ledger records written (last sample) vs requests sent | ${fint(soakSamples[soakSamples.length - 1]?.ledger_records ?? NaN)} vs ${fint(soakReq)} |
| verdict (floor and all-sample RSS slopes ≤ 1 MB/min, fds +≤ 20, no errors) | ${verdict(flat)} |

Per segment:

${table(["from s", "req/s", "p50 ms", "p99 ms", "p99.9 ms", "errors", "CPU s / 1000 req", "other CPU %"], soakSegRows, ["r", "r", "r", "r", "r", "l", "r", "r"])}

Samples:

${table(["t s", "RSS MB", "open fds", "Warden CPU % of one core", "audit queue depth", "ledger records", "audit records lost"], soakSampleRows, ["r", "r", "r", "r", "r", "r", "r"])}

${img("soak", "soak RSS and fds")}` : `Not run: ${soakNote}.`}
## Notes

${logNotes.map((n) => `- ${n}`).join("\n")}
`;

  const written: string[] = [];
  for (const [name, md] of [["summary", summary], ["nonstreaming", nsMd], ["streaming", stMd], ["throughput", tpMd], ["soak", soakMd]] as const) {
    writeFileSync(file(`${name}.md`), md);
    written.push(relative(process.cwd(), file(`${name}.md`)) || file(`${name}.md`));
  }
  for (const c of charts) written.push(relative(process.cwd(), file(`${c}.png`)));
  console.log(`\n${goalTable}\n\n${nsRatio}\n\n${stRatio}\n\n${tpRatio}\n`);
  console.log(`where Warden loses or fails:\n${losses.map((l) => `- ${l}`).join("\n") || "- nowhere"}\n`);
  for (const n of logNotes) console.log(`- ${n}`);
  console.log(`\ntotal ${f1(totalS / 60)} min; wrote:\n${written.map((w) => `  ${w}`).join("\n")}`);
}

try {
  await main();
  if (!opts.keepLogs && workDir) rmSync(workDir, { recursive: true, force: true });
  else if (workDir) console.log(`logs kept in ${workDir}`);
  process.exit(0);
} catch (e) {
  console.error(`bench/peers/run.ts: ${(e as Error).stack ?? (e as Error).message}`);
  for (const p of [...children]) await stopProc(p, 1000);
  if (workDir) console.error(`logs kept in ${workDir}`);
  process.exit(1);
}
