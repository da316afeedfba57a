// Cluster benchmark (issue #8): several Warden instances behind HAProxy, sharing one Redis.
//
//   ./node_modules/.bin/bun bench/cluster.ts [--duration S] [--quick] [--out PATH] [--build] [--keep-logs]
//
// One redis-server, one mock upstream, three compiled Warden binaries (each in its own directory with
// its own data dir and ledger origin, all with WARDEN_REDIS_URL: shared rate limits, budgets and key
// sync) and three HAProxy processes running deploy/haproxy.cfg with its ports replaced, one with one
// server line, one with two, one with three. Everything on 127.0.0.1.
//
// 1. Throughput: wrk (bench/wrk-chat.lua, 16-token non-streaming replies) at c=32 and c=128 against
//    (a) the mock directly, (b) Warden 1 directly, (c) HAProxy → 1 instance, (d) → 2, (e) → 3, with
//    every request carrying a virtual key whose rpm/tpm/budget never refuse (so the Redis rate-limit
//    script and the Redis budget reserve/settle run on every request). Interleaved per level; two
//    rounds (one with --quick).
// 2. Limit accuracy: a key with rpm 600, then one with a tpm of about 600 requests' worth, hammered for
//    LIMIT_S seconds by 64 workers through HAProxy → 3, and again sent round-robin to the three instances
//    directly; served requests against the GCRA allowance (burst + refill). Then budgets: a key whose
//    max_budget_usd covers exactly N worst-case requests, 3N requests fired at once; exactly N may pass.
//
// Writes bench/results/<YYYY-MM-DD>-cluster.md (or --out) and prints the same tables.
// Every child runs in its own process group (setsid); every group is killed at the end, on error and on
// Ctrl-C. Only 127.0.0.1 is ever a target.
import { RedisClient, spawn, type Subprocess } from "bun";
import { baseEnv, children, exited, freePort as freePortOn, interrupted, killAllSync, killChildrenOnExit, killGroup, removeDir, run as runIn, stopProc, tail, wrapped } from "./processes";
import { chmodSync, closeSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";

const ROOT = resolve(import.meta.dir, "..");
const BENCH = import.meta.dir;
const BUN = process.execPath;
const WARDEN = join(ROOT, "dist", "warden");
const HOST = "127.0.0.1"; // loopback only, always
const WANT_NOFILE = 65536;
const HAPROXY = ["/usr/sbin/haproxy", "/usr/bin/haproxy"].find((p) => existsSync(p));

// ---------------------------------------------------------------------------------------------
// Options

interface Opts { durationS: number; quick: boolean; out: string | undefined; build: boolean; keepLogs: boolean }

function usage(msg?: string): never {
  if (msg) console.error(`bench/cluster.ts: ${msg}`);
  console.error("usage: bun bench/cluster.ts [--duration S] [--quick] [--out PATH] [--build] [--keep-logs]");
  process.exit(2);
}

function parseArgs(argv: string[]): Opts {
  const o: Opts = { durationS: 10, quick: false, out: undefined, build: false, keepLogs: false };
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
  if (o.quick && !dSet) o.durationS = 3;
  return o;
}

const opts = parseArgs(process.argv.slice(2));
const WRK_TOKENS = 16; // as bench/run.ts
const LEVELS = [32, 128] as const;
const ROUNDS = opts.quick ? 1 : 2;
const WARMUP_S = opts.quick ? 1 : 2;
const LIMIT_S = opts.quick ? 4 : 10; // each limit-accuracy run
const LIMIT_WORKERS = 64;
const RPM = 600;
const BUDGET_N = 50; // requests the budget covers; 3N are fired at once (below Bun's 256 concurrent fetches)
const COMPLETION_PRICE = 1000; // USD per million completion tokens: 1000 µUSD per token
const PRICES = `mock-gpt=0/${COMPLETION_PRICE}`; // prompt free: the worst case is max_tokens × price, exactly the actual cost
const BUDGET_MAX_TOKENS = 16;
const MASTER = "bench-cluster-master-key-0123456789";
const ADMIN = { authorization: `Bearer ${MASTER}`, "content-type": "application/json" };

// ---------------------------------------------------------------------------------------------
// Child processes: each in its own process group; every group is killed on exit, error or signal.

let workDir = "";
killChildrenOnExit("bench/cluster.ts", () => {
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
  OUR_PIDS.add(proc.pid);
  const s = { name, proc, log, port };
  LIVE.push(s);
  return s;
}

function alive(s: Server): boolean {
  return !exited(s.proc);
}

async function waitFor(s: Server, what: string, ok: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (!alive(s)) throw new Error(`${s.name} exited (code ${s.proc.exitCode ?? s.proc.signalCode}) before ${what}:\n${tail(s.log)}`);
    if (await ok().catch(() => false)) return;
    await Bun.sleep(50);
  }
  throw new Error(`${s.name}: no ${what} after ${timeoutMs} ms:\n${tail(s.log)}`);
}

async function httpOk(url: string): Promise<boolean> {
  const r = await fetch(url, { signal: AbortSignal.timeout(1000) });
  await r.arrayBuffer();
  return r.status === 200;
}

const freePort = () => freePortOn(HOST);
const run = (cmd: string[], opt: { env?: Record<string, string>; timeoutMs: number; cwd?: string }) =>
  runIn(cmd, { ...opt, cwd: opt.cwd ?? ROOT, spawned: (pid) => OUR_PIDS.add(pid) });

// ---------------------------------------------------------------------------------------------
// CPU accounting (Linux /proc)

let CLK_TCK = 100;
let NPROC = 2;

/** utime + stime of a process, in seconds. */
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

type Group = "wardens" | "haproxy" | "redis" | "mock";
const GROUP_OF = new Map<Server, Group>();

interface Snapshot { t: number; machine: number; servers: number; alive: number; self: number; groups: Record<Group, number> }
function snapshot(): Snapshot {
  const self = process.cpuUsage();
  const groups: Record<Group, number> = { wardens: 0, haproxy: 0, redis: 0, mock: 0 };
  let servers = 0;
  for (const s of LIVE) {
    if (!alive(s)) continue;
    const c = cpuSeconds(s.proc.pid);
    servers += c;
    const g = GROUP_OF.get(s);
    if (g) groups[g] += c;
  }
  return { t: performance.now(), machine: machineCpuSeconds(), servers, alive: LIVE.filter(alive).length, self: (self.user + self.system) / 1e6, groups };
}

interface CpuUse { wall_s: number; groups: Record<Group, number>; loadgen_s: number; self_s: number; machine_pct: number; other_pct: number }
/** CPU used during a run by each group of our servers, the load generator and this runner, the machine's
 * busy share, and the share of all cores used by processes that are not part of this benchmark. */
function cpuDuring(a: Snapshot, b: Snapshot, loadgenCpuS: number): CpuUse {
  const lg = Number.isFinite(loadgenCpuS) ? loadgenCpuS : 0;
  const ours = b.servers - a.servers + (b.self - a.self) + lg;
  const wall = (b.t - a.t) / 1000;
  const busy = b.machine - a.machine;
  const other = Math.max(0, busy - ours);
  const ok = wall > 0 && a.alive === b.alive; // a server that exited took its CPU time with it
  const groups = Object.fromEntries((Object.keys(a.groups) as Group[]).map((g) => [g, b.groups[g] - a.groups[g]])) as Record<Group, number>;
  return {
    wall_s: wall,
    groups,
    loadgen_s: loadgenCpuS,
    self_s: b.self - a.self,
    machine_pct: wall > 0 ? Math.min(100, (100 * busy) / (wall * NPROC)) : NaN,
    other_pct: ok ? Math.min(100, (100 * other) / (wall * NPROC)) : NaN,
  };
}

/** Every process's CPU seconds and command line, to name the other workloads afterwards. */
function allProcesses(): Map<number, { cpu: number; cmd: string }> {
  const out = new Map<number, { cpu: number; cmd: string }>();
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    const pid = Number(d);
    const cpu = cpuSeconds(pid);
    if (!Number.isFinite(cpu)) continue;
    let cmd = "";
    try { cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0+/g, " ").trim(); } catch {}
    if (!cmd) {
      try { cmd = `[${readFileSync(`/proc/${pid}/comm`, "utf8").trim()}]`; } catch {}
    }
    out.set(pid, { cpu, cmd });
  }
  return out;
}

