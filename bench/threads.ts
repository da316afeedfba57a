// Where the CPU of one request goes, thread by thread: the bare pass-through against Warden with
// every stage on, each pinned alone to core 0 (mock and wrk on core 1), at c=32 (--connections) after a warm-up
// long enough for the JIT to settle. Per-thread CPU comes from /proc/<pid>/task/*/stat, so it
// separates Warden's main thread from Bun's HTTP client thread, the audit worker and the rest,
// which a sampling profiler of the main thread cannot (on one core it charges the HTTP client's
// time to `fetch`).
//
//   ./node_modules/.bin/bun bench/threads.ts [--rounds N] [--warmup S] [--duration S] [--connections C] [--out PATH]
//
// Rounds alternate pass-through and Warden; the report gives each round and the medians.
import { spawn, type Subprocess } from "bun";
import { closeSync, copyFileSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";
import { baseEnv, children, freePort, killChildrenOnExit, removeDir, run, stopProc, tail, wrapped } from "./processes";

const ROOT = resolve(import.meta.dir, "..");
const BUN = process.execPath;
const HOST = "127.0.0.1";
const MASTER = "bench-master-key-0123456789";

function usage(msg?: string): never {
  if (msg) console.error(`bench/threads.ts: ${msg}`);
  console.error("usage: bun bench/threads.ts [--rounds N] [--warmup S] [--duration S] [--connections C] [--out PATH]");
  process.exit(2);
}
const opts = { rounds: 3, warmupS: 10, durationS: 8, connections: 32, out: join(import.meta.dir, "results", `${new Date().toISOString().slice(0, 10)}-threads.md`) };
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i];
  const num = () => {
    const v = Number(process.argv[++i]);
    if (!Number.isInteger(v) || v < 1 || v > 4096) usage(`${a} needs a whole number in 1..4096`);
    return v;
  };
  if (a === "--rounds") opts.rounds = num();
  else if (a === "--warmup") opts.warmupS = num();
  else if (a === "--duration") opts.durationS = num();
  else if (a === "--connections") opts.connections = num();
  else if (a === "--out") opts.out = resolve(process.argv[++i] ?? usage("--out needs a path"));
  else usage(a === "-h" || a === "--help" ? undefined : `unknown argument: ${a}`);
}

const work = mkdtempSync(join(tmpdir(), "warden-threads-"));
killChildrenOnExit("bench/threads.ts", () => removeDir(work));

interface Server { name: string; proc: Subprocess; log: string; base: string }

function start(name: string, core: number, cmd: string[], env: Record<string, string>, port: number, cwd = ROOT): Server {
  const log = join(work, `${name}.log`);
  const fd = openSync(log, "w");
  const proc = spawn({ cmd: wrapped(["taskset", "-c", String(core), ...cmd], 20000), env, cwd, stdin: "ignore", stdout: fd, stderr: fd });
  closeSync(fd);
  children.add(proc);
  return { name, proc, log, base: `http://${HOST}:${port}` };
}

async function ready(s: Server): Promise<void> {
  for (let i = 0; i < 200; i++) {
    try {
      await (await fetch(`${s.base}/v1/models`)).arrayBuffer(); // any answer: it listens (and so does the mock behind it)
      return;
    } catch {}
    await Bun.sleep(50);
  }
  throw new Error(`${s.name} did not become ready:\n${tail(s.log)}`);
}

/** The pid running the server: setsid, sh and taskset each exec the next, so it keeps the child's pid. */
const pidOf = (s: Server) => s.proc.pid;

/** The main thread's name here (its own is the executable's). */
const MAIN = "main";

/** CPU ticks (1/100 s) per thread name, summed over threads of the same name. */
function threadTicks(pid: number): Map<string, number> {
  const out = new Map<string, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8");
      const name = tid === String(pid) ? MAIN : stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      out.set(name, (out.get(name) ?? 0) + Number(f[11]) + Number(f[12])); // utime, stime
    } catch {} // a thread that ended between the listing and the read
  }
  return out;
}

function processTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(f[11]) + Number(f[12]);
}

async function wrk(url: string, seconds: number, auth: string): Promise<{ requests: number; rps: number; bad: number }> {
  const r = await run(["taskset", "-c", "1", "wrk", "-t2", `-c${opts.connections}`, `-d${seconds}s`, "--timeout", "5s", "-s", join(import.meta.dir, "wrk-chat.lua"), `${url}/v1/chat/completions`], {
    env: baseEnv({ WRK_AUTH: auth }),
    timeoutMs: (seconds + 30) * 1000,
    cwd: ROOT,
  });
  const line = r.stdout.split("\n").find((l) => l.startsWith("WRK_JSON "));
  if (!line) throw new Error(`wrk failed: ${r.stderr || r.stdout}`);
  const j = JSON.parse(line.slice(9));
  return { requests: j.requests, rps: j.rps, bad: j.errors.status + j.errors.connect + j.errors.read + j.errors.timeout };
}

/** Thread names as Bun and JavaScriptCore set them, grouped for the table. */
const GROUPS: [string, (name: string) => boolean][] = [
  ["main thread", (n) => n === MAIN],
  ["HTTP client (fetch)", (n) => n === "HTTP Client"],
  ["audit worker", (n) => n === "Worker"],
  ["JIT", (n) => n === "JITWorker" || n === "JSCWarmUp"],
];

interface Sample { target: string; round: number; rps: number; bad: number; total: number; groups: number[]; other: number }

