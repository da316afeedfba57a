/**
 * Where the audit worker's CPU goes, per ledger record. Three modes, each timed in CPU time of the
 * thread doing the work (CLOCK_THREAD_CPUTIME_ID through libc, or /proc/<pid>/task/<tid>/schedstat),
 * not wall time: the machine's cores are shared with the load generator and the upstream.
 *
 *   --mode stages  (default) the ledger driven in-process, batch by batch, each stage of an
 *                  append timed per batch: µs per record, median of --runs runs (and their range).
 *                  Records: a chat completion (request 95 B, a 16-token JSON reply of 452 B) and a
 *                  streamed one (a 40-token SSE reply with usage, 11.4 KB in 44 chunks).
 *                  Also: one status message, one checkpoint (sign + fsyncs), per record at the
 *                  given load.
 *   --mode worker  the real audit worker (startAuditWorker) fed hand-offs at a fixed rate the way
 *                  the gateway does (flush every 10 ms); the worker thread's CPU per record.
 *   --mode handoff the gateway's side: HandOffWriter.write of 100 records and take(), thread CPU
 *                  per record (the request path's share of the audit work).
 *   --mode wrk     compiled binaries (--bin A,B: interleaved runs) behind wrk at c=32 with the
 *                  16-token reply: requests/s, and the audit worker thread's and the main thread's
 *                  CPU per request.
 *
 * --src DIR points the stages and worker modes at another checkout's src/ (e.g. the commit before:
 * `git archive HEAD | tar -x -C /tmp/before`, plus node_modules and the .so); the stages of code
 * before the packed leaf builder (src/audit/leaf.ts) are timed as that code ran them.
 *
 * Run: ./node_modules/.bin/bun bench/audit-worker.ts [--mode stages|worker|handoff|wrk] [--src DIR]
 *        [--runs N] [--batch N] [--bin PATH[,PATH]] [--duration S] [--json]
 * Prints markdown tables (and with --json one AUDIT_WORKER_JSON line).
 */
import { dlopen, FFIType } from "bun:ffi";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
// Type only (erased at run time), so --src may still point the code at another checkout.
import type { HandOff } from "../src/audit/record";

const ROOT = join(import.meta.dir, "..");
const args = process.argv.slice(2);
const arg = (name: string, fallback: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1]! : fallback;
};
const MODE = arg("--mode", "stages");
const SRC = resolve(arg("--src", join(ROOT, "src")));
const RUNS = Number(arg("--runs", "7"));
const BATCH = Number(arg("--batch", "50"));
const DURATION = Number(arg("--duration", "5"));
const JSON_OUT = args.includes("--json");

// ------------------------------------------------------------------------------------------------
// Clocks and statistics
// ------------------------------------------------------------------------------------------------

const libc = dlopen("libc.so.6", { clock_gettime: { args: [FFIType.i32, FFIType.ptr], returns: FFIType.i32 } });
const timespec = new BigInt64Array(2);
/** CPU time of the calling thread, ns (CLOCK_THREAD_CPUTIME_ID). */
function threadNs(): number {
  libc.symbols.clock_gettime(3, timespec);
  return Number(timespec[0]) * 1e9 + Number(timespec[1]);
}

/** CPU ns so far of every thread of process `pid`, by thread id, with its name. */
function threads(pid: number | "self"): Map<string, { name: string; ns: number }> {
  const out = new Map<string, { name: string; ns: number }>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const name = readFileSync(`/proc/${pid}/task/${tid}/comm`, "utf8").trim();
      out.set(tid, { name, ns: Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ")[0]) });
    } catch {
      // the thread ended
    }
  }
  return out;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}
const f2 = (x: number) => x.toFixed(2);
const spread = (xs: number[]) => `${f2(median(xs))} (${f2(Math.min(...xs))}–${f2(Math.max(...xs))})`;
const table = (head: string[], rows: string[][]) => [`| ${head.join(" | ")} |`, `| ${head.map((_, i) => (i === 0 ? ":---" : "---:")).join(" | ")} |`, ...rows.map((r) => `| ${r.join(" | ")} |`)].join("\n");