/** CPU seconds of each thread of a process (Linux /proc/<pid>/task), keyed by thread id. */
function threadCpu(pid: number): Map<number, { cpu: number; name: string }> {
  const out = new Map<number, { cpu: number; name: string }>();
  let tids: string[] = [];
  try { tids = readdirSync(`/proc/${pid}/task`); } catch { return out; }
  for (const tid of tids) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8");
      const name = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      out.set(Number(tid), { cpu: (Number(f[11]) + Number(f[12])) / CLK_TCK, name });
    } catch {}
  }
  return out;
}

/** The busiest thread's share of one core between two threadCpu() readings. */
function busiestThread(a: Map<number, { cpu: number; name: string }>, b: Map<number, { cpu: number; name: string }>, wallS: number): { pct: number; name: string } {
  let best = { pct: NaN, name: "" };
  for (const [tid, t] of b) {
    const pct = (100 * (t.cpu - (a.get(tid)?.cpu ?? 0))) / wallS;
    if (!(pct <= best.pct)) best = { pct, name: t.name };
  }
  return best;
}

/** Redis's own count of calls and µs per command (INFO commandstats). */
type CmdStats = Map<string, { calls: number; usec: number }>;
let redisClient: RedisClient | undefined;
async function redisCmdStats(): Promise<CmdStats> {
  const out: CmdStats = new Map();
  try {
    const text = String(await redisClient!.send("INFO", ["commandstats"]));
    for (const m of text.matchAll(/^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/gm)) out.set(m[1], { calls: Number(m[2]), usec: Number(m[3]) });
  } catch {}
  return out;
}
function diffCmdStats(a: CmdStats, b: CmdStats): CmdStats {
  const out: CmdStats = new Map();
  for (const [k, v] of b) {
    if (k === "info") continue; // ours
    const calls = v.calls - (a.get(k)?.calls ?? 0);
    if (calls > 0) out.set(k, { calls, usec: v.usec - (a.get(k)?.usec ?? 0) });
  }
  return out;
}

/** Samples every process's CPU every 2 s, so that the other workloads of the machine can be named afterwards,
 * also those that started or ended during the run (one that lived less than a sampling interval is missed). */
const OUR_PIDS = new Set<number>([process.pid]);
const sampled = new Map<number, { base: number; last: number; cmd: string }>();
let sampling: ReturnType<typeof setInterval> | undefined;
function sampleProcesses(first: boolean): void {
  for (const [pid, p] of allProcesses()) {
    const e = sampled.get(pid);
    if (e) e.last = p.cpu;
    else sampled.set(pid, { base: first ? p.cpu : 0, last: p.cpu, cmd: p.cmd });
  }
}

// ---------------------------------------------------------------------------------------------
// Formatting

const f1 = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : "—");
const f2 = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : "—");
const fint = (x: number) => (Number.isFinite(x) ? Math.round(x).toLocaleString("en-US") : "—");
const ms = (us: number) => us / 1000;
const signPct = (x: number, d = 1) => (Number.isFinite(x) ? `${x >= 0 ? "+" : ""}${x.toFixed(d)} %` : "—");

function table(head: string[], rows: string[][], align?: ("l" | "r")[]): string {
  const a = align ?? head.map((_, i) => (i < 2 ? "l" : "r"));
  const out = [`| ${head.join(" | ")} |`, `| ${a.map((x) => (x === "r" ? "---:" : ":---")).join(" | ")} |`];
  for (const r of rows) out.push(`| ${r.join(" | ")} |`);
  return out.join("\n");
}

// ---------------------------------------------------------------------------------------------
// The cluster

let wardenBin = "";
let redisUrl = "";
let mockPort = 0;
const wardens: Server[] = [];
const haproxies: Server[] = []; // haproxies[n - 1] fronts instances 1..n

async function answersPing(port: number): Promise<boolean> {
  return await new Promise<boolean>((resolveP) => {
    let reply = "";
    let settled = false;
    const done = (ok: boolean, s?: { end(): void }) => {
      if (settled) return;
      settled = true;
      try { s?.end(); } catch {}
      resolveP(ok);
    };
    setTimeout(() => done(false), 500);
    Bun.connect({
      hostname: HOST,
      port,
      socket: {
        open(s) { s.write("PING\r\n"); },
        data(s, chunk) {
          reply += new TextDecoder().decode(chunk);
          if (reply.includes("\r\n")) done(reply.startsWith("+PONG"), s);
        },
        error() { done(false); },
        close() { done(false); },
        connectError() { done(false); },
      },
    }).catch(() => done(false));
  });
}

