// Benchmark scenario runner: direct-to-mock vs a bare Bun pass-through vs Warden, side by side,
// all three fronting the SAME mock upstream process, in one run on this machine.
//
//   ./node_modules/.bin/bun bench/run.ts [--duration S] [--stream-duration S] [--quick] [--out PATH]
//                                        [--build] [--keep-logs] [--stages] [--warmup S]
//
// --stages measures the guarded hot path (issue #3): Warden with a master key, and every request
// authenticated with a virtual key that has request, token and concurrency limits (so the key
// look-up, the WAF with its default policy, token counting and the rate limiter all run), at
// c = 1, 32, 128, non-streaming only.
//
// --warmup S (default 10, 1 with --quick): load per target before anything is measured, so every
// target is measured with its JIT settled.
//
// Writes bench/results/<YYYY-MM-DD>-baseline.md (-hotpath.md with --stages; or --out) and prints
// the same tables.
// See bench/README.md for how to read them.
import { spawn, type Subprocess } from "bun";
import { chmodSync, closeSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";

const ROOT = resolve(import.meta.dir, "..");
const BENCH = import.meta.dir;
const BUN = process.execPath;
const WARDEN = join(ROOT, "dist", "warden");
const HOST = "127.0.0.1"; // loopback only, always
const MAX_HTTP = "65336"; // Bun's fetch queues beyond 256 concurrent requests without this
const WANT_NOFILE = 65536;

// ---------------------------------------------------------------------------------------------
// Options

interface Opts {
  durationS: number;
  streamDurationS: number;
  quick: boolean;
  out: string | undefined;
  build: boolean;
  keepLogs: boolean;
  stages: boolean;
  warmupS: number;
}

function usage(msg?: string): never {
  if (msg) console.error(`bench/run.ts: ${msg}`);
  console.error("usage: bun bench/run.ts [--duration S] [--stream-duration S] [--quick] [--out PATH] [--build] [--keep-logs] [--stages] [--warmup S]");
  process.exit(2);
}

function parseArgs(argv: string[]): Opts {
  const o: Opts = { durationS: 10, streamDurationS: 10, quick: false, out: undefined, build: false, keepLogs: false, stages: false, warmupS: 10 };
  let dSet = false;
  let sSet = false;
  for (let i = 0; i < argv.length; i++) {
    const secs = () => {
      const v = Number(argv[++i]);
      if (!Number.isFinite(v) || v < 1 || v > 600) usage(`${argv[i - 1]} needs a number of seconds in 1..600`);
      return Math.round(v);
    };
    switch (argv[i]) {
      case "--duration": o.durationS = secs(); dSet = true; break;
      case "--stream-duration": o.streamDurationS = secs(); sSet = true; break;
      case "--quick": o.quick = true; break;
      case "--out": o.out = argv[++i] ?? usage("--out needs a path"); break;
      case "--build": o.build = true; break;
      case "--keep-logs": o.keepLogs = true; break;
      case "--stages": o.stages = true; break;
      case "--warmup": o.warmupS = secs(); break;
      case "-h": case "--help": usage();
      default: usage(`unknown argument: ${argv[i]}`);
    }
  }
  if (o.quick) {
    if (!dSet) o.durationS = 3;
    if (!sSet) o.streamDurationS = 3;
    if (!argv.includes("--warmup")) o.warmupS = 1;
  }
  return o;
}

const opts = parseArgs(process.argv.slice(2));
const CONCURRENCY = opts.stages ? [1, 32, 128] : [1, 4, 32, 128];
const STREAM_LEVELS = opts.stages ? [] : opts.quick ? [100, 1000] : [100, 1000, 2000];
const MASTER_KEY = "bench-master-key-0123456789";
/** The virtual key every request carries with --stages (created with `warden keys create`). */
let clientKey: string | undefined;
const WRK_TOKENS = 16;
const STREAM_TOKENS = 40;
const STREAM_DELAY_MS = 25;
// Long enough for the JIT to settle: Warden's JIT thread was still compiling 8 s into a c=32 run
// (9-19 µs of CPU per request), so a 2 s warm-up measured compilation, not the steady state.
const WARMUP_S = opts.warmupS;

// ---------------------------------------------------------------------------------------------
// Child processes: every one is tracked and killed on exit, error, SIGINT or SIGTERM.

const children = new Set<Subprocess>();
let workDir = "";

function killAllSync(): void {
  for (const p of children) {
    if (p.exitCode === null && p.signalCode === null) {
      try { p.kill("SIGKILL"); } catch {}
    }
  }
  children.clear();
}

async function stopAll(): Promise<void> {
  const alive = [...children].filter((p) => p.exitCode === null && p.signalCode === null);
  for (const p of alive) {
    try { p.kill("SIGTERM"); } catch {}
  }
  const deadline = Date.now() + 3000;
  for (const p of alive) {
    const left = deadline - Date.now();
    if (left > 0) await Promise.race([p.exited, Bun.sleep(left)]);
  }
  killAllSync();
}

process.on("exit", killAllSync);
let interrupted = false;
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
  process.on(sig, () => {
    if (interrupted) return;
    interrupted = true;
    console.error(`\nbench/run.ts: ${sig}: stopping all child processes`);
    void stopAll().finally(() => {
      if (!opts.keepLogs && workDir) rmSync(workDir, { recursive: true, force: true });
      process.exit(130);
    });
  });
}

