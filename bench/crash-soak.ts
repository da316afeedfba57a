/**
 * kill -9 soak: starts the compiled binary in strict audit mode under load, kills it with
 * SIGKILL at a random moment, restarts it on the same state directory, N times; then checks
 * that every request a client saw answered 200 is in the ledger and that `warden verify` passes.
 * (The e2e suite runs the same loop 50 times; this script is for long runs, e.g. --cycles 1000.)
 *
 * Run: ./node_modules/.bin/bun bench/crash-soak.ts [--cycles 1000] [--out PATH]
 */
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startMockUpstream } from "./mock-upstream";

const ROOT = join(import.meta.dir, "..");
const args = process.argv.slice(2);
const cycles = Number(args[args.indexOf("--cycles") + 1] || 1000) || 1000;
const out = args.includes("--out") ? args[args.indexOf("--out") + 1] : join(ROOT, "bench/results", `${new Date().toISOString().slice(0, 10)}-crash-soak.md`);
const KEY = "soak-master-key-0123456789abcdef";
const auth = { authorization: `Bearer ${KEY}` };

const dir = mkdtempSync(join(tmpdir(), "warden-soak-"));
const bin = join(dir, "warden");
copyFileSync(join(ROOT, "dist/warden"), bin);
Bun.spawnSync(["chmod", "755", bin]);
const mock = await startMockUpstream({ port: 0, record: false });
const env = { PATH: "/usr/bin:/bin", WARDEN_PORT: "0", WARDEN_MASTER_KEY: KEY, WARDEN_UPSTREAM_MOCK_URL: mock.url, WARDEN_UPSTREAM_MOCK_MODELS: "mock-gpt", WARDEN_CHECKPOINT_INTERVAL_MS: "200" };

async function start(mode: string) {
  const proc = Bun.spawn([bin, "serve"], { cwd: dir, env: { ...env, WARDEN_AUDIT_MODE: mode }, stdout: "ignore", stderr: "pipe" });
  let log = "";
  for await (const chunk of proc.stderr) {
    log += new TextDecoder().decode(chunk);
    const m = /"msg":"listening","url":"([^"]+)"/.exec(log);
    if (m) return { proc, url: m[1], log: () => log };
  }
  throw new Error(`start failed (exit ${await proc.exited}):\n${log}`);
}

const acknowledged = new Set<string>();
let failedStarts = 0;
const started = performance.now();
const startTimes: number[] = [];
try {
  for (let cycle = 1; cycle <= cycles; cycle++) {
    const t = performance.now();
    const w = await start("strict").catch((e) => {
      failedStarts++;
      throw e;
    });
    startTimes.push(performance.now() - t);
    let stop = false;
    const load = Array.from({ length: 8 }, async () => {
      while (!stop) {
        try {
          const res = await fetch(`${w.url}/v1/chat/completions`, { method: "POST", headers: { ...auth, "content-type": "application/json" }, body: '{"model":"mock-gpt","messages":[{"role":"user","content":"x"}],"mock":{"tokens":4}}' });
          const id = res.headers.get("x-request-id");
          await res.text();
          if (res.status === 200 && id) acknowledged.add(id);
        } catch {}
      }
    });
    await Bun.sleep(20 + Math.floor(Math.random() * 200));
    w.proc.kill("SIGKILL");
    await w.proc.exited;
    stop = true;
    await Promise.all(load);
    if (cycle % 50 === 0) console.log(`cycle ${cycle}/${cycles}: ${acknowledged.size} acknowledged so far`);
  }
  const verify = Bun.spawnSync([bin, "verify", "--data-dir", join(dir, "warden-data")], { cwd: dir, env });
  const total = Number(/ledger OK: (\d+) records/.exec(verify.stdout.toString())?.[1] ?? 0);
  const w = await start("async");
  const ids = new Set<string>();
  for (let seq = 0; seq < total; seq++) ids.add(JSON.parse(await (await fetch(`${w.url}/v1/audit/records/${seq}`, { headers: auth })).text()).request_id);
  w.proc.kill("SIGTERM");
  await w.proc.exited;
  const missing = [...acknowledged].filter((id) => !ids.has(id));
  startTimes.sort((a, b) => a - b);
  const report = `# kill -9 soak

Command: \`./node_modules/.bin/bun bench/crash-soak.ts --cycles ${cycles}\`

Date: ${new Date().toISOString()} · Bun ${Bun.version} · ${((performance.now() - started) / 1000).toFixed(0)} s

| measure | value |
| --- | --- |
| kill -9 cycles (strict mode, 8 clients, killed 20-220 ms after start) | ${cycles} |
| restarts that failed | ${failedStarts} |
| start to listening, p50 / max | ${startTimes[Math.floor(startTimes.length / 2)].toFixed(0)} ms / ${startTimes.at(-1)!.toFixed(0)} ms |
| requests acknowledged (200) to clients | ${acknowledged.size} |
| ledger records (all, as \`warden verify\` counts them) | ${total} |
| acknowledged requests missing from the ledger | ${missing.length} |
| \`warden verify\` | exit ${verify.exitCode}: ${verify.stdout.toString().trim() || verify.stderr.toString().trim()} |
`;
  writeFileSync(out, report);
  console.log(report);
  if (missing.length > 0 || verify.exitCode !== 0) process.exitCode = 1;
} finally {
  await mock.stop();
  rmSync(dir, { recursive: true, force: true });
}