async function startRedis(): Promise<Server> {
  const port = await freePort();
  const dir = join(workDir, "redis");
  mkdirSync(dir, { recursive: true });
  // As test/setup/redis.ts starts it: no persistence, loopback only.
  const s = startServer("redis", ["redis-server", "--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir, "--daemonize", "no"], baseEnv({}), port);
  GROUP_OF.set(s, "redis");
  await waitFor(s, "PONG", () => answersPing(port), 10_000);
  redisUrl = `redis://${HOST}:${port}`;
  redisClient = new RedisClient(redisUrl);
  return s;
}

async function startMock(): Promise<Server> {
  const port = await freePort();
  const s = startServer("mock", [BUN, join(BENCH, "mock-upstream.ts"), "--port", String(port), "--tokens", String(WRK_TOKENS), "--no-record"], baseEnv({}), port);
  GROUP_OF.set(s, "mock");
  await waitFor(s, "/v1/models", () => httpOk(`http://${HOST}:${port}/v1/models`), 20_000);
  mockPort = port;
  return s;
}

function wardenEnv(i: number, port: number): Record<string, string> {
  return {
    WARDEN_PORT: String(port),
    WARDEN_MASTER_KEY: MASTER,
    WARDEN_UPSTREAM_MOCK_URL: `http://${HOST}:${mockPort}/v1`,
    WARDEN_UPSTREAM_MOCK_MODELS: "mock-gpt",
    WARDEN_REDIS_URL: redisUrl,
    WARDEN_DATA_DIR: join(workDir, `w${i}`, "data"),
    WARDEN_LEDGER_ORIGIN: `bench.cluster/warden-${i}`,
    WARDEN_PRICES: PRICES,
    WARDEN_LOG_LEVEL: "warn",
  };
}

async function startWarden(i: number): Promise<{ server: Server; startMs: number }> {
  const port = await freePort();
  const dir = join(workDir, `w${i}`);
  mkdirSync(join(dir, "data"), { recursive: true });
  const t0 = performance.now();
  const s = startServer(`warden-${i}`, [wardenBin, "serve"], baseEnv(wardenEnv(i, port)), port, dir);
  GROUP_OF.set(s, "wardens");
  await waitFor(s, "/ready", () => httpOk(`http://${HOST}:${port}/ready`), 60_000);
  return { server: s, startMs: performance.now() - t0 };
}

/** deploy/haproxy.cfg with its ports replaced, keeping the first `n` server lines. */
function haproxyConfig(port: number, n: number): string {
  let cfg = readFileSync(join(ROOT, "deploy", "haproxy.cfg"), "utf8").replace("127.0.0.1:8080", `${HOST}:${port}`);
  for (let i = 1; i <= 3; i++) {
    if (i <= n) cfg = cfg.replace(`127.0.0.1:808${i}`, `${HOST}:${wardens[i - 1].port}`);
    else cfg = cfg.replace(new RegExp(`^\\s*server warden${i} .*\\n`, "m"), "");
  }
  const servers = cfg.match(/^\s*server warden\d /gm)?.length ?? 0;
  if (servers !== n || cfg.includes(":808")) throw new Error(`deploy/haproxy.cfg changed shape: expected to keep ${n} server line(s), got ${servers}`);
  return cfg;
}

async function startHaproxy(n: number): Promise<Server> {
  const port = await freePort();
  const file = join(workDir, `haproxy-${n}.cfg`);
  writeFileSync(file, haproxyConfig(port, n));
  const s = startServer(`haproxy-${n}`, [HAPROXY!, "-db", "-f", file], baseEnv({}), port);
  GROUP_OF.set(s, "haproxy");
  await waitFor(s, "/health through it", () => httpOk(`http://${HOST}:${port}/health`), 20_000);
  return s;
}

const url = (s: Server) => `http://${HOST}:${s.port}`;

async function admin(base: string, method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  const r = await fetch(`${base}/admin${path}`, { method, headers: ADMIN, body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(10_000) });
  const text = await r.text();
  let json: any = null;
  try { json = JSON.parse(text); } catch { json = text; }
  return { status: r.status, json };
}

/** A key made on instance 1, once the other instances have it (replicated through Redis); returns the ms that took. */
async function createKey(body: Record<string, unknown>): Promise<{ id: string; key: string; syncMs: number }> {
  const r = await admin(url(wardens[0]), "POST", "/keys", body);
  if (r.status !== 201 || typeof r.json?.key !== "string") throw new Error(`POST /admin/keys answered ${r.status}: ${JSON.stringify(r.json).slice(0, 300)}`);
  const t0 = performance.now();
  for (const w of wardens.slice(1)) {
    while ((await admin(url(w), "GET", `/keys/${r.json.id}`)).status !== 200) {
      if (performance.now() - t0 > 5000) throw new Error(`key ${r.json.id} did not reach ${w.name} within 5 s`);
      await Bun.sleep(10);
    }
  }
  return { id: r.json.id, key: r.json.key, syncMs: performance.now() - t0 };
}

function chatBody(extra: Record<string, unknown> = {}, tokens = WRK_TOKENS): string {
  return JSON.stringify({ model: "mock-gpt", messages: [{ role: "user", content: "Say hello" }], mock: { tokens }, ...extra });
}

async function sanity(base: string, key: string): Promise<string | undefined> {
  try {
    const r = await fetch(`${base}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${key}` },
      body: chatBody({}, 4),
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

/** warden_requests_total of one instance by status (all routes summed). */
async function requestsByStatus(w: Server): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  try {
    const text = await (await fetch(`${url(w)}/metrics`, { headers: { authorization: `Bearer ${MASTER}` }, signal: AbortSignal.timeout(5000) })).text();
    for (const line of text.split("\n")) {
      const m = line.match(/^warden_requests_total\{([^}]*)\}\s+(\S+)$/);
      if (!m) continue;
      const status = m[1].match(/status="(\d+)"/)?.[1] ?? "?";
      out.set(status, (out.get(status) ?? 0) + Number(m[2]));
    }
  } catch {}
  return out;
}

async function countsNow(): Promise<Map<string, number>[]> {
  return await Promise.all(wardens.map(requestsByStatus));
}

function diffCounts(a: Map<string, number>[], b: Map<string, number>[], status?: string): number[] {
  return b.map((m, i) => {
    let s = 0;
    for (const [k, v] of m) if (status === undefined || k === status) s += v - (a[i].get(k) ?? 0);
    return s;
  });
}

/** Wall-clock windows of the measured runs, to tell in which one a Warden logged a warning. */
const phases: { label: string; t0: number; t1: number }[] = [];

interface LogLine { server: string; time: number; level: string; text: string }
function wardenWarnLines(): LogLine[] {
  const out: LogLine[] = [];
  for (const w of wardens) {
    for (const l of (existsSync(w.log) ? readFileSync(w.log, "utf8") : "").split("\n")) {
      if (!l.startsWith("{")) continue;
      try {
        const j = JSON.parse(l);
        const extra = [j.error ? `error: ${j.error}` : "", j.code ? `code ${j.code}` : "", j.suppressed ? `${j.suppressed} suppressed` : ""].filter(Boolean).join(", ");
        out.push({ server: w.name, time: Date.parse(j.time), level: j.level, text: `${j.msg}${extra ? ` (${extra})` : ""}` });
      } catch {}
    }
  }
  return out.sort((a, b) => a.time - b.time);
}
const phaseOf = (t: number) => phases.find((p) => t >= p.t0 && t <= p.t1)?.label;
function warningsIn(label: string): number {
  const p = phases.find((x) => x.label === label);
  return p ? wardenWarnLines().filter((l) => l.time >= p.t0 && l.time <= p.t1).length : 0;
}

function checkAlive(): void {
  for (const s of LIVE) if (!alive(s)) throw new Error(`${s.name} exited during the run (code ${s.proc.exitCode ?? s.proc.signalCode}):\n${tail(s.log, 20)}`);
}

// ---------------------------------------------------------------------------------------------
// Section 1: throughput (wrk)

interface WrkResult {
  requests: number; duration_s: number; rps: number;
  p50_us: number; p90_us: number; p99_us: number; max_us: number; mean_us: number;
  errors: { connect: number; read: number; write: number; status: number; timeout: number };
  cpu: CpuUse; split: number[]; warnings: number;
  /** Per Warden instance: its busiest thread's share of one core during the run. */
  threads: { pct: number; name: string }[];
  /** Redis commands during the run (INFO commandstats), INFO itself left out. */
  redisCmds: CmdStats;
  failed?: string;
}

async function wrk(base: string, c: number, durS: number, key: string, label: string): Promise<WrkResult> {
  const before = await countsNow();
  const cmd0 = await redisCmdStats();
  const t0 = Date.now();
  const th0 = wardens.map((w) => threadCpu(w.proc.pid));
  const s0 = snapshot();
  const r = await run(
    wrapped(["wrk", "-t2", `-c${c}`, `-d${durS}s`, "--timeout", "5s", "-s", join(BENCH, "wrk-chat.lua"), `${base}/v1/chat/completions`], WANT_NOFILE),
    { env: baseEnv({ WRK_TOKENS: String(WRK_TOKENS), WRK_AUTH: `Bearer ${key}` }), timeoutMs: (durS + 30) * 1000 },
  );
  const cpu = cpuDuring(s0, snapshot(), r.cpuS);
  const threads = wardens.map((w, i) => busiestThread(th0[i], threadCpu(w.proc.pid), cpu.wall_s));
  phases.push({ label, t0, t1: Date.now() });
  const redisCmds = diffCmdStats(cmd0, await redisCmdStats());
  const split = diffCounts(before, await countsNow());
  const warnings = warningsIn(label);
  const line = r.stdout.split("\n").find((l) => l.startsWith("WRK_JSON "));
  if (!line) {
    const why = `wrk exit ${r.code}: ${(r.stderr || r.stdout).trim().slice(0, 500)}`;
    return { requests: 0, duration_s: durS, rps: 0, p50_us: NaN, p90_us: NaN, p99_us: NaN, max_us: NaN, mean_us: NaN, errors: { connect: 0, read: 0, write: 0, status: 0, timeout: 0 }, cpu, split, warnings, threads, redisCmds, failed: why };
  }
  return { ...JSON.parse(line.slice(9)), cpu, split, warnings, threads, redisCmds };
}

function wrkErrors(r: WrkResult): string {
  if (r.failed) return `run failed: ${r.failed.replace(/\|/g, "/").replace(/\n/g, " ")}`;
  const e = r.errors;
  const total = e.connect + e.read + e.write + e.status + e.timeout;
  if (total === 0) return "0";
  const parts = Object.entries(e).filter(([, v]) => v > 0).map(([k, v]) => `${k === "status" ? "HTTP≥400" : k} ${v}`);
  return `**${total}** (${parts.join(", ")})`;
}

interface Target { key: string; label: string; base: string; instances: number }

async function throughput(targets: Target[], key: string): Promise<Map<string, WrkResult[]>> {
  const res = new Map<string, WrkResult[]>();
  console.log(`\n== throughput (wrk -t2, ${opts.durationS} s per point, ${WRK_TOKENS}-token replies, ${ROUNDS} round(s), ${WARMUP_S} s warm-up per target)`);
  for (const t of targets) {
    if (interrupted) return res;
    checkAlive();
    const w = await wrk(t.base, 32, WARMUP_S, key, `warm-up ${t.label}`);
    console.log(`warm-up ${t.label}: ${fint(w.rps)} req/s${w.failed ? ` (${w.failed})` : ""}  split ${w.split.join("/")}`);
    if (t.instances > 1 && w.split.slice(0, t.instances).some((n) => n === 0)) {
      throw new Error(`${t.label}: an instance received no request during the warm-up (split ${w.split.join("/")}): HAProxy does not see every server up`);
    }
  }
  for (let round = 1; round <= ROUNDS; round++) {
    for (const c of LEVELS) {
      for (const t of targets) {
        if (interrupted) return res;
        checkAlive();
        await Bun.sleep(500);
        const w = await wrk(t.base, c, opts.durationS, key, `round ${round}, c=${c}, ${t.label}`);
        const k = `${c}/${t.key}`;
        res.set(k, [...(res.get(k) ?? []), w]);
        const per = (x: number) => (w.requests > 0 ? f1((x * 1e6) / w.requests) : "—");
        console.log(`r${round} c=${String(c).padEnd(3)} ${t.label.padEnd(24)} ${fint(w.rps).padStart(7)} req/s  p50 ${f2(ms(w.p50_us))} ms  p99 ${f2(ms(w.p99_us))} ms  errors ${wrkErrors(w)}${w.warnings ? `  WARDEN WARNINGS ${w.warnings}` : ""}  CPU µs/req: wardens ${per(w.cpu.groups.wardens)} haproxy ${per(w.cpu.groups.haproxy)} redis ${per(w.cpu.groups.redis)} mock ${per(w.cpu.groups.mock)} wrk ${per(w.cpu.loadgen_s)}  busy ${f1(w.cpu.machine_pct)} %  other ${f1(w.cpu.other_pct)} %`);
      }
    }
  }
  return res;
}

function throughputTables(targets: Target[], res: Map<string, WrkResult[]>): { main: string; summary: string; redis: string } {
  const rows: string[][] = [];
  const sum: string[][] = [];
  for (const c of LEVELS) {
    for (const t of targets) {
      const rs = res.get(`${c}/${t.key}`) ?? [];
      if (rs.length === 0) rows.push([String(c), t.label, "—", "not run", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", ""]);
      rs.forEach((w, i) => {
        const per = (x: number) => (w.requests > 0 && Number.isFinite(x) ? f1((x * 1e6) / w.requests) : "—");
        const total = w.cpu.groups.wardens + w.cpu.groups.haproxy + w.cpu.groups.redis + w.cpu.groups.mock + (Number.isFinite(w.cpu.loadgen_s) ? w.cpu.loadgen_s : 0);
        const served = w.split.reduce((a, b) => a + b, 0);
        const split = t.instances === 0 ? "—" : served > 0 ? w.split.map((n) => Math.round((100 * n) / served)).join(" / ") : "—";
        const threads = t.instances === 0 ? "—" : w.threads.map((x) => fint(x.pct)).join(" / ");
        const calls = [...w.redisCmds.values()].reduce((a, x) => a + x.calls, 0);
        rows.push([
          String(c), t.label, String(i + 1), fint(w.rps), f2(ms(w.p50_us)), f2(ms(w.p99_us)), f2(ms(w.max_us)), wrkErrors(w), split, threads,
          t.instances === 0 ? "—" : per(w.cpu.groups.wardens), t.key.startsWith("ha") ? per(w.cpu.groups.haproxy) : "—",
          t.instances === 0 ? "—" : per(w.cpu.groups.redis), t.instances === 0 || served === 0 ? "—" : f1(calls / served), per(w.cpu.groups.mock), per(w.cpu.loadgen_s), per(total),
          f1(w.cpu.machine_pct), f1(w.cpu.other_pct), w.warnings ? `**${w.warnings}**` : "0",
        ]);
      });
    }
    const mean = (t: Target) => {
      const rs = (res.get(`${c}/${t.key}`) ?? []).filter((w) => !w.failed);
      return rs.length ? rs.reduce((a, w) => a + w.rps, 0) / rs.length : NaN;
    };
    const one = targets.find((t) => t.key === "ha1");
    const direct = targets.find((t) => t.key === "w1");
    for (const t of targets) {
      const rs = res.get(`${c}/${t.key}`) ?? [];
      const m = mean(t);
      sum.push([
        String(c), t.label, rs.map((w) => fint(w.rps)).join(" / ") || "—", fint(m),
        direct && t.instances > 0 ? f2(m / mean(direct)) : "—",
        one && t.key.startsWith("ha") ? f2(m / mean(one)) : "—",
      ]);
    }
  }
  const main = table(
    ["c", "target", "round", "req/s", "p50 ms", "p99 ms", "max ms", "errors", "served by w1 / w2 / w3 %", "busiest thread of w1 / w2 / w3, % of a core", "Wardens CPU µs/req", "HAProxy CPU µs/req", "Redis CPU µs/req", "Redis commands/req", "mock CPU µs/req", "wrk CPU µs/req", "all of these µs/req", "machine busy %", "other CPU %", "Warden warnings"],
    rows,
  );
  const summary = table(
    ["c", "target", `req/s per round`, "mean req/s", "vs (b) one Warden direct", "vs (c) HAProxy → 1"],
    sum,
    ["l", "l", "r", "r", "r", "r"],
  );
  // Redis's own accounting over every measured run through a Warden.
  const cmds: CmdStats = new Map();
  let served = 0;
  for (const t of targets) {
    if (t.instances === 0) continue;
    for (const c of LEVELS) {
      for (const w of res.get(`${c}/${t.key}`) ?? []) {
        served += w.split.reduce((a, b) => a + b, 0);
        for (const [k, v] of w.redisCmds) {
          const e = cmds.get(k) ?? { calls: 0, usec: 0 };
          cmds.set(k, { calls: e.calls + v.calls, usec: e.usec + v.usec });
        }
      }
    }
  }
  const all = [...cmds.values()].reduce((a, v) => ({ calls: a.calls + v.calls, usec: a.usec + v.usec }), { calls: 0, usec: 0 });
  const redis = table(
    ["command", "calls", "calls per request", "µs per call (inside Redis)", "µs per request (inside Redis)"],
    [...[...cmds].sort((a, b) => b[1].calls - a[1].calls).map(([k, v]) => [k, fint(v.calls), f2(v.calls / served), f2(v.usec / v.calls), f1(v.usec / served)]),
      ["all", fint(all.calls), f2(all.calls / served), f2(all.usec / all.calls), f1(all.usec / served)]],
    ["l", "r", "r", "r", "r"],
  );
  return { main, summary, redis };
}

// ---------------------------------------------------------------------------------------------
// Section 2: limit accuracy

interface LimitRun {
  label: string; kind: "rpm" | "tpm"; via: "haproxy" | "direct";
  limit: number; tokensPerReq: number; syncMs: number;
  sent: number; served: number; refused: number; other: Map<string, number>; unenforced: number;
  elapsedS: number; allowance: number; used: number; errorPct: number; perInstance: number[]; cpu: CpuUse;
}

/** Workers send chat completions with `key` for `durS` seconds to `pick()`; every reply is counted. */
async function hammer(key: string, durS: number, pick: () => string, headerOfLimit: string): Promise<{ sent: number; served: number; refused: number; other: Map<string, number>; unenforced: number; elapsedS: number; completion: number }> {
  const headers = { "content-type": "application/json", authorization: `Bearer ${key}` };
  const body = chatBody();
  let sent = 0, served = 0, refused = 0, unenforced = 0, completion = 0;
  const other = new Map<string, number>();
  let first = Infinity, last = -Infinity;
  const end = performance.now() + durS * 1000;
  await Promise.all(Array.from({ length: LIMIT_WORKERS }, async () => {
    while (performance.now() < end && !interrupted) {
      const t = performance.now();
      if (t < first) first = t;
      if (t > last) last = t;
      sent++;
      try {
        const r = await fetch(`${pick()}/v1/chat/completions`, { method: "POST", headers, body, signal: AbortSignal.timeout(20_000) });
        const text = await r.text();
        if (r.status === 200) {
          served++;
          if (!r.headers.has(headerOfLimit)) unenforced++;
          try { completion += JSON.parse(text).usage.completion_tokens; } catch {}
        } else if (r.status === 429) refused++;
        else {
          let code = "";
          try { code = JSON.parse(text)?.error?.code ?? ""; } catch {}
          const k = `HTTP ${r.status}${code ? ` ${code}` : ""}`;
          other.set(k, (other.get(k) ?? 0) + 1);
        }
      } catch (e) {
        const k = `exception: ${(e as Error).name}`;
        other.set(k, (other.get(k) ?? 0) + 1);
      }
    }
  }));
  return { sent, served, refused, other, unenforced, elapsedS: (last - first) / 1000, completion };
}

/** Prompt tokens Warden's rate limiter charges for the benchmark's chat body, read off x-ratelimit-remaining-tokens
 * of a fresh key with tpm 60000: one token per ms, so every step of the arithmetic is an exact integer (with other
 * limits the header's floor can be one off). */
async function promptTokens(): Promise<number> {
  const TPM = 60_000;
  const k = await createKey({ tenant: "cluster-probe", tpm: TPM });
  const r = await fetch(`${url(wardens[0])}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${k.key}` }, body: chatBody() });
  await r.text();
  const left = Number(r.headers.get("x-ratelimit-remaining-tokens"));
  if (r.status !== 200 || !Number.isFinite(left)) throw new Error(`token probe: HTTP ${r.status}, x-ratelimit-remaining-tokens ${r.headers.get("x-ratelimit-remaining-tokens")}`);
  return TPM - left;
}

async function limitRun(kind: "rpm" | "tpm", via: "haproxy" | "direct", prompt: number, seq: number): Promise<LimitRun> {
  const tokensPerReq = prompt + WRK_TOKENS;
  const limit = kind === "rpm" ? RPM : RPM * tokensPerReq; // the tpm of about 600 requests
  const k = await createKey({ tenant: `cluster-limit-${seq}`, name: `${kind} via ${via}`, [kind]: limit });
  let rr = 0;
  const front = url(haproxies[2]);
  const pick = via === "haproxy" ? () => front : () => url(wardens[rr++ % 3]);
  const before = await countsNow();
  const t0 = Date.now();
  const s0 = snapshot();
  const h = await hammer(k.key, LIMIT_S, pick, kind === "rpm" ? "x-ratelimit-limit-requests" : "x-ratelimit-limit-tokens");
  const cpu = cpuDuring(s0, snapshot(), NaN);
  const label = `${kind} ${fint(limit)}, ${via === "haproxy" ? "HAProxy → 3" : "round-robin to the 3 instances directly"}`;
  phases.push({ label: `limit: ${label}`, t0, t1: Date.now() });
  const perInstance = diffCounts(before, await countsNow(), "200");
  // GCRA: an idle subject may spend the whole limit at once, then one unit per 60 s / limit.
  const allowance = kind === "rpm"
    ? RPM + Math.floor((h.elapsedS * RPM) / 60)
    : limit + Math.floor((h.elapsedS * limit) / 60);
  const used = kind === "rpm" ? h.served : h.served * prompt + h.completion;
  return { label, kind, via, limit, tokensPerReq, syncMs: k.syncMs, ...h, allowance, used, errorPct: (100 * (used - allowance)) / allowance, perInstance, cpu };
}

interface BudgetRun { label: string; budgetUsd: number; fired: number; served: number; refused: number; other: Map<string, number>; redisSpent: number; ms: number; perInstance: number[] }

async function budgetRun(via: "haproxy" | "direct", seq: number): Promise<BudgetRun> {
  const worstMicros = BUDGET_MAX_TOKENS * COMPLETION_PRICE; // prompt price 0: max_tokens × completion price
  const budgetUsd = (BUDGET_N * worstMicros) / 1e6;
  const k = await createKey({ tenant: `cluster-budget-${seq}`, name: `budget via ${via}`, max_budget_usd: budgetUsd });
  const headers = { "content-type": "application/json", authorization: `Bearer ${k.key}` };
  const body = chatBody({ max_tokens: BUDGET_MAX_TOKENS }, BUDGET_MAX_TOKENS);
  const front = url(haproxies[2]);
  const before = await countsNow();
  let served = 0, refused = 0;
  const other = new Map<string, number>();
  const t0 = performance.now();
  const d0 = Date.now();
  await Promise.all(Array.from({ length: 3 * BUDGET_N }, async (_, i) => {
    const base = via === "haproxy" ? front : url(wardens[i % 3]);
    try {
      const r = await fetch(`${base}/v1/chat/completions`, { method: "POST", headers, body, signal: AbortSignal.timeout(20_000) });
      const text = await r.text();
      let code = "";
      try { code = JSON.parse(text)?.error?.code ?? ""; } catch {}
      if (r.status === 200) served++;
      else if (r.status === 429 && code === "insufficient_quota") refused++;
      else other.set(`HTTP ${r.status} ${code}`, (other.get(`HTTP ${r.status} ${code}`) ?? 0) + 1);
    } catch (e) {
      other.set(`exception: ${(e as Error).name}`, (other.get(`exception: ${(e as Error).name}`) ?? 0) + 1);
    }
  }));
  const took = performance.now() - t0;
  await Bun.sleep(300); // settles are fire-and-forget
  phases.push({ label: `budget: ${via === "haproxy" ? "HAProxy → 3" : "round-robin to the 3 instances directly"}`, t0: d0, t1: Date.now() });
  const perInstance = diffCounts(before, await countsNow(), "200");
  let redisSpent = NaN;
  const client = new RedisClient(redisUrl);
  try {
    const v = await client.get(`warden:budget:spent:key:${k.id}`);
    redisSpent = v === null ? 0 : Number(v);
  } catch {} finally {
    client.close();
  }
  return { label: via === "haproxy" ? "HAProxy → 3" : "round-robin to the 3 instances directly", budgetUsd, fired: 3 * BUDGET_N, served, refused, other, redisSpent, ms: took, perInstance };
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

function logLines(s: Server, json: boolean): { count: number; distinct: Map<string, number> } {
  let count = 0;
  const distinct = new Map<string, number>();
  for (const l of (existsSync(s.log) ? readFileSync(s.log, "utf8") : "").split("\n")) {
    if (!l.trim()) continue;
    let key = l.trim().slice(0, 160);
    if (json) {
      if (!l.startsWith("{")) continue;
      try {
        const j = JSON.parse(l);
        key = `${j.level}: ${j.msg}${j.code ? ` (${j.code})` : ""}`;
      } catch {}
    } else {
      // HAProxy logs a timestamp first: count messages by what follows it.
      key = key.replace(/^<\d+>\S+\s+\S+\s+\S+\s+/, "").replace(/^\[[A-Z]+\]\s+\(\d+\)\s*:\s*/, "");
    }
    count++;
    distinct.set(key, (distinct.get(key) ?? 0) + 1);
  }
  return { count, distinct };
}

async function main(): Promise<void> {
  const startedAt = new Date();
  workDir = mkdtempSync(join(tmpdir(), "warden-cluster-bench-"));
  CLK_TCK = Number(await sh("getconf CLK_TCK")) || 100;
  if (!HAPROXY) throw new Error("haproxy is not installed (Debian package haproxy; see test/setup/system-packages.sh)");
  if (!Bun.which("redis-server")) throw new Error("redis-server is not installed (Debian package redis-server; see test/setup/system-packages.sh)");
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
  sampleProcesses(true);
  sampling = setInterval(() => sampleProcesses(false), 2000);
  const machine0 = machineCpuSeconds();
  const wall0 = performance.now();
  const kernel = await sh("uname -r");
  const haproxyVersion = (await sh(`${HAPROXY} -v | head -1`)) || "?";
  const redisVersion = (await sh("redis-server --version")) || "?";
  const wv = await run([wardenBin, "version"], { env: baseEnv({ WARDEN_DATA_DIR: join(workDir, "version-data") }), timeoutMs: 30_000, cwd: workDir });
  const wardenVersion = wv.stdout.trim().split("\n").join(", ") || `(warden version failed: ${wv.stderr.trim()})`;
  const nofile = await sh(`ulimit -n ${WANT_NOFILE} 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null; ulimit -n`);

  // ---- the cluster
  const redis = await startRedis();
  const mock = await startMock();
  const startMs: number[] = [];
  for (let i = 1; i <= 3; i++) {
    const w = await startWarden(i);
    wardens.push(w.server);
    startMs.push(w.startMs);
  }
  for (let n = 1; n <= 3; n++) haproxies.push(await startHaproxy(n));
  await Bun.sleep(1500); // every HAProxy health check has passed `rise` times
  console.log(`up: redis :${redis.port}, mock :${mock.port}, wardens :${wardens.map((w) => w.port).join(", :")}, haproxy → 1/2/3 :${haproxies.map((h) => h.port).join(", :")} (logs in ${workDir})`);

  // The throughput key: limits and a budget far above what this machine can reach, so every request
  // runs the Redis rate-limit script and the Redis budget reserve and settle, and none is refused.
  const tputKey = await createKey({ tenant: "cluster-throughput", name: "throughput", rpm: 1_000_000_000, tpm: 1_000_000_000_000, max_budget_usd: 1_000_000_000 });
  console.log(`throughput key created on warden-1, on the other instances after ${f1(tputKey.syncMs)} ms`);

  const targets: Target[] = [
    { key: "mock", label: "(a) mock directly", base: url(mock), instances: 0 },
    { key: "w1", label: "(b) one Warden directly", base: url(wardens[0]), instances: 1 },
    { key: "ha1", label: "(c) HAProxy → 1 Warden", base: url(haproxies[0]), instances: 1 },
    { key: "ha2", label: "(d) HAProxy → 2 Wardens", base: url(haproxies[1]), instances: 2 },
    { key: "ha3", label: "(e) HAProxy → 3 Wardens", base: url(haproxies[2]), instances: 3 },
  ];
  for (const t of targets) {
    const bad = await sanity(t.base, tputKey.key);
    if (bad) throw new Error(`${t.label} failed the sanity check: ${bad}`);
  }
  for (const w of wardens.slice(1)) {
    const bad = await sanity(url(w), tputKey.key);
    if (bad) throw new Error(`${w.name} failed the sanity check: ${bad}`);
  }

  const tput = await throughput(targets, tputKey.key);
  const tt = throughputTables(targets, tput);
  console.log(`\n${tt.main}\n\n${tt.summary}\n`);
  if (interrupted) return;

  // ---- limit accuracy
  checkAlive();
  const prompt = await promptTokens();
  console.log(`\n== limit accuracy (${LIMIT_WORKERS} workers, ${LIMIT_S} s per run; Warden counts ${prompt} prompt tokens per request)`);
  const limits: LimitRun[] = [];
  let seq = 0;
  for (const kind of ["rpm", "tpm"] as const) {
    for (const via of ["haproxy", "direct"] as const) {
      if (interrupted) return;
      checkAlive();
      const r = await limitRun(kind, via, prompt, ++seq);
      limits.push(r);
      console.log(`${r.label.padEnd(52)} sent ${r.sent}, served ${r.served}, refused ${r.refused}, other ${[...r.other].map(([k, v]) => `${v}× ${k}`).join(", ") || 0}, unenforced ${r.unenforced}, ${f2(r.elapsedS)} s, allowance ${r.allowance}${kind === "tpm" ? " tokens" : ""}, error ${signPct(r.errorPct, 2)}`);
      await Bun.sleep(300);
    }
  }
  const budgets: BudgetRun[] = [];
  for (const via of ["haproxy", "direct"] as const) {
    if (interrupted) return;
    checkAlive();
    const b = await budgetRun(via, ++seq);
    budgets.push(b);
    console.log(`budget ${b.label.padEnd(44)} fired ${b.fired}, served ${b.served} (expected ${BUDGET_N}), refused ${b.refused}, other ${[...b.other].map(([k, v]) => `${v}× ${k}`).join(", ") || 0}, Redis spend ${fint(b.redisSpent)} µUSD`);
  }
  checkAlive();

  // ---- facts after the load, then stop everything
  const mem = (s: Server) => {
    try {
      const st = readFileSync(`/proc/${s.proc.pid}/status`, "utf8");
      return `${s.name} ${st.match(/^VmRSS:\s*(.+)$/m)?.[1]?.trim() ?? "?"}`;
    } catch {
      return `${s.name} ?`;
    }
  };
  const memLine = LIVE.filter(alive).map(mem).join(", ");
  clearInterval(sampling);
  sampleProcesses(false);
  const machineBusy = machineCpuSeconds() - machine0;
  const wallAll = (performance.now() - wall0) / 1000;
  redisClient?.close();
  const warnLines = wardenWarnLines(); // before the stop: Redis goes last, but shutdown lines are not the run's
  for (const s of [...LIVE].reverse()) await stopProc(s.proc); // HAProxy, Wardens, mock, then Redis
  if (existsSync(WARDEN) && (await binHash(WARDEN)) !== wardenSha) console.log("note: dist/warden was rebuilt during the run; this run measured the copy taken at its start");

  // The other workloads on the machine during the whole run (processes alive at its start and end).
  const others: { pid: number; cmd: string; pct: number }[] = [];
  for (const [pid, p] of sampled) {
    if (OUR_PIDS.has(pid)) continue;
    const pct = (100 * (p.last - p.base)) / (wallAll * NPROC);
    if (pct >= 0.5) others.push({ pid, cmd: p.cmd.slice(0, 120), pct });
  }
  others.sort((a, b) => b.pct - a.pct);
  const othersTotal = others.reduce((a, o) => a + o.pct, 0);

  // ---- report
  const limitTable = table(
    ["run", "limit", "sent", "served (200)", "refused (429)", "other", "served without x-ratelimit headers (unenforced)", "load seconds", "GCRA allowance", "served − allowance", "error", "served by w1 / w2 / w3", "key replicated in ms", "other CPU %"],
    limits.map((r) => {
      const used = r.used;
      return [
        r.label,
        r.kind === "rpm" ? `rpm ${r.limit}` : `tpm ${fint(r.limit)} (${r.tokensPerReq} tokens/request)`,
        fint(r.sent), fint(r.served), fint(r.refused),
        [...r.other].map(([k, v]) => `**${v}× ${k}**`).join(", ") || "0",
        r.unenforced ? `**${r.unenforced}**` : "0",
        f2(r.elapsedS),
        r.kind === "rpm" ? `${fint(r.allowance)} requests` : `${fint(r.allowance)} tokens (≈ ${f1(r.allowance / r.tokensPerReq)} requests)`,
        r.kind === "rpm" ? `${used - r.allowance >= 0 ? "+" : ""}${used - r.allowance}` : `${used - r.allowance >= 0 ? "+" : ""}${fint(used - r.allowance)} tokens`,
        Math.abs(r.errorPct) > 5 ? `**${signPct(r.errorPct, 2)}**` : signPct(r.errorPct, 2),
        r.perInstance.join(" / "),
        f1(r.syncMs),
        f1(r.cpu.other_pct),
      ];
    }),
    ["l", "l", "r", "r", "r", "l", "r", "r", "r", "r", "r", "r", "r", "r"],
  );
  const budgetTable = table(
    ["run", "max_budget_usd", "fired at once", "served (200)", "expected", "refused (429 insufficient_quota)", "other", "spend in Redis (µUSD)", "expected spend", "served by w1 / w2 / w3", "all answered in ms"],
    budgets.map((b) => [
      b.label, String(b.budgetUsd), fint(b.fired),
      b.served === BUDGET_N ? fint(b.served) : `**${fint(b.served)}**`, fint(BUDGET_N), fint(b.refused),
      [...b.other].map(([k, v]) => `**${v}× ${k}**`).join(", ") || "0",
      fint(b.redisSpent), fint(BUDGET_N * BUDGET_MAX_TOKENS * COMPLETION_PRICE), b.perInstance.join(" / "), fint(b.ms),
    ]),
    ["l", "r", "r", "r", "r", "r", "l", "r", "r", "r", "r"],
  );

  const hlog = haproxies.map((h) => ({ h, l: logLines(h, false) }));
  const rlog = logLines(redis, false);
  const allRes = [...tput.values()].flat();
  const maxOther = Math.max(0, ...allRes.map((w) => w.cpu.other_pct), ...limits.map((r) => r.cpu.other_pct).filter(Number.isFinite));
  const totalErrors = allRes.reduce((a, w) => a + w.errors.connect + w.errors.read + w.errors.write + w.errors.status + w.errors.timeout, 0);
  const budgetOk = budgets.every((b) => b.served === BUDGET_N && b.other.size === 0);
  const limitWorst = Math.max(...limits.map((r) => Math.abs(r.errorPct)));

  const now = new Date();
  const cmd = ["./node_modules/.bin/bun", "bench/cluster.ts", ...process.argv.slice(2)].map((a) => (/^[\w./=:-]+$/.test(a) ? a : `'${a.replace(/'/g, "'\\''")}'`)).join(" ");
  const md = `# Warden benchmark — several instances behind HAProxy, sharing Redis${opts.quick ? " (quick smoke run)" : ""}

Command: \`${cmd}\`

Date: ${startedAt.toISOString()} (start) to ${now.toISOString()} (end)

## Machine

| fact | value |
| :--- | :--- |
| nproc | ${nproc} |
| CPU | ${cpuModel} |
| memory | ${(memKb / 1048576).toFixed(1)} GiB |
| kernel | ${kernel} |
| Bun (runner, mock, limit clients) | ${Bun.version} |
| Warden (\`dist/warden version\`) | ${wardenVersion} |
| Warden binary | \`dist/warden\` sha256 ${wardenSha.slice(0, 16)}…, built ${wardenBuilt} (run from a private copy) |
| source tree | git ${head}${dirty ? `, ${dirty} uncommitted change(s) under src/, ffi/, build.ts, package.json (the binary may include them)` : ", clean"} |
| HAProxy | ${haproxyVersion} |
| Redis | ${redisVersion} |
| wrk | ${wrkVersion} |
| open-files limit for children | ${nofile} |

## Setup

All on 127.0.0.1, each process in its own process group, all up for the whole run:

- one \`redis-server\` (as test/setup/redis.ts starts it: no persistence);
- one mock upstream (\`bench/mock-upstream.ts --tokens ${WRK_TOKENS} --no-record\`);
- three \`dist/warden serve\` (one private copy of the binary, each instance in its own directory) with
  \`WARDEN_REDIS_URL\` (so the rate-limit store is Redis, budgets are reserved and charged in Redis and key changes
  replicate through it), \`WARDEN_MASTER_KEY\`, its own \`WARDEN_DATA_DIR\` and \`WARDEN_LEDGER_ORIGIN\`
  (\`bench.cluster/warden-N\`), \`WARDEN_PRICES=${PRICES}\`, \`WARDEN_LOG_LEVEL=warn\`, the mock as its only upstream;
  default audit mode, default \`WARDEN_REDIS_FAILURE\` (open). Start to /ready (polled every 50 ms): ${startMs.map((x) => `${fint(x)} ms`).join(", ")};
- three HAProxy processes, each running \`deploy/haproxy.cfg\` as shipped (\`balance leastconn\`, HTTP health checks of
  /ready every 500 ms, \`nbthread\` left to HAProxy: one thread per core) with its ports replaced and only its first
  1, 2 or 3 \`server\` lines kept: "HAProxy → 1" fronts Warden 1, "→ 2" Wardens 1–2, "→ 3" all three.

Keys are created with \`POST /admin/keys\` on Warden 1; the benchmark waits until \`GET /admin/keys/:id\` finds them on
Wardens 2 and 3 (replicated through Redis) before using them.

**The machine has ${nproc} cores, shared by everything above plus the load generator.** A second or third Warden
instance brings no CPU with it: it splits the same two cores into more processes.

## 1. Throughput (wrk)

\`wrk -t2 -c{32, 128} -d${opts.durationS}s --timeout 5s -s bench/wrk-chat.lua\`, ${WRK_TOKENS}-token non-streaming replies, after a
${WARMUP_S} s warm-up per target at c=32; ${ROUNDS === 1 ? "one round" : `${ROUNDS} rounds`}, each round running every target at c=32, then every
target at c=128 (interleaved, so that drift of the machine hits all targets alike). Every request carries the virtual key
of tenant \`cluster-throughput\` with \`rpm\` 10⁹, \`tpm\` 10¹², \`max_budget_usd\` 10⁹ (limits that never refuse), so that
every request through a Warden runs, against the shared Redis: the GCRA check script (rpm + tpm, key and tenant), the
budget reserve script (worst case: 4096 default max tokens × $${COMPLETION_PRICE}/M), the settle script and the
completion-token charge; plus the key look-up, WAF and token counting in the instance. (The mock ignores the header.)

Columns: wrk's req/s and latency (not corrected for coordinated omission); errors (socket errors and HTTP ≥ 400);
"served by" is each instance's share of the requests (from \`warden_requests_total\` on each instance's /metrics);
CPU per request is each group's CPU time during the run divided by the requests wrk counted: all three Wardens together
(the idle ones included: their background work is tiny), all three HAProxy processes (idle ones only answer health
checks), redis-server, the mock, wrk; "all of these" is their sum; "machine busy %" the share of both cores busy during
the run (all processes); "other CPU %" the share used by processes that are not part of this benchmark — above a few
percent another workload shared the machine and that row is skewed.

${tt.main}

Summary (mean over rounds; ratios of the means):

${tt.summary}

Redis's own account of the commands (\`INFO commandstats\`, before and after each run; \`INFO\` itself left out) over
every measured run through a Warden, per request the Wardens answered (the commands a script runs are counted as well as
its \`evalsha\`). "inside Redis" is the time a command took as Redis measures it (a script's includes its commands), wall
time: on a saturated machine it includes moments Redis was not on a core, so it can exceed Redis's CPU per request above:

${tt.redis}

### Reading it

${throughputReading(targets, tput)}

## 2. Limit accuracy across instances

A fresh key (and tenant) per run, created on Warden 1 and used once the other two have it. ${LIMIT_WORKERS} workers in this
process send the benchmark's chat completion (16-token reply, no \`max_tokens\`) one after the other for ${LIMIT_S} s, either
through HAProxy → 3 or round-robin straight to the three instances (request i to instance i mod 3); every reply is
counted, including those still in flight when the time is up. "load seconds" is the time from the first request sent
to the last one sent.

GCRA allowance: an idle key may spend its whole per-minute limit at once, then gets one unit per 60 s / limit, so by
the last request it may have been granted \`limit + ⌊seconds × limit / 60⌋\` units (±1 for where exactly the first
and last checks fell). rpm: served requests against that allowance (a burst of ${RPM} plus ${RPM / 60} per second).
tpm: a limit of ${RPM} × (prompt tokens as Warden counts them, ${prompt}, + ${WRK_TOKENS} completion tokens) tokens; served
tokens = served × ${prompt} + the completion tokens of the served replies, against \`tpm + ⌊seconds × tpm / 60⌋\`
(Warden's prompt count is read off \`x-ratelimit-remaining-tokens\` of a probe request; the mock's own usage says fewer prompt
tokens, but the limiter charges Warden's count). The prompt is charged at the check, the completion tokens only after the
reply (src/ratelimit: "debt"): requests admitted while earlier ones were still running push the key into debt, which the
next requests pay back by waiting, so at the end of a run the tokens served can exceed the allowance by at most the
completions of the requests then in flight (${LIMIT_WORKERS} × ${WRK_TOKENS} tokens here). A 200 without \`x-ratelimit-*\` headers would be a request served
unenforced (Redis unreachable and \`WARDEN_REDIS_FAILURE=open\`).

${limitTable}

### Budget: ${BUDGET_N} worst-case requests, ${3 * BUDGET_N} fired at once

\`WARDEN_PRICES=${PRICES}\` ($${COMPLETION_PRICE} per million completion tokens, prompt free, so that the worst case a request
reserves — \`max_tokens\` ${BUDGET_MAX_TOKENS} × the completion price = ${fint(BUDGET_MAX_TOKENS * COMPLETION_PRICE)} µUSD — is exactly what it is
charged: the mock answers ${BUDGET_MAX_TOKENS} tokens; with a prompt price the reservation would count prompt tokens with Warden's
tokenizer and the charge with the mock's usage, and any difference would free budget for more requests). A key with
\`max_budget_usd\` = ${BUDGET_N} × that; ${3 * BUDGET_N} requests started at once (one \`fetch\` each, all in flight together), through
HAProxy → 3 or round-robin to the instances. Exactly ${BUDGET_N} must be served, the rest refused with 429 \`insufficient_quota\`,
and the key's spend in Redis (\`warden:budget:spent:key:<id>\`, read 300 ms after the last reply) must be the budget.

${budgetTable}

${budgetOk ? `Every run served exactly ${BUDGET_N}: the Redis reservation is atomic across instances.` : `**The budget did not hold exactly: see the table.**`}

## Notes

- other CPU: ${f1(otherBefore)} % of all cores busy in the ${idleS} s before the servers started; at most ${f1(maxOther)} % during
  a measured run (the "other CPU %" columns). Over the whole run, processes that are not part of this benchmark (sampled every 2 s)
  used ${f1(othersTotal)} % of all cores${others.length ? `:\n${others.slice(0, 8).map((o) => `  - ${f1(o.pct)} %: \`${o.cmd.replace(/`/g, "'")}\``).join("\n")}` : " (none above 0.5 %)"}.
  The machine was ${f1((100 * machineBusy) / (wallAll * NPROC))} % busy over the run's ${fint(wallAll)} s.
- wrk errors over all throughput runs: ${totalErrors === 0 ? "none" : `**${totalErrors}** (see the table)`}.
- memory after the run (RSS): ${memLine}.
- Warden log lines at warn level and above while the cluster ran (shutdown excluded): ${warnLines.length === 0 ? "none" : `${warnLines.length}${warnLines.length > 20 ? " (the first 20)" : ""}:\n${warnLines.slice(0, 20).map((l) => `  - ${new Date(l.time).toISOString().slice(11, 23)} ${l.server} ${l.level}: ${l.text.replace(/\|/g, "/")} — during ${phaseOf(l.time) ?? "no measured run"}`).join("\n")}`}
  A Warden logs each kind of Redis failure at most once per 10 s (the next line counts the suppressed ones), so a line means
  at least one failure; with the default \`WARDEN_REDIS_FAILURE=open\`, requests in the following second (\`retryMs\`) were
  served without a rate-limit check or a budget hold.
- HAProxy log lines (warning and above, e.g. a server going down): ${hlog.map(({ h, l }) => `${h.name} ${l.count}${l.distinct.size ? ` (${[...l.distinct].slice(0, 4).map(([k, n]) => `${n}× ${k.replace(/\|/g, "/")}`).join("; ")})` : ""}`).join(", ")}.
- redis-server log lines: ${rlog.count} (its start-up banner and notices; nothing is persisted).
`;
  const out = resolve(opts.out ?? join(BENCH, "results", `${startedAt.toISOString().slice(0, 10)}-${opts.quick ? "quick-" : ""}cluster.md`));
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, md);
  console.log(`\n${limitTable}\n\n${budgetTable}\n`);
  if (!budgetOk) console.log("BUDGET DID NOT HOLD EXACTLY");
  if (limitWorst > 5) console.log(`LIMIT ERROR ABOVE 5 %: ${f2(limitWorst)} %`);
  console.log(`\nwrote ${relative(process.cwd(), out) || out} in ${((now.getTime() - startedAt.getTime()) / 1000).toFixed(0)} s`);
}