// ------------------------------------------------------------------------------------------------
// Records: what the gateway hands off for a mock-upstream exchange
// ------------------------------------------------------------------------------------------------

const enc = new TextEncoder();
const tokens = (n: number) => Array.from({ length: n }, (_, i) => `tok${i}`).join(" ");
const JSON_REQUEST = enc.encode('{"model":"mock-gpt","messages":[{"role":"user","content":"Say hello"}],"mock":{"tokens":16}}');
const SSE_REQUEST = enc.encode('{"model":"mock-gpt","messages":[{"role":"user","content":"Say hello"}],"stream":true,"stream_options":{"include_usage":true}}');
function jsonReply(i: number): Uint8Array {
  return enc.encode(
    JSON.stringify({
      id: `chatcmpl-k2j3h4g5${i.toString(36)}`, object: "chat.completion", created: 1795000000 + (i >> 10), model: "mock-gpt",
      choices: [{ index: 0, message: { role: "assistant", content: tokens(16), refusal: null, annotations: [] }, logprobs: null, finish_reason: "stop" }],
      usage: { prompt_tokens: 3, completion_tokens: 16, total_tokens: 19 }, service_tier: "default", system_fingerprint: "fp_mock",
    }),
  );
}
function sseReply(i: number): Uint8Array[] {
  const head = `data: {"id":"chatcmpl-k2j3h4g5${i.toString(36)}","object":"chat.completion.chunk","created":${1795000000 + (i >> 10)},"model":"mock-gpt","service_tier":"default","system_fingerprint":"fp_mock","choices":[`;
  const tail = `],"usage":null}\n\n`;
  return [
    `${head}{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}${tail}`,
    ...Array.from({ length: 40 }, (_, k) => `${head}{"index":0,"delta":{"content":"${k === 0 ? "tok0" : ` tok${k}`}"},"logprobs":null,"finish_reason":null}${tail}`),
    `${head}{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}${tail}`,
    `${head}],"usage":{"prompt_tokens":3,"completion_tokens":40,"total_tokens":43}}\n\n`,
    "data: [DONE]\n\n",
  ].map((s) => enc.encode(s));
}
function record(i: number, streamed: boolean): HandOff {
  return {
    time: 1_795_000_000_000 + i, requestId: `req_0123456789abcdef${i.toString(16).padStart(16, "0")}`, keyId: "key_7f3a9c", tenant: "acme",
    route: "/v1/chat/completions", model: "mock-gpt", upstream: "mock", status: 200, refusal: null,
    totalUs: 1234.56 + (i % 100), upstreamFirstByteUs: 987.6, request: [streamed ? SSE_REQUEST : JSON_REQUEST], response: streamed ? sseReply(i) : [jsonReply(i)], streamed,
    waf: [], rateLimit: { outcome: "allowed", reason: null, subject: null },
  };
}

// ------------------------------------------------------------------------------------------------
// Mode: stages
// ------------------------------------------------------------------------------------------------

type Stages = { name: string; perRecord: number[] }[];