/** argv run under a shell that raises the open-files limit as far as allowed, then execs. */
function withNofile(cmd: string[]): string[] {
  return ["/bin/sh", "-c", `ulimit -n ${WANT_NOFILE} 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$@"`, "sh", ...cmd];
}

function baseEnv(extra: Record<string, string>): Record<string, string> {
  // A clean environment: nothing like BUN_OPTIONS or stray WARDEN_* variables leaks into children.
  const env: Record<string, string> = { PATH: process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin", HOME: process.env.HOME ?? "/tmp" };
  if (process.env.TMPDIR) env.TMPDIR = process.env.TMPDIR;
  return { ...env, ...extra };
}

interface Server {
  name: string;
  proc: Subprocess;
  log: string;
}

function startServer(name: string, cmd: string[], env: Record<string, string>, cwd = ROOT): Server {
  const log = join(workDir, `${name}.log`);
  const fd = openSync(log, "w");
  const proc = spawn({ cmd: withNofile(cmd), env, cwd, stdin: "ignore", stdout: fd, stderr: fd });
  closeSync(fd);
  children.add(proc);
  const s = { name, proc, log };
  SERVERS.push(s);
  return s;
}

function alive(s: Server): boolean {
  return s.proc.exitCode === null && s.proc.signalCode === null;
}

function tail(path: string, lines = 30): string {
  try {
    return readFileSync(path, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
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

async function run(cmd: string[], opt: { env?: Record<string, string>; timeoutMs: number; cwd?: string }): Promise<{ code: number | null; stdout: string; stderr: string; cpuS: number }> {
  const proc = spawn({ cmd, env: opt.env ?? baseEnv({}), cwd: opt.cwd ?? ROOT, stdin: "ignore", stdout: "pipe", stderr: "pipe", timeout: opt.timeoutMs, killSignal: "SIGKILL" });
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

function procStatus(pid: number, key: string): string {
  try {
    const m = readFileSync(`/proc/${pid}/status`, "utf8").match(new RegExp(`^${key}:\\s*(.+)$`, "m"));
    return m ? m[1].trim() : "?";
  } catch {
    return "?";
  }
}

let CLK_TCK = 100;
let NPROC = 2;
const SERVERS: Server[] = [];

/** CPU seconds the whole machine was busy (user + nice + system + irq + softirq; not idle, iowait
 * or steal). Per-process times include the (soft)irq work done in their context, e.g. loopback TCP. */
function machineCpuSeconds(): number {
  const f = readFileSync("/proc/stat", "utf8").split("\n", 1)[0].trim().split(/\s+/).slice(1).map(Number);
  return (f[0] + f[1] + f[2] + f[5] + f[6]) / CLK_TCK;
}

interface Snapshot { t: number; machine: number; servers: number; alive: number; self: number; proxy: number; mock: number }
function snapshot(t: Target, mock: Server): Snapshot {
  const self = process.cpuUsage();
  return {
    t: performance.now(),
    machine: machineCpuSeconds(),
    servers: SERVERS.reduce((a, s) => a + (alive(s) ? cpuSeconds(s.proc.pid) : 0), 0),
    alive: SERVERS.filter(alive).length,
    self: (self.user + self.system) / 1e6,
    proxy: cpuSeconds(t.server.proc.pid),
    mock: cpuSeconds(mock.proc.pid),
  };
}
/** CPU use during a run: the proxy's and the mock's CPU seconds, and the share of the machine
 * (percent of all cores) used by processes other than ours — another workload skewing the run. */
function cpuDuring(a: Snapshot, b: Snapshot, loadgenCpuS: number): { proxy_cpu_s: number; mock_cpu_s: number; other_cpu_pct: number } {
  const ours = b.servers - a.servers + (b.self - a.self) + (Number.isFinite(loadgenCpuS) ? loadgenCpuS : 0);
  const wall = (b.t - a.t) / 1000;
  const other = Math.max(0, b.machine - a.machine - ours);
  // A server that exited during the run took its CPU time with it: no honest figure then.
  const pct = wall > 0 && a.alive === b.alive ? Math.min(100, (100 * other) / (wall * NPROC)) : NaN;
  return { proxy_cpu_s: b.proxy - a.proxy, mock_cpu_s: b.mock - a.mock, other_cpu_pct: pct };
}

// ---------------------------------------------------------------------------------------------
// Targets

type TargetKey = "direct" | "passthrough" | "warden";
interface Target {
  key: TargetKey;
  label: string;
  base: string; // e.g. http://127.0.0.1:PORT/v1
  server: Server; // the process whose CPU is "the proxy" (the mock itself for direct)
  dead?: string;
}

const LABEL: Record<TargetKey, string> = { direct: "direct (mock)", passthrough: "pass-through", warden: "Warden" };

function clientHeaders(): Record<string, string> {
  return clientKey ? { "content-type": "application/json", authorization: `Bearer ${clientKey}` } : { "content-type": "application/json" };
}

async function sanity(t: Target): Promise<string | undefined> {
  try {
    const r = await fetch(`${t.base}/chat/completions`, {
      method: "POST",
      headers: clientHeaders(),
      body: JSON.stringify({ model: "mock-gpt", messages: [{ role: "user", content: "Say hello" }], mock: { tokens: 4 } }),
      signal: AbortSignal.timeout(5000),
    });
    const text = await r.text();
    if (r.status !== 200) return `non-streaming: HTTP ${r.status}: ${text.slice(0, 300)}`;
    const j = JSON.parse(text);
    if (j?.choices?.[0]?.message?.content !== "tok0 tok1 tok2 tok3") return `non-streaming: unexpected body ${text.slice(0, 300)}`;
    const s = await fetch(`${t.base}/chat/completions`, {
      method: "POST",
      headers: clientHeaders(),
      body: JSON.stringify({ model: "mock-gpt", messages: [{ role: "user", content: "Say hello" }], stream: true, mock: { tokens: 4, delayMs: 1 } }),
      signal: AbortSignal.timeout(5000),
    });
    const st = await s.text();
    if (s.status !== 200) return `streaming: HTTP ${s.status}: ${st.slice(0, 300)}`;
    if (!(s.headers.get("content-type") ?? "").startsWith("text/event-stream")) return `streaming: content-type ${s.headers.get("content-type")}`;
    const deltas = st.split("\n").filter((l) => l.startsWith("data: ") && l.includes('"delta":{"content":"')).length;
    if (deltas !== 4 || !st.includes("data: [DONE]")) return `streaming: ${deltas} content deltas, [DONE] ${st.includes("data: [DONE]")}`;
    return undefined;
  } catch (e) {
    return `exception: ${(e as Error).message}`;
  }
}

// ---------------------------------------------------------------------------------------------
// Scenarios

interface WrkResult {
  requests: number;
  duration_s: number;
  rps: number;
  p50_us: number;
  p90_us: number;
  p99_us: number;
  max_us: number;
  mean_us: number;
  errors: { connect: number; read: number; write: number; status: number; timeout: number };
  proxy_cpu_s: number;
  mock_cpu_s: number;
  other_cpu_pct: number;
  failed?: string;
}

async function wrk(t: Target, mock: Server, c: number, durS: number): Promise<WrkResult> {
  const threads = c === 1 ? 1 : 2;
  const s0 = snapshot(t, mock);
  const r = await run(
    withNofile(["wrk", `-t${threads}`, `-c${c}`, `-d${durS}s`, "--timeout", "5s", "-s", join(BENCH, "wrk-chat.lua"), `${t.base}/chat/completions`]),
    { env: baseEnv({ WRK_TOKENS: String(WRK_TOKENS), ...(clientKey ? { WRK_AUTH: `Bearer ${clientKey}` } : {}) }), timeoutMs: (durS + 30) * 1000 },
  );
  const u = cpuDuring(s0, snapshot(t, mock), r.cpuS);
  const line = r.stdout.split("\n").find((l) => l.startsWith("WRK_JSON "));
  if (!line) {
    const why = `wrk exit ${r.code}: ${(r.stderr || r.stdout).trim().slice(0, 500)}`;
    return { requests: 0, duration_s: durS, rps: 0, p50_us: NaN, p90_us: NaN, p99_us: NaN, max_us: NaN, mean_us: NaN, errors: { connect: 0, read: 0, write: 0, status: 0, timeout: 0 }, ...u, failed: why };
  }
  return { ...JSON.parse(line.slice(9)), ...u };
}

interface StreamResult {
  streams: number;
  started: number;
  completed: number;
  errors: { total: number; http: number; no_done: number; error_event: number; exception: number; stalled: number };
  error_samples: { msg: string; n: number }[];
  tokens: number;
  peak_open: number;
  elapsed_s: number;
  gap_ms: { count: number; p50: number; p90: number; p99: number; p999: number; max: number };
  ttft_ms: { count: number; p50: number; p99: number; max: number };
  client_cpu_s: number;
  overflow: number;
  proxy_cpu_s: number;
  mock_cpu_s: number;
  other_cpu_pct: number;
  failed?: string;
}

async function streamLoad(t: Target, mock: Server, n: number, durS: number): Promise<StreamResult> {
  const s0 = snapshot(t, mock);
  const streamMs = STREAM_TOKENS * STREAM_DELAY_MS;
  const r = await run(
    withNofile([BUN, join(BENCH, "stream-load.ts"), "--url", t.base, "--streams", String(n), "--tokens", String(STREAM_TOKENS), "--delay-ms", String(STREAM_DELAY_MS), "--duration", String(durS), "--ramp-ms", "1000"]),
    // Upper bound: ramp + duration + the load generator's own grace (one stream + 5 s) + slack.
    { env: baseEnv({ BUN_CONFIG_MAX_HTTP_REQUESTS: MAX_HTTP }), timeoutMs: 1000 + durS * 1000 + streamMs + 5000 + 30_000 },
  );
  const u = cpuDuring(s0, snapshot(t, mock), r.cpuS);
  const line = r.stdout.split("\n").find((l) => l.startsWith("STREAM_JSON "));
  if (!line) {
    const nan = NaN;
    return {
      streams: n, started: 0, completed: 0, errors: { total: 0, http: 0, no_done: 0, error_event: 0, exception: 0, stalled: 0 }, error_samples: [],
      tokens: 0, peak_open: 0, elapsed_s: nan, gap_ms: { count: 0, p50: nan, p90: nan, p99: nan, p999: nan, max: nan }, ttft_ms: { count: 0, p50: nan, p99: nan, max: nan },
      client_cpu_s: nan, overflow: 0, ...u, failed: `stream-load exit ${r.code}: ${(r.stderr || r.stdout).trim().slice(0, 500)}`,
    };
  }
  return { ...JSON.parse(line.slice(12)), ...u };
}

// ---------------------------------------------------------------------------------------------
// Formatting

const f1 = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : "—");
const f2 = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : "—");
const fint = (x: number) => (Number.isFinite(x) ? Math.round(x).toLocaleString("en-US") : "—");
const ms = (us: number) => us / 1000;
const sign = (x: number, d = 2) => (Number.isFinite(x) ? `${x >= 0 ? "+" : ""}${x.toFixed(d)}` : "—");

function table(head: string[], rows: string[][], align?: ("l" | "r")[]): string {
  const a = align ?? head.map((_, i) => (i < 2 ? "l" : "r"));
  const out = [`| ${head.join(" | ")} |`, `| ${a.map((x) => (x === "r" ? "---:" : ":---")).join(" | ")} |`];
  for (const r of rows) out.push(`| ${r.join(" | ")} |`);
  return out.join("\n");
}

function wrkErrors(r: WrkResult): string {
  if (r.failed) return `run failed: ${r.failed.replace(/\|/g, "/").replace(/\n/g, " ")}`;
  const e = r.errors;
  const total = e.connect + e.read + e.write + e.status + e.timeout;
  if (total === 0) return "0";
  const parts = Object.entries(e).filter(([, v]) => v > 0).map(([k, v]) => `${k === "status" ? "HTTP≥400" : k} ${v}`);
  return `**${total}** (${parts.join(", ")})`;
}

function streamErrors(r: StreamResult): string {
  if (r.failed) return `run failed: ${r.failed.replace(/\|/g, "/").replace(/\n/g, " ")}`;
  const { total, ...rest } = r.errors;
  if (total === 0) return "0";
  const parts = Object.entries(rest).filter(([, v]) => v > 0).map(([k, v]) => `${k.replace("_", " ")} ${v}`);
  return `**${total}** (${parts.join(", ")})`;
}

// ---------------------------------------------------------------------------------------------
// Main

async function sh(cmd: string): Promise<string> {
  const r = await run(["/bin/sh", "-c", cmd], { timeoutMs: 10_000 });
  return r.stdout.trim();
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
    if (r.code !== 0 || !(await have())) {
      throw new Error(`wrk is required and could not be installed (apt-get install -y wrk exited ${r.code}):\n${r.stderr.trim().slice(-800)}\nInstall it by hand (Debian/Ubuntu: apt-get install wrk) and re-run.`);
    }
  }
  const v = await run(["wrk", "--version"], { timeoutMs: 5000 });
  return (v.stdout + v.stderr).split("\n")[0].trim();
}

async function main(): Promise<void> {
  const startedAt = new Date();
  workDir = mkdtempSync(join(tmpdir(), "warden-bench-"));
  CLK_TCK = Number(await sh("getconf CLK_TCK")) || 100;
  const wrkVersion = await ensureWrk();

  if (opts.build || !existsSync(WARDEN)) {
    console.log(`building dist/warden (${opts.build ? "--build" : "missing"}) ...`);
    const b = spawn({ cmd: [BUN, "build.ts"], cwd: ROOT, stdout: "inherit", stderr: "inherit", env: { ...process.env } });
    children.add(b);
    if ((await b.exited) !== 0) throw new Error("bun build.ts failed");
    children.delete(b);
  }

  // Which Warden is measured: the binary's hash and age, and the source tree it may have been built from.
  // The run uses a private copy, so a rebuild of dist/warden during the run cannot change what is measured.
  const binHash = async (path: string) => new Bun.CryptoHasher("sha256").update(await Bun.file(path).arrayBuffer()).digest("hex");
  const wardenBuilt = statSync(WARDEN).mtime.toISOString();
  const wardenBin = join(workDir, "bin", "warden");
  mkdirSync(dirname(wardenBin), { recursive: true });
  copyFileSync(WARDEN, wardenBin);
  chmodSync(wardenBin, 0o755);
  const wardenSha = await binHash(wardenBin);
  const head = (await run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], { timeoutMs: 10_000 })).stdout.trim() || "?";
  const dirty = (await run(["git", "-C", ROOT, "status", "--porcelain", "--", "src", "ffi", "build.ts", "package.json"], { timeoutMs: 10_000 })).stdout
    .split("\n").filter(Boolean).length;

  // Machine facts.
  const cpuinfo = readFileSync("/proc/cpuinfo", "utf8");
  const cpuModel = cpuinfo.match(/^model name\s*:\s*(.+)$/m)?.[1]?.trim() ?? "unknown";
  const memKb = Number(readFileSync("/proc/meminfo", "utf8").match(/^MemTotal:\s*(\d+)/m)?.[1] ?? 0);
  const nproc = await sh("nproc");
  NPROC = Number(nproc) || 2;
  // Is something else busy on this machine? Sample 2 s before any of our servers start.
  const idle0 = machineCpuSeconds();
  await Bun.sleep(2000);
  const otherBefore = (100 * (machineCpuSeconds() - idle0)) / (2 * NPROC);
  if (otherBefore > 10) {
    console.warn(`WARNING: ${f1(otherBefore)} % of the machine's CPU is busy before the benchmark started: another workload will skew the results`);
  }
  const kernel = await sh("uname -r");
  const nofile = await sh(`ulimit -n ${WANT_NOFILE} 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null; ulimit -n`);
  const versionDir = join(workDir, "version-data");
  const wv = await run([wardenBin, "version"], { env: baseEnv({ WARDEN_DATA_DIR: versionDir }), timeoutMs: 30_000, cwd: workDir });
  const wardenVersion = wv.stdout.trim().split("\n").join(", ") || `(warden version failed: ${wv.stderr.trim()})`;
  const needFd = Math.max(...STREAM_LEVELS) * 2 + 1024;
  const fdNote = Number(nofile) >= needFd ? "" : ` — LOW: ${needFd} needed for ${Math.max(...STREAM_LEVELS)} streams through a proxy`;
  if (fdNote) console.warn(`WARNING: open-files limit ${nofile}${fdNote}`);

  // Servers: the one mock, the pass-through and Warden in front of it.
  const [mockPort, passPort, wardenPort] = [await freePort(), await freePort(), await freePort()];
  const mock = startServer("mock", [BUN, join(BENCH, "mock-upstream.ts"), "--port", String(mockPort)], baseEnv({}));
  await waitReady(mock, `http://${HOST}:${mockPort}/v1/models`, 20_000);
  const pass = startServer("passthrough", [BUN, join(BENCH, "passthrough.ts"), "--port", String(passPort), "--target", `http://${HOST}:${mockPort}`], baseEnv({ BUN_CONFIG_MAX_HTTP_REQUESTS: MAX_HTTP }));
  await waitReady(pass, `http://${HOST}:${passPort}/v1/models`, 20_000);
  const dataDir = join(workDir, "warden-data");
  mkdirSync(dataDir, { recursive: true });
  // Warden's environment is exactly the documented one: it raises BUN_CONFIG_MAX_HTTP_REQUESTS itself.
  const wardenEnv = baseEnv({
    WARDEN_PORT: String(wardenPort),
    WARDEN_DATA_DIR: dataDir,
    WARDEN_UPSTREAM_MOCK_URL: `http://${HOST}:${mockPort}/v1`,
    WARDEN_UPSTREAM_MOCK_MODELS: "mock-gpt",
    WARDEN_LOG_LEVEL: "warn",
    ...(opts.stages ? { WARDEN_MASTER_KEY: MASTER_KEY } : {}),
  });
  if (opts.stages) {
    // Limits far above what this machine can reach: every check runs, none refuses.
    const created = await run(
      [wardenBin, "keys", "create", "--tenant", "bench", "--name", "bench", "--rpm", "1000000000", "--tpm", "1000000000000", "--max-concurrent", "100000"],
      { env: wardenEnv, timeoutMs: 30_000, cwd: workDir },
    );
    if (created.code !== 0) throw new Error(`warden keys create failed: ${created.stderr}`);
    clientKey = JSON.parse(created.stdout).key;
    if (typeof clientKey !== "string") throw new Error(`warden keys create printed no key: ${created.stdout}`);
  }
  const warden = startServer("warden", [wardenBin, "serve"], wardenEnv, workDir);
  await waitReady(warden, `http://${HOST}:${wardenPort}/ready`, 60_000);

  const targets: Target[] = [
    { key: "direct", label: LABEL.direct, base: `http://${HOST}:${mockPort}/v1`, server: mock },
    { key: "passthrough", label: LABEL.passthrough, base: `http://${HOST}:${passPort}/v1`, server: pass },
    { key: "warden", label: LABEL.warden, base: `http://${HOST}:${wardenPort}/v1`, server: warden },
  ];
  const notes: string[] = [];
  for (const t of targets) {
    const bad = await sanity(t);
    if (bad && t.key !== "warden") throw new Error(`${t.label} failed the sanity check: ${bad}`);
    if (bad) notes.push(`Warden failed the pre-run sanity check: ${bad}`);
  }
  console.log(`servers up: mock :${mockPort}, pass-through :${passPort}, Warden :${wardenPort} (logs in ${workDir})`);

  const checkAlive = () => {
    for (const s of [mock, pass]) if (!alive(s)) throw new Error(`${s.name} exited during the run (code ${s.proc.exitCode ?? s.proc.signalCode}):\n${tail(s.log)}`);
    const w = targets[2];
    if (!w.dead && !alive(warden)) {
      const code = warden.proc.exitCode ?? warden.proc.signalCode;
      w.dead = `Warden exited during the run (${code === 0 ? "code 0: a clean shutdown, i.e. a SIGTERM/SIGINT that did not come from this runner" : `code ${code}`}, at ${new Date().toISOString()} or shortly before)`;
      notes.push(`${w.dead}; log tail:\n\n\`\`\`\n${tail(warden.log, 20)}\n\`\`\``);
      console.error(w.dead);
    }
  };

  // Non-streaming: warm-up per target, then a, b, c interleaved per concurrency level.
  const wrkRes = new Map<string, WrkResult>();
  console.log(`\n== non-streaming (wrk, ${opts.durationS} s per run, ${WRK_TOKENS} tokens per reply)`);
  for (const t of targets) {
    checkAlive();
    if (t.dead) continue;
    const w = await wrk(t, mock, 32, WARMUP_S);
    console.log(`warm-up ${t.label}: ${fint(w.rps)} req/s${w.failed ? ` (${w.failed})` : ""}`);
  }
  for (const c of CONCURRENCY) {
    for (const t of targets) {
      checkAlive();
      if (t.dead) continue;
      await Bun.sleep(500);
      const r = await wrk(t, mock, c, opts.durationS);
      if (interrupted) return;
      wrkRes.set(`${c}/${t.key}`, r);
      console.log(`c=${String(c).padEnd(3)} ${t.label.padEnd(14)} ${fint(r.rps).padStart(8)} req/s  p50 ${f2(ms(r.p50_us))} ms  p99 ${f2(ms(r.p99_us))} ms  errors ${wrkErrors(r)}`);
    }
  }

  // Streaming: a short warm-up per target, then interleaved per stream count.
  const streamRes = new Map<string, StreamResult>();
  if (STREAM_LEVELS.length > 0) console.log(`\n== streaming (${STREAM_TOKENS} tokens × ${STREAM_DELAY_MS} ms per stream, ${opts.streamDurationS} s per run)`);
  for (const t of STREAM_LEVELS.length > 0 ? targets : []) {
    checkAlive();
    if (t.dead) continue;
    const w = await streamLoad(t, mock, 50, WARMUP_S);
    console.log(`warm-up ${t.label}: ${w.completed} streams${w.failed ? ` (${w.failed})` : ""}`);
  }
  for (const n of STREAM_LEVELS) {
    for (const t of targets) {
      checkAlive();
      if (t.dead) continue;
      await Bun.sleep(1000); // let the previous run's sockets close
      const r = await streamLoad(t, mock, n, opts.streamDurationS);
      if (interrupted) return;
      streamRes.set(`${n}/${t.key}`, r);
      console.log(`N=${String(n).padEnd(5)} ${t.label.padEnd(14)} gap p50 ${f1(r.gap_ms.p50)} p99 ${f1(r.gap_ms.p99)} max ${f1(r.gap_ms.max)} ms  ttft p50 ${f1(r.ttft_ms.p50)} p99 ${f1(r.ttft_ms.p99)} ms  completed ${r.completed}  errors ${streamErrors(r)}  peak open ${r.peak_open}`);
    }
  }
  checkAlive();

  // Process facts after the load.
  const mem = (s: Server) => (alive(s) ? `RSS ${procStatus(s.proc.pid, "VmRSS")}, peak ${procStatus(s.proc.pid, "VmHWM")}` : "exited");
  const memLine = `memory after the run: mock ${mem(mock)}; pass-through ${mem(pass)}; Warden ${mem(warden)}`;
  await stopAll();
  if (existsSync(WARDEN) && (await binHash(WARDEN)) !== wardenSha) notes.push("dist/warden was rebuilt during the run; this run measured the copy taken at its start (hash above).");

  // Warden's own log (level warn and above).
  const wlog = existsSync(warden.log) ? readFileSync(warden.log, "utf8") : "";
  const wlines = wlog.split("\n").filter((l) => l.startsWith("{"));
  const byLevel = new Map<string, number>();
  const distinct = new Map<string, number>();
  for (const l of wlines) {
    try {
      const j = JSON.parse(l);
      byLevel.set(j.level, (byLevel.get(j.level) ?? 0) + 1);
      const key = `${j.level}: ${j.msg}`;
      distinct.set(key, (distinct.get(key) ?? 0) + 1);
    } catch {}
  }

  // ---- Report
  const wrkRows: string[][] = [];
  const wrkCmp: string[][] = [];
  for (const c of CONCURRENCY) {
    for (const t of targets) {
      const r = wrkRes.get(`${c}/${t.key}`);
      if (!r) { wrkRows.push([String(c), t.label, "—", "—", "—", "—", t.dead ?? "not run", "—", "—", "—"]); continue; }
      const perReq = (cpu: number) => (r.requests > 0 ? f1((cpu * 1e6) / r.requests) : "—");
      wrkRows.push([String(c), t.label, fint(r.rps), f2(ms(r.p50_us)), f2(ms(r.p99_us)), f2(ms(r.max_us)), wrkErrors(r), t.key === "direct" ? "—" : perReq(r.proxy_cpu_s), perReq(r.mock_cpu_s), f1(r.other_cpu_pct)]);
    }
    const d = wrkRes.get(`${c}/direct`), p = wrkRes.get(`${c}/passthrough`), w = wrkRes.get(`${c}/warden`);
    wrkCmp.push([
      String(c),
      w && p ? f2(w.rps / p.rps) : "—",
      w && d ? f2(w.rps / d.rps) : "—",
      w && p ? sign(w.p50_us - p.p50_us, 0) : "—",
      w && d ? sign(w.p50_us - d.p50_us, 0) : "—",
      w && d ? sign(w.p99_us - d.p99_us, 0) : "—",
      w && p ? sign(w.p99_us - p.p99_us, 0) : "—",
    ]);
  }
  const stRows: string[][] = [];
  const stCmp: string[][] = [];
  for (const n of STREAM_LEVELS) {
    for (const t of targets) {
      const r = streamRes.get(`${n}/${t.key}`);
      if (!r) { stRows.push([String(n), t.label, "—", "—", "—", "—", "—", "—", "—", t.dead ?? "not run", "—", "—", "—", "—"]); continue; }
      const perTok = (cpu: number) => (r.tokens > 0 ? f1((cpu * 1e6) / r.tokens) : "—");
      stRows.push([
        String(n), t.label, f1(r.gap_ms.p50), f1(r.gap_ms.p99), f1(r.gap_ms.max), f1(r.ttft_ms.p50), f1(r.ttft_ms.p99),
        fint(r.completed), fint(r.tokens / r.elapsed_s), streamErrors(r), fint(r.peak_open), t.key === "direct" ? "—" : perTok(r.proxy_cpu_s), f2(r.client_cpu_s), f1(r.other_cpu_pct),
      ]);
    }
    const p = streamRes.get(`${n}/passthrough`), w = streamRes.get(`${n}/warden`);
    stCmp.push([
      String(n),
      w && p ? f2(w.gap_ms.p50 / p.gap_ms.p50) : "—",
      w && p ? f2(w.gap_ms.p99 / p.gap_ms.p99) : "—",
      w && p ? sign(w.ttft_ms.p50 - p.ttft_ms.p50, 1) : "—",
      w && p ? f2(w.tokens / w.elapsed_s / (p.tokens / p.elapsed_s)) : "—",
    ]);
  }

  const maxOther = Math.max(0, ...[...wrkRes.values(), ...streamRes.values()].map((r) => r.other_cpu_pct).filter(Number.isFinite));
  const errSamples: string[] = [];
  for (const [k, r] of streamRes) {
    if (r.error_samples.length) errSamples.push(`- streaming ${k}: ${r.error_samples.map((s) => `${s.n}× \`${s.msg.replace(/`/g, "'")}\``).join("; ")}`);
  }

  const cmd = ["./node_modules/.bin/bun", "bench/run.ts", ...process.argv.slice(2)].map((a) => (/^[\w./=:-]+$/.test(a) ? a : `'${a.replace(/'/g, "'\\''")}'`)).join(" ");
  const now = new Date();
  const nonStreamTable = table(
    ["c", "target", "req/s", "p50 ms", "p99 ms", "max ms", "errors", "proxy CPU µs/req", "mock CPU µs/req", "other CPU %"],
    wrkRows,
  );
  const nonStreamCmp = table(
    ["c", "Warden / pass-through req/s", "Warden / direct req/s", "p50 added vs pass-through (µs)", "p50 added vs direct (µs)", "p99 added vs direct (µs)", "p99 added vs pass-through (µs)"],
    wrkCmp,
    ["l", "r", "r", "r", "r", "r", "r"],
  );
  const streamTable = table(
    ["streams", "target", "gap p50 ms", "gap p99 ms", "gap max ms", "TTFT p50 ms", "TTFT p99 ms", "completed", "tokens/s", "errors", "peak open", "proxy CPU µs/token", "client CPU s", "other CPU %"],
    stRows,
  );
  const streamCmp = table(
    ["streams", "Warden / pass-through gap p50", "Warden / pass-through gap p99", "TTFT p50 added vs pass-through (ms)", "Warden / pass-through tokens/s"],
    stCmp,
    ["l", "r", "r", "r", "r"],
  );

  const streamSection = STREAM_LEVELS.length === 0 ? "" : `## Streaming chat completions (bench/stream-load.ts)

Each of N concurrent streams asks for ${STREAM_TOKENS} tokens ${STREAM_DELAY_MS} ms apart and is restarted when it ends;
streams are ramped up over 1 s, new ones start for ${opts.streamDurationS} s after the ramp, the rest finish (a stream still
open ${STREAM_TOKENS * STREAM_DELAY_MS + 5000} ms after that counts as "stalled"). Gap = time between successive content-delta
events of one stream at the client; TTFT = request start to first content delta. The ideal gap is ${STREAM_DELAY_MS} ms and
the ideal TTFT ${STREAM_DELAY_MS} ms. "completed" counts streams that ended with [DONE]; "tokens/s" is content tokens
received per second of the run (including ramp and tail), a finer throughput measure than "completed", which moves in
steps of N when every stream takes about as long. "proxy CPU" is per content token delivered; "client CPU" is the load
generator's CPU time (near the run's length means the client itself was the bottleneck).
After a ${WARMUP_S} s warm-up per target with 50 streams.

${streamTable}

${streamCmp}
${errSamples.length ? `\nStreaming error samples:\n\n${errSamples.join("\n")}\n` : ""}
`;
  const md = `# Warden benchmark — direct vs pass-through vs Warden${opts.stages ? " with every hot-path stage on" : ""}${opts.quick ? " (quick smoke run)" : ""}

Command: \`${cmd}\`

Date: ${startedAt.toISOString()} (start) to ${now.toISOString()} (end)

## Machine

| fact | value |
| :--- | :--- |
| nproc | ${nproc} |
| CPU | ${cpuModel} |
| memory | ${(memKb / 1048576).toFixed(1)} GiB |
| kernel | ${kernel} |
| Bun (runner, mock, pass-through, stream client) | ${Bun.version} |
| Warden (\`dist/warden version\`) | ${wardenVersion} |
| Warden binary | \`dist/warden\` sha256 ${wardenSha.slice(0, 16)}…, built ${wardenBuilt} (run from a private copy) |
| source tree | git ${head}${dirty ? `, ${dirty} uncommitted change(s) under src/, ffi/, build.ts, package.json (the binary may include them)` : ", clean"} |
| wrk | ${wrkVersion} |
| open-files limit for children | ${nofile}${fdNote} |

All processes — load generator, mock upstream, and the proxy under test — share these ${nproc} cores, so
absolute numbers mean little; compare targets within this one run (they ran interleaved: a, b, c at each level).

Setup: one mock upstream process (\`bench/mock-upstream.ts\`), fronted by (a) nothing — the client talks to the mock
directly, (b) \`bench/passthrough.ts\` (bare \`Bun.serve\` + \`fetch\`, \`BUN_CONFIG_MAX_HTTP_REQUESTS=${MAX_HTTP}\`),
(c) \`dist/warden serve\` with \`WARDEN_UPSTREAM_MOCK_URL\`, \`WARDEN_UPSTREAM_MOCK_MODELS=mock-gpt\`,
\`WARDEN_LOG_LEVEL=warn\`, ${opts.stages
    ? `\`WARDEN_MASTER_KEY\` set and every request authenticated with a virtual key of tenant \`bench\` created by
\`warden keys create --rpm 1000000000 --tpm 1000000000000 --max-concurrent 100000\` (limits this machine cannot reach, so
every stage runs and none refuses: smuggling guard, key look-up, body schema and WAF rules with the default policy,
prompt token counting, GCRA and concurrency checks in memory), default audit mode, nothing else set. The same
Authorization header goes to all three targets (the mock and the pass-through ignore it).`
    : "no master key (auth off), default audit mode, nothing else set."}