/** Per target and level, over every round: mean req/s, CPU per request of each group, machine busy and other CPU. */
function aggregate(res: Map<string, WrkResult[]>, key: string, c: number) {
  const rs = (res.get(`${c}/${key}`) ?? []).filter((w) => !w.failed && w.requests > 0);
  const req = rs.reduce((a, w) => a + w.requests, 0);
  const per = (f: (w: WrkResult) => number) => (req > 0 ? (rs.reduce((a, w) => a + f(w), 0) * 1e6) / req : NaN);
  const avg = (f: (w: WrkResult) => number) => (rs.length ? rs.reduce((a, w) => a + f(w), 0) / rs.length : NaN);
  const g = { wardens: per((w) => w.cpu.groups.wardens), haproxy: per((w) => w.cpu.groups.haproxy), redis: per((w) => w.cpu.groups.redis), mock: per((w) => w.cpu.groups.mock), wrk: per((w) => w.cpu.loadgen_s), runner: per((w) => w.cpu.self_s) };
  const busy = avg((w) => w.cpu.machine_pct);
  const other = avg((w) => w.cpu.other_pct);
  return { rps: avg((w) => w.rps), ...g, total: g.wardens + g.haproxy + g.redis + g.mock + g.wrk, busy, other, ourCores: ((busy - other) / 100) * NPROC };
}

