// Child processes for the benchmark scripts (routing.ts, cluster.ts): each server in its own
// process group (setsid) under a raised open-files limit, every group killed on exit, on error
// and on Ctrl-C, so a failed run never leaves a mock, a Warden or an HAProxy behind.
import { spawn, type Subprocess } from "bun";
import { readFileSync, rmSync } from "node:fs";

/** Every child still running; killed by killAllSync. */
export const children = new Set<Subprocess>();

export function killGroup(p: Subprocess, sig: NodeJS.Signals): void {
  try { process.kill(-p.pid, sig); } catch {}
  try { p.kill(sig); } catch {}
}

export function exited(p: Subprocess): boolean {
  return p.exitCode !== null || p.signalCode !== null;
}

export function killAllSync(): void {
  // SIGKILL also ends a stopped (SIGSTOP) process; the group kill reaches anything it forked.
  for (const p of children) killGroup(p, "SIGKILL");
  children.clear();
}

/** SIGTERM (after SIGCONT, in case it was stopped), then SIGKILL for whatever is left in its group. */
export async function stopProc(p: Subprocess, graceMs = 3000): Promise<void> {
  if (!exited(p)) {
    killGroup(p, "SIGCONT");
    killGroup(p, "SIGTERM");
    await Promise.race([p.exited, Bun.sleep(graceMs)]);
  }
  killGroup(p, "SIGKILL");
  await Promise.race([p.exited, Bun.sleep(1000)]);
  children.delete(p);
}

/** True once a signal asked the script to stop (a live binding: loops can poll it). */
export let interrupted = false;

/**
 * Kills every child when the script exits, and on SIGINT/SIGTERM/SIGHUP runs `cleanup` (removing
 * the work directory, say) and exits 130.
 */
export function killChildrenOnExit(script: string, cleanup: () => void): void {
  process.on("exit", killAllSync);
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.on(sig, () => {
      if (interrupted) return;
      interrupted = true;
      console.error(`\n${script}: ${sig}: stopping all child processes`);
      killAllSync();
      cleanup();
      process.exit(130);
    });
  }
}

/** rm -rf, for cleanup callbacks. */
export function removeDir(dir: string): void {
  if (dir) rmSync(dir, { recursive: true, force: true });
}

/** argv run in a new session (own process group), under a shell that raises the open-files limit, then execs. */
export function wrapped(cmd: string[], nofile: number): string[] {
  return ["setsid", "/bin/sh", "-c", `ulimit -n ${nofile} 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$@"`, "sh", ...cmd];
}

/** A clean environment: nothing like BUN_OPTIONS or stray WARDEN_* variables leaks into children. */
export function baseEnv(extra: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = { PATH: process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin", HOME: process.env.HOME ?? "/tmp" };
  if (process.env.TMPDIR) env.TMPDIR = process.env.TMPDIR;
  return { ...env, ...extra };
}

/** The last lines of a log file, for error messages. */
export function tail(path: string, lines = 30): string {
  try {
    return readFileSync(path, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

export async function freePort(host: string): Promise<number> {
  const l = Bun.listen({ hostname: host, port: 0, socket: { data() {} } });
  const port = l.port;
  l.stop(true);
  return port;
}

/** Runs a command to its end (bounded by timeoutMs), with its output and CPU time. `spawned` sees its pid. */
export async function run(
  cmd: string[],
  opt: { env?: Record<string, string>; timeoutMs: number; cwd: string; spawned?: (pid: number) => void },
): Promise<{ code: number | null; stdout: string; stderr: string; cpuS: number }> {
  const proc = spawn({ cmd, env: opt.env ?? baseEnv({}), cwd: opt.cwd, stdin: "ignore", stdout: "pipe", stderr: "pipe", timeout: opt.timeoutMs, killSignal: "SIGKILL" });
  children.add(proc);
  opt.spawned?.(proc.pid);
  try {
    const [stdout, stderr] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
    const code = await proc.exited;
    const cpu = proc.resourceUsage()?.cpuTime.total;
    return { code, stdout, stderr, cpuS: cpu === undefined ? NaN : Number(cpu) / 1e6 };
  } finally {
    children.delete(proc);
  }
}
