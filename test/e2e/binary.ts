/**
 * Drives the compiled `dist/warden` the way users run it: copied alone into an empty temporary
 * directory, started from there with a minimal environment (no Bun on PATH, no node_modules).
 */
import { copyFileSync, existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const root = resolve(import.meta.dir, "../..");
const built = join(root, "dist/warden");

/** Builds the binary once per test run if it is not there (the npm test script builds first). */
export function ensureBinary(): string {
  if (!existsSync(built)) {
    const r = Bun.spawnSync([process.execPath, join(root, "build.ts")], { stdout: "inherit", stderr: "inherit" });
    if (r.exitCode !== 0) throw new Error("build.ts failed");
  }
  return built;
}

/** A fresh empty directory holding only a copy of the binary (or `reuse`, already set up). */
export function installInTempDir(reuse?: string): { dir: string; bin: string; cleanup: () => void } {
  const dir = reuse ?? mkdtempSync(join(tmpdir(), "warden-e2e-"));
  const bin = join(dir, "warden");
  if (!existsSync(bin)) {
    copyFileSync(ensureBinary(), bin);
    Bun.spawnSync(["chmod", "755", bin]);
  }
  return { dir, bin, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** No Bun, no node_modules, no inherited WARDEN_* or BUN_* variables. */
export function cleanEnv(extra: Record<string, string> = {}): Record<string, string> {
  return { PATH: "/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin", HOME: tmpdir(), LANG: "C.UTF-8", ...extra };
}

export interface Running {
  url: string;
  dir: string;
  proc: Bun.Subprocess<"ignore", "pipe", "pipe">;
  /** Everything written to stderr so far. */
  log(): string;
  /** SIGTERM, wait, and remove the directory (unless `keep`). */
  stop(keep?: boolean): Promise<number>;
  /** SIGKILL: no chance to flush or checkpoint. The directory stays. */
  kill9(): Promise<void>;
}

/** Runs a one-shot command of the binary (version, help, bad config...), in `dir` if given. */
export async function runOnce(args: string[], env: Record<string, string> = {}, timeoutMs = 15_000, reuse?: string) {
  const { dir, bin, cleanup } = installInTempDir(reuse);
  try {
    const proc = Bun.spawn([bin, ...args], { cwd: dir, env: cleanEnv(env), stdout: "pipe", stderr: "pipe", timeout: timeoutMs });
    const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    return { stdout, stderr, code, dir };
  } finally {
    if (reuse === undefined) cleanup();
  }
}

/** Starts `warden serve` on a free port and waits for its "listening" log line. */
export async function startWarden(env: Record<string, string>, args: string[] = [], reuse?: string): Promise<Running> {
  const { dir, bin, cleanup } = installInTempDir(reuse);
  const proc = Bun.spawn([bin, "serve", ...args], {
    cwd: dir,
    env: cleanEnv({ WARDEN_PORT: "0", ...env }),
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  let stderr = "";
  const decoder = new TextDecoder();
  const url = await new Promise<string>((resolveUrl, reject) => {
    const timer = setTimeout(() => reject(new Error(`warden did not start in 15 s:\n${stderr}`)), 15_000);
    (async () => {
      for await (const chunk of proc.stderr) {
        stderr += decoder.decode(chunk);
        const m = /"msg":"listening","url":"([^"]+)"/.exec(stderr);
        if (m) {
          clearTimeout(timer);
          resolveUrl(m[1]);
        }
      }
      clearTimeout(timer);
      reject(new Error(`warden exited (${await proc.exited}) before listening:\n${stderr}`));
    })().catch(() => {});
  });
  return {
    url,
    dir,
    proc,
    log: () => stderr,
    async stop(keep = false) {
      proc.kill("SIGTERM");
      const code = await proc.exited;
      if (!keep) cleanup();
      return code;
    },
    async kill9() {
      proc.kill("SIGKILL");
      await proc.exited;
    },
  };
}