## Non-streaming chat completions (wrk)

\`wrk -t{1 for c=1, else 2} -c{c} -d${opts.durationS}s --timeout 5s -s bench/wrk-chat.lua\`, ${WRK_TOKENS}-token replies,
after a ${WARMUP_S} s warm-up per target at c=32. Latency is wrk's (not corrected for coordinated omission).
"proxy CPU" is the CPU time the proxy process used during the run divided by the requests served; "mock CPU" the same for the mock;
"other CPU %" is the share of all cores used during the run by processes that are not part of this benchmark.

${nonStreamTable}

${nonStreamCmp}

${streamSection}## Notes

- ${memLine}
- other CPU: share of all ${nproc} cores used by processes other than this benchmark's, ${f1(otherBefore)} % in the
  2 s before the servers started, at most ${f1(maxOther)} % during a run (the "other CPU %" columns). More than a
  few percent means another workload shared the machine and skewed the runs where it shows.
- Warden log lines at warn level and above during the run: ${wlines.length === 0 ? "none" : [...byLevel].map(([l, n]) => `${n} ${l}`).join(", ")}${distinct.size ? `\n${[...distinct].slice(0, 15).map(([k, n]) => `  - ${n}× ${k}`).join("\n")}` : ""}
${notes.map((n) => `- ${n}`).join("\n")}
`;

  const out = resolve(opts.out ?? join(BENCH, "results", `${startedAt.toISOString().slice(0, 10)}-${opts.quick ? "quick" : opts.stages ? "hotpath" : "baseline"}.md`));
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, md);
  console.log(`\n${nonStreamTable}\n\n${nonStreamCmp}\n\n${streamTable}\n\n${streamCmp}\n`);
  if (errSamples.length) console.log(`Streaming error samples:\n${errSamples.join("\n")}\n`);
  console.log(`${memLine}\nWarden log (warn+): ${wlines.length} lines${distinct.size ? `: ${[...distinct].slice(0, 10).map(([k, n]) => `${n}× ${k}`).join("; ")}` : ""}`);
  for (const n of notes) console.log(n);
  console.log(`\nwrote ${relative(process.cwd(), out) || out}`);
}

try {
  await main();
  if (interrupted) {
    await Bun.sleep(10_000); // the signal handler is stopping the children and exits with 130
    process.exit(130);
  }
  if (!opts.keepLogs && workDir) rmSync(workDir, { recursive: true, force: true });
  else if (workDir) console.log(`logs kept in ${workDir}`);
  process.exit(0);
} catch (e) {
  console.error(`bench/run.ts: ${(e as Error).message}`);
  await stopAll();
  if (workDir) console.error(`logs kept in ${workDir}`);
  process.exit(1);
}