async function stages(streamed: boolean): Promise<{ stages: Stages; total: number[] }> {
  const native = await import(join(SRC, "native/index.ts"));
  const ledgerMod = await import(join(SRC, "audit/ledger.ts"));
  const handoff = await import(join(SRC, "audit/handoff.ts"));
  const recordMod = await import(join(SRC, "audit/record.ts"));
  const packed = Array.isArray(ledgerMod.APPEND_STAGES);
  const dir = mkdtempSync(join(tmpdir(), "warden-bench-stages-"));
  const core = await native.loadCore(dir);
  const ledger = await ledgerMod.openLedger(core, dir, { origin: "bench.local/ledger", checkpointEveryRecords: 1e12, checkpointEveryMs: 1e12, clock: threadNs });
  const BATCHES = 60;
  const WARM = 40;
  let seq = 0;
  const makeBatch = () => {
    const w = new handoff.HandOffWriter();
    for (let i = 0; i < BATCH; i++) w.write(record(seq++, streamed));
    return w.take() as { buffer: ArrayBuffer; length: number };
  };
  const LABELS: Record<string, string> = {
    index: "index the batch (field positions, nothing decoded)",
    extract: "extract (reply decoded once; JSON.parse, or SSE template match)",
    hash: "SHA-256 ×2 (one-shot, into a digest table)",
    analyse: "analyse (UTF-8, long runs, word ids into packed buffers)",
    entropy: "entropy (2 FFI calls per group)",
    write: "write the canonical JSON bytes (record + encoding)",
  };
  const names: string[] = packed
    ? ledgerMod.APPEND_STAGES.map((s: string) => LABELS[s] ?? s)
    : ["decode hand-off (readHandOffs)", "toRecord", "  of which extract (decode + JSON.parse)", "  of which analyse (tokens + 2 entropy FFI calls)", "  of which SHA-256 ×2 (new hasher each)", "canonical encoding (JSON.stringify + UTF-8)", "wal append", "mmr append", "fsync"];
  const perRun: number[][] = names.map(() => []);
  const totals: number[] = [];
  // The WAL of the legacy path, as its Ledger.append drives it
  const wal = packed ? undefined : core.openWal(join(dir, "legacy-wal"), { watermark: 0 });
  const mmr = packed ? undefined : core.openMmr(join(dir, "legacy.mmr"));
  for (let run = 0; run < RUNS; run++) {
    const acc = new Float64Array(names.length);
    let total = 0;
    let n = 0;
    for (let b = 0; b < WARM + BATCHES; b++) {
      const batch = makeBatch(); // fresh bytes every batch, as the worker gets them
      const measured = b >= WARM;
      if (packed) {
        ledger.profile.fill(0);
        const t0 = threadNs();
        ledger.appendBatches([batch]);
        const t = threadNs() - t0;
        if (measured) {
          for (let i = 0; i < names.length; i++) acc[i] += ledger.profile[i];
          total += t;
          n += BATCH;
        }
      } else {
        const T = [threadNs()];
        const hs = handoff.readHandOffs(batch.buffer, batch.length);
        T.push(threadNs());
        const s0 = wal!.length();
        const recs = hs.map((h: HandOff, i: number) => recordMod.toRecord(h, s0 + i, core));
        T.push(threadNs());
        const leaves = recs.map(recordMod.encode);
        T.push(threadNs());
        wal!.append(1, leaves);
        T.push(threadNs());
        mmr!.appendLeaves(leaves);
        T.push(threadNs());
        wal!.sync();
        T.push(threadNs());
        // toRecord's parts, timed apart on the same records (extra work, outside the total)
        const p0 = threadNs();
        const contents = hs.map((h: HandOff) => recordMod.extract(h.response, h.streamed).content);
        const p1 = threadNs();
        for (const c of contents) recordMod.analyse(c, core);
        const p2 = threadNs();
        for (const h of hs) for (const body of [h.request, h.response]) {
          const x = new Bun.CryptoHasher("sha256");
          for (const c of body) x.update(c);
          x.digest("hex");
        }
        const p3 = threadNs();
        if (measured) {
          const d = (k: number) => T[k + 1]! - T[k]!;
          acc[0] += d(0);
          acc[1] += d(1);
          acc[2] += p1 - p0;
          acc[3] += p2 - p1;
          acc[4] += p3 - p2;
          acc[5] += d(2);
          acc[6] += d(3);
          acc[7] += d(4);
          acc[8] += d(5);
          total += T[6]! - T[0]!;
          n += BATCH;
        }
      }
    }
    for (let i = 0; i < names.length; i++) perRun[i]!.push(acc[i]! / n / 1000);
    totals.push(total / n / 1000);
  }
  wal?.close();
  mmr?.close();
  ledger.close();
  core.close();
  rmSync(dir, { recursive: true, force: true });
  return { stages: names.map((name, i) => ({ name, perRecord: perRun[i]! })), total: totals };
}