function throughputReading(targets: Target[], res: Map<string, WrkResult[]>): string {
  const rows: string[][] = [];
  const lines: string[] = [];
  let maxGain = 0;
  for (const c of LEVELS) {
    for (const t of targets) {
      if (t.instances === 0) continue;
      const x = aggregate(res, t.key, c);
      rows.push([String(c), t.label, fint(x.rps), f1(x.total), f1(x.wardens), t.key.startsWith("ha") ? f1(x.haproxy) : "—", f1(x.redis), f1(x.mock), f1(x.wrk), f1(x.busy), f1(x.other), f2(x.ourCores), fint((x.ourCores * 1e6) / x.total)]);
    }
    const h = [1, 2, 3].map((n) => aggregate(res, `ha${n}`, c));
    const b = aggregate(res, "w1", c);
    maxGain = Math.max(maxGain, h[1].rps / h[0].rps, h[2].rps / h[0].rps);
    lines.push(`- c=${c}: one Warden directly ${fint(b.rps)} req/s; HAProxy → 1, 2, 3 Wardens ${fint(h[0].rps)}, ${fint(h[1].rps)}, ${fint(h[2].rps)} req/s ` +
      `(${f2(h[1].rps / h[0].rps)}× and ${f2(h[2].rps / h[0].rps)}× of one instance); CPU per request (all processes of the benchmark) ${f1(h[0].total)}, ${f1(h[1].total)}, ${f1(h[2].total)} µs; machine busy ${f1(h[0].busy)}, ${f1(h[1].busy)}, ${f1(h[2].busy)} %.`);
  }
  const cost = table(
    ["c", "target", "mean req/s", "CPU µs/req, all", "Wardens", "HAProxy", "Redis", "mock", "wrk", "machine busy %", "other CPU %", "cores left to the benchmark", "cores ÷ CPU per request (req/s)"],
    rows,
  );
  // Warden 1's busiest thread with one instance (directly and behind HAProxy), over every round and level.
  const oneThread = (key: string) => {
    const xs = LEVELS.flatMap((c) => (res.get(`${c}/${key}`) ?? []).filter((w) => !w.failed).map((w) => w.threads[0]?.pct ?? NaN)).filter(Number.isFinite);
    return xs.length ? { min: Math.min(...xs), max: Math.max(...xs) } : { min: NaN, max: NaN };
  };
  const tb = oneThread("w1"), tc = oneThread("ha1");
  const bound = Math.min(tb.min, tc.min) >= 85;
  const one = LEVELS.map((c) => aggregate(res, "ha1", c));
  const three = LEVELS.map((c) => aggregate(res, "ha3", c));
  const redisPer = aggregate(res, "ha3", 128).redis;
  const fell = LEVELS.filter((_, i) => three[i].total < 0.95 * one[i].total);
  const cpuNote = fell.length === 0
    ? ""
    : ` (At c=${fell.join(" and c=")} the measured CPU per request through HAProxy → 3 came out lower than through → 1: the CPU
a request costs is itself not fixed on a shared machine — a process that gets the CPU less often handles fewer requests per
wake-up and pays more per request — so it moves with the other workload, like req/s; see "other CPU %".)`;
  const noisy = maxGain > 1.1
    ? `\n\nWhere (d) or (e) come out above (c) here (up to ${f2(maxGain)}×), compare their "other CPU %", "machine busy %" and CPU
per request: a gain that comes with a lower "other CPU %" is the other workload leaving more of the cores to that run, not
the extra instance. Only rows with a low "other CPU %" compare well.`
    : "";
  const rng = (x: { min: number; max: number }) => (x.min === x.max ? `${fint(x.min)} %` : `${fint(x.min)}–${fint(x.max)} %`);
  return `${lines.join("\n")}

Where the CPU goes (every round of a target and level together; µs of CPU per request served):

${cost}

"cores left to the benchmark" = (machine busy − other CPU) × ${NPROC}; the last column divides it by the CPU a request costs and
comes out at the measured req/s (the rest is this runner's own CPU): throughput here is the cores the benchmark gets divided
by what one request costs across all its processes.

**More Warden instances do not add throughput on this machine.** Three instances behind HAProxy served ${LEVELS.map((c, i) => `${f2(three[i].rps / one[i].rps)}× what one did at c=${c}`).join(" and ")}. Why:

1. A Warden instance runs its request path on its main JavaScript thread (the audit worker, the garbage collector and
   Bun's I/O threads help): with one instance, Warden 1's busiest thread used ${rng(tb)} of a core when wrk talked to it
   directly and ${rng(tc)} behind HAProxy${bound
    ? ": one instance is bound by that thread. What a second instance adds is a second such thread, i.e. up to one more core — on a machine that has one to give."
    : ": below a full core, so one instance was not held back by its own thread."}
2. With one instance the machine was ${LEVELS.map((c, i) => `${f1(one[i].busy)} % busy at c=${c}`).join(" and ")} (HAProxy → 1)${Math.min(...one.map((x) => x.busy)) >= 95
    ? ": both cores were already in use, so another instance has no CPU to use."
    : `; in the idle rest, every process of the chain (wrk → HAProxy → Warden ⇄ Redis → mock) was waiting on another one.
   More instances fill that idle time in (${LEVELS.map((c, i) => `${f1(three[i].busy)} %`).join(" and ")} busy with three), and that idle share is
   all a second or third instance can ever use on two cores.`}
3. And every request costs more CPU with more instances: it still passes through one HAProxy, one Warden (auth, WAF,
   token count, the rate-limit and budget round trips), Redis and the mock, wherever it lands, while more processes on
   two cores mean more scheduling, more Redis connections and colder caches: ${LEVELS.map((c, i) => `${f1(one[i].total)} µs with one instance, ${f1(three[i].total)} µs with three at c=${c}`).join("; ")}.
   The few percent of cores the extra instances take up are spent on that, not on more requests.${cpuNote}

HAProxy adds its own CPU per request and a hop: the gap between (b) and (c). Scaling out pays when each instance brings its own
cores (another host, or a machine with cores to spare): then throughput grows with the instances until Redis or the upstream
is the limit. Redis does a fair share of the work per request here (see its command table above): ${f1(redisPer)} µs of its
CPU per request (c=128, HAProxy → 3, socket work included), so one single-threaded Redis would cap a cluster of such requests
near ${fint(1e6 / redisPer)} req/s however many hosts the Wardens run on (a rough bound, measured with every process sharing
two cores).${noisy}`;
}

try {
  await main();
  killAllSync();
  if (!opts.keepLogs && workDir) rmSync(workDir, { recursive: true, force: true });
  else if (workDir) console.log(`logs kept in ${workDir}`);
  process.exit(interrupted ? 130 : 0);
} catch (e) {
  console.error(`bench/cluster.ts: ${(e as Error).stack ?? (e as Error).message}`);
  killAllSync();
  if (workDir) console.error(`logs kept in ${workDir}`);
  process.exit(1);
}