async function measure(s: Server, target: string, round: number, auth: string): Promise<Sample> {
  await wrk(s.base, opts.warmupS, auth);
  const pid = pidOf(s);
  const t0 = threadTicks(pid), p0 = processTicks(pid);
  const w = await wrk(s.base, opts.durationS, auth);
  const t1 = threadTicks(pid), p1 = processTicks(pid);
  const us = (ticks: number) => (ticks * 10_000) / w.requests; // 1 tick = 10 ms
  const groups = GROUPS.map(() => 0);
  let other = 0;
  for (const [name, after] of t1) {
    const d = after - (t0.get(name) ?? 0);
    const g = GROUPS.findIndex(([, match]) => match(name));
    if (g >= 0) groups[g] += d;
    else other += d;
  }
  return { target, round, rps: w.rps, bad: w.bad, total: us(p1 - p0), groups: groups.map(us), other: us(other) };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main(): Promise<void> {
  const wardenSrc = join(ROOT, "dist", "warden");
  if (!existsSync(wardenSrc)) usage("dist/warden is missing: build it first (bun run build.ts)");
  const bin = join(work, "warden");
  copyFileSync(wardenSrc, bin);
  const dataDir = join(work, "data");
  const created = await run([bin, "keys", "create", "--tenant", "bench", "--name", "bench", "--rpm", "1000000000", "--tpm", "1000000000000", "--max-concurrent", "100000"], {
    env: baseEnv({ WARDEN_DATA_DIR: dataDir, WARDEN_MASTER_KEY: MASTER }),
    timeoutMs: 30_000,
    cwd: work,
  });
  const key = (JSON.parse(created.stdout) as { key?: string }).key;
  if (!key) throw new Error(`warden keys create failed: ${created.stderr}`);

  const mockPort = await freePort(HOST), passPort = await freePort(HOST), wardenPort = await freePort(HOST);
  const mock = start("mock", 1, [BUN, join(import.meta.dir, "mock-upstream.ts"), "--port", String(mockPort), "--no-record"], baseEnv({}), mockPort);
  const pass = start("passthrough", 0, [BUN, join(import.meta.dir, "passthrough.ts"), "--port", String(passPort), "--target", `http://${HOST}:${mockPort}`], baseEnv({ BUN_CONFIG_MAX_HTTP_REQUESTS: "65336" }), passPort);
  const warden = start("warden", 0, [bin, "serve"], baseEnv({
    WARDEN_DATA_DIR: dataDir, WARDEN_PORT: String(wardenPort), WARDEN_HOST: HOST, WARDEN_MASTER_KEY: MASTER, WARDEN_LOG_LEVEL: "warn",
    WARDEN_UPSTREAM_MOCK_URL: `http://${HOST}:${mockPort}/v1`, WARDEN_UPSTREAM_MOCK_MODELS: "mock-gpt",
  }), wardenPort, work);
  await Promise.all([mock, pass, warden].map(ready));

  const samples: Sample[] = [];
  for (let round = 1; round <= opts.rounds; round++) {
    for (const [s, target, auth] of [[pass, "pass-through", ""], [warden, "Warden", `Bearer ${key}`]] as const) {
      const m = await measure(s, target, round, auth);
      samples.push(m);
      console.log(`round ${round} ${target.padEnd(12)} ${Math.round(m.rps)} req/s  ${m.total.toFixed(1)} µs/req  ${GROUPS.map(([g], i) => `${g} ${m.groups[i].toFixed(1)}`).join("  ")}  other ${m.other.toFixed(1)}`);
    }
  }
  await Promise.all([warden, pass, mock].map((s) => stopProc(s.proc)));

  const f1 = (x: number) => x.toFixed(1);
  const head = ["target", "round", "req/s", "non-2xx / errors", "CPU µs/req (process)", ...GROUPS.map(([g]) => `${g} µs/req`), "other threads µs/req"];
  const rows = samples.map((m) => [m.target, String(m.round), Math.round(m.rps).toLocaleString("en-US"), String(m.bad), f1(m.total), ...m.groups.map(f1), f1(m.other)]);
  for (const target of ["pass-through", "Warden"]) {
    const of = samples.filter((m) => m.target === target);
    rows.push([`**${target}, median**`, "", Math.round(median(of.map((m) => m.rps))).toLocaleString("en-US"), "", f1(median(of.map((m) => m.total))), ...GROUPS.map((_, i) => f1(median(of.map((m) => m.groups[i])))), f1(median(of.map((m) => m.other)))]);
  }
  const table = [`| ${head.join(" | ")} |`, `| ${head.map((_, i) => (i < 2 ? ":---" : "---:")).join(" | ")} |`, ...rows.map((r) => `| ${r.join(" | ")} |`)].join("\n");
  const git = (await run(["git", "rev-parse", "--short", "HEAD"], { timeoutMs: 10_000, cwd: ROOT })).stdout.trim();
  const cmd = ["./node_modules/.bin/bun", "bench/threads.ts", ...process.argv.slice(2)].join(" ");
  writeFileSync(opts.out, `# Where the CPU of one request goes, thread by thread

Command: \`${cmd}\` (git ${git}, ${new Date().toISOString()}; Bun ${Bun.version}; ${relative(ROOT, wardenSrc)} copied to a temp dir).

Pass-through (\`bench/passthrough.ts\`) and Warden (every stage on: a virtual key with limits this machine cannot reach, the
WAF's default policy, token counting, audit on, \`WARDEN_LOG_LEVEL=warn\`) each pinned alone to core 0 with \`taskset -c 0\`;
the mock upstream and wrk on core 1. Non-streaming chat completions, \`wrk -t2 -c${opts.connections}\`, 16-token replies. Each round: ${opts.warmupS} s
of load to warm up, then ${opts.durationS} s measured. CPU per request from \`/proc/<pid>/task/*/stat\` (utime + stime, 10 ms ticks)
divided by the requests wrk completed. Thread names are Bun's: the main thread runs the JavaScript (the gateway's stages,
\`Bun.serve\`, the \`fetch\` calls), "HTTP Client" is Bun's fetch thread, "Worker" the audit worker (hashing, WAL, MMR),
JIT the compiler threads.

${table}
`);
  console.log(`wrote ${relative(ROOT, opts.out)}`);
  removeDir(work);
}

main().catch((e) => {
  console.error(`bench/threads.ts: ${(e as Error).message}`);
  process.exit(1);
});