/** One status message posted from a worker to this thread: the worker's CPU per message, µs. */
async function statusMessageCost(): Promise<number[]> {
  const code = `
    import { dlopen, FFIType } from "bun:ffi";
    const libc = dlopen("libc.so.6", { clock_gettime: { args: [FFIType.i32, FFIType.ptr], returns: FFIType.i32 } });
    const ts = new BigInt64Array(2);
    const now = () => (libc.symbols.clock_gettime(3, ts), Number(ts[0]) * 1e9 + Number(ts[1]));
    self.onmessage = async () => {
      const out = [];
      for (let i = 0; i < 400; i++) {
        const m = { type: "status", status: { size: 1000 + i, checkpointSize: 900, appendErrors: 0, processed: 1000 + i, checkpointTimeMs: 1795000000000 }, ok: true, walFsyncSeconds: [0.00123] };
        const a = now();
        self.postMessage(m);
        out.push((now() - a) / 1000);
        await Bun.sleep(2); // the gateway is busy elsewhere between two statuses: each one wakes it
      }
      self.postMessage({ done: out });
    };`;
  const url = URL.createObjectURL(new Blob([code], { type: "text/javascript" }));
  const w = new Worker(url);
  const result = await new Promise<number[]>((res) => {
    w.onmessage = (e) => {
      if (e.data?.done) res(e.data.done);
    };
    w.postMessage("go");
  });
  w.terminate();
  return result.slice(50);
}

/** ledger.checkpoint(): sign, append + fsync the checkpoint log, sync the MMR; thread CPU µs each. */
async function checkpointCost(): Promise<number[]> {
  const native = await import(join(SRC, "native/index.ts"));
  const ledgerMod = await import(join(SRC, "audit/ledger.ts"));
  const dir = mkdtempSync(join(tmpdir(), "warden-bench-cp-"));
  const core = await native.loadCore(dir);
  const ledger = await ledgerMod.openLedger(core, dir, { origin: "bench.local/ledger", checkpointEveryRecords: 1e12, checkpointEveryMs: 1e12 });
  const out: number[] = [];
  let seq = 0;
  for (let i = 0; i < 25; i++) {
    ledger.append(Array.from({ length: 1000 }, () => record(seq++, false)));
    const a = threadNs();
    await ledger.checkpoint();
    if (i >= 5) out.push((threadNs() - a) / 1000);
  }
  ledger.close();
  core.close();
  rmSync(dir, { recursive: true, force: true });
  return out;
}

// ------------------------------------------------------------------------------------------------
// Mode: worker
// ------------------------------------------------------------------------------------------------

async function workerRun(streamed: boolean, rate: number): Promise<number> {
  const native = await import(join(SRC, "native/index.ts"));
  const audit = await import(join(SRC, "audit/index.ts"));
  const dir = mkdtempSync(join(tmpdir(), "warden-bench-worker-"));
  const core = await native.loadCore(dir);
  const before = threads("self");
  const w = await audit.startAuditWorker(core.path, core.sha256, { dataDir: dir, origin: "bench.local/ledger", checkpointEveryRecords: 1000, checkpointEveryMs: 5000 });
  const mine = [...threads("self").entries()].filter(([tid, t]) => !before.has(tid) && t.name === "Worker").map(([tid]) => tid);
  const pool = Array.from({ length: 1000 }, (_, i) => record(i, streamed));
  const drained = async () => {
    while (w.status().queued > 0) await Bun.sleep(5);
    await Bun.sleep(60); // the worker's deferred status (≤ 50 ms) included
  };
  for (let i = 0; i < 4000; i++) w.handOff(pool[i % 1000]); // warm-up: JIT, buffers
  await drained();
  const t0 = threads("self");
  const size0 = w.status().size;
  const start = performance.now();
  let sent = 0;
  while (performance.now() - start < DURATION * 1000) {
    const due = Math.floor(((performance.now() - start) / 1000) * rate);
    while (sent < due) w.handOff(pool[sent++ % 1000]);
    await Bun.sleep(1);
  }
  await drained();
  const t1 = threads("self");
  const n = w.status().size - size0;
  let ns = 0;
  for (const tid of mine) ns += (t1.get(tid)?.ns ?? 0) - (t0.get(tid)?.ns ?? 0);
  await w.stop();
  core.close();
  rmSync(dir, { recursive: true, force: true });
  return ns / n / 1000;
}

// ------------------------------------------------------------------------------------------------
// Mode: wrk
// ------------------------------------------------------------------------------------------------

/** The first match of `re` in a child's output; the rest of the output is read and dropped (a full pipe would stall the child). */
async function firstLine(stream: ReadableStream<Uint8Array>, re: RegExp): Promise<RegExpExecArray> {
  const reader = stream.getReader();
  let text = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    text += new TextDecoder().decode(value);
    const m = re.exec(text);
    if (m) {
      void (async () => {
        while (!(await reader.read().catch(() => ({ done: true }))).done);
      })();
      return m;
    }
  }
  throw new Error(`no line matching ${re} in:\n${text}`);
}

async function wrkMode(bins: string[]): Promise<string> {
  const mock = Bun.spawn([process.execPath, join(ROOT, "bench/mock-upstream.ts"), "--port", "0"], { stdout: "pipe", stderr: "inherit" });
  const mockUrl = (await firstLine(mock.stdout, /listening on (\S+)/))[1]!;
  const servers: { bin: string; url: string; proc: Bun.Subprocess; dir: string }[] = [];
  try {
    for (const bin of bins) {
      const dir = mkdtempSync(join(tmpdir(), "warden-bench-wrk-"));
      const proc = Bun.spawn([bin, "serve"], {
        cwd: dir,
        env: { PATH: "/usr/bin:/bin", WARDEN_PORT: "0", WARDEN_UPSTREAM_MOCK_URL: mockUrl, WARDEN_UPSTREAM_MOCK_MODELS: "mock-gpt" },
        stdout: "ignore",
        stderr: "pipe",
      });
      const url = (await firstLine(proc.stderr as ReadableStream<Uint8Array>, /"msg":"listening","url":"([^"]+)"/))[1]!;
      servers.push({ bin, url, proc, dir });
    }
    const wrk = async (url: string, seconds: number) => {
      const p = Bun.spawn(["wrk", "-t2", "-c32", `-d${seconds}s`, "--timeout", "5s", "-s", join(ROOT, "bench/wrk-chat.lua"), `${url}/v1/chat/completions`], { stdout: "pipe", stderr: "pipe" });
      const text = await new Response(p.stdout).text();
      await p.exited;
      const m = /WRK_JSON (\{.*\})/.exec(text);
      if (!m) throw new Error(`wrk printed no result:\n${text}`);
      return JSON.parse(m[1]!) as { requests: number; rps: number; errors: Record<string, number> };
    };
    for (const s of servers) await wrk(s.url, 3); // warm-up: JIT, buffers
    const results = new Map<string, { rps: number[]; worker: number[]; main: number[]; all: number[] }>();
    for (const s of servers) results.set(s.bin, { rps: [], worker: [], main: [], all: [] });
    for (let run = 0; run < RUNS; run++) {
      for (const s of run % 2 ? [...servers].reverse() : servers) {
        const pid = s.proc.pid;
        const t0 = threads(pid);
        const r = await wrk(s.url, DURATION);
        await Bun.sleep(100); // the last batch's append
        const t1 = threads(pid);
        const per = (pick: (name: string) => boolean) => {
          let ns = 0;
          for (const [tid, t] of t1) if (pick(t.name)) ns += t.ns - (t0.get(tid)?.ns ?? 0);
          return ns / r.requests / 1000;
        };
        const res = results.get(s.bin)!;
        res.rps.push(r.rps);
        res.worker.push(per((n) => n === "Worker"));
        res.main.push(per((n) => n === "warden"));
        res.all.push(per(() => true));
      }
    }
    const rows = servers.map((s) => {
      const r = results.get(s.bin)!;
      return [s.bin, spread(r.rps).replace(/\.\d\d/g, ""), spread(r.worker), spread(r.main), spread(r.all)];
    });
    return table(["binary", "req/s", "audit worker thread µs/req", "main thread µs/req", "whole process µs/req"], rows);
  } finally {
    for (const s of servers) {
      s.proc.kill();
      await s.proc.exited;
      rmSync(s.dir, { recursive: true, force: true });
    }
    mock.kill();
    await mock.exited;
  }
}

// ------------------------------------------------------------------------------------------------

const out: Record<string, unknown> = { mode: MODE, src: SRC, runs: RUNS, batch: BATCH };
if (MODE === "stages") {
  const status = await statusMessageCost();
  const cp = await checkpointCost();
  for (const streamed of [false, true]) {
    const { stages: st, total } = await stages(streamed);
    out[streamed ? "sse" : "json"] = { stages: st, total };
    const rows = st.map((s) => [s.name, spread(s.perRecord)]);
    rows.push(["**append total** (one group of " + BATCH + ")", `**${spread(total)}**`]);
    console.log(`\n### ${streamed ? "Streamed reply (40-token SSE, 11.4 KB in 44 chunks)" : "JSON reply (16 tokens, 452 B; request 95 B)"}: µs per record, median of ${RUNS} runs (min–max)\n`);
    console.log(table(["stage", "µs / record"], rows));
  }
  out.statusMessageUs = median(status);
  out.checkpointUs = median(cp);
  console.log(`\nOne status message (worker → gateway): ${f2(median(status))} µs of the worker's CPU (p10–p90 ${f2(status.sort((a, b) => a - b)[Math.floor(status.length * 0.1)]!)}–${f2(status[Math.floor(status.length * 0.9)]!)}).`);
  console.log(`One checkpoint (sign, append + fsync the log, sync the MMR): ${f2(median(cp))} µs (${f2(Math.min(...cp))}–${f2(Math.max(...cp))}); every 1000 records under load: ${f2(median(cp) / 1000)} µs per record.`);
} else if (MODE === "worker") {
  const rows: string[][] = [];
  for (const [streamed, rate] of [[false, 5000], [false, 10000], [true, 2000]] as const) {
    const xs: number[] = [];
    for (let run = 0; run < RUNS; run++) xs.push(await workerRun(streamed, rate));
    rows.push([streamed ? "40-token SSE" : "16-token JSON", String(rate), spread(xs)]);
    out[`${streamed ? "sse" : "json"}@${rate}`] = xs;
  }
  console.log(`\nAudit worker thread CPU per record, ${DURATION} s at a fixed rate, median of ${RUNS} runs (min–max); src ${SRC}\n`);
  console.log(table(["record", "hand-offs/s", "worker µs / record"], rows));
} else if (MODE === "handoff") {
  const { HandOffWriter } = await import(join(SRC, "audit/handoff.ts"));
  const rows: string[][] = [];
  for (const streamed of [false, true]) {
    const pool = Array.from({ length: 1000 }, (_, i) => record(i, streamed));
    const xs: number[] = [];
    for (let run = 0; run < RUNS; run++) {
      const w = new HandOffWriter();
      const per: number[] = [];
      for (let it = 0; it < 1500; it++) {
        const a = threadNs();
        for (let i = 0; i < 100; i++) w.write(pool[(it * 100 + i) % 1000]);
        w.take();
        if (it >= 300) per.push((threadNs() - a) / 100 / 1000);
      }
      xs.push(median(per));
    }
    rows.push([streamed ? "40-token SSE (44 chunks)" : "16-token JSON", spread(xs)]);
    out[streamed ? "sse" : "json"] = xs;
  }
  console.log(`\nHand-off packing on the gateway's thread: write() × 100 + take(), µs per record, median of ${RUNS} runs (min–max); src ${SRC}\n`);
  console.log(table(["record", "µs / record"], rows));
} else if (MODE === "wrk") {
  const bins = arg("--bin", join(ROOT, "dist/warden")).split(",");
  const t = await wrkMode(bins);
  console.log(`\nwrk -t2 -c32 -d${DURATION}s, 16-token replies from one mock upstream, ${RUNS} interleaved runs per binary after a 3 s warm-up; median (min–max)\n`);
  console.log(t);
  out.table = t;
}
if (JSON_OUT) console.log(`AUDIT_WORKER_JSON ${JSON.stringify(out)}`);
