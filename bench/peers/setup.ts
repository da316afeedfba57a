// Installs the gateways Warden is compared with (issue #7) from the package registries this
// machine reaches, into a directory outside the git tree: $WARDEN_PEERS_DIR, default
// ~/.cache/warden-peers. None of their code is ever committed.
//
//   ./node_modules/.bin/bun bench/peers/setup.ts [--force] [--only portkey,litellm,bifrost]
//
// - Portkey's gateway: npm @portkey-ai/gateway (run later as `node build/start-server.js --headless`).
// - LiteLLM's proxy: PyPI litellm[proxy] in a venv (run later with one worker, no database).
// - Bifrost: the Go module github.com/maximhq/bifrost/transports (its HTTP server, bifrost-http),
//   built from the module cache when the Go module proxy serves it.
//
// Idempotent: a peer already installed at the pinned version is left alone (--force reinstalls).
// A peer that cannot be installed is recorded with the exact command and error in
// <dir>/status.json, which bench/peers/run.ts puts into its report: never silently dropped.
// Exit code 0 when every peer asked for was tried (installed or not), 1 only on a bug.
import { spawn } from "bun";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";

export const PEERS_DIR = process.env.WARDEN_PEERS_DIR || join(homedir(), ".cache", "warden-peers");

// Pinned versions: a benchmark compares fixed things. Why each one:
/** Newest @portkey-ai/gateway on npm when this was written. */
export const PORTKEY_VERSION = "1.15.2";
/**
 * @portkey-ai/gateway asks for @hono/node-server ^1.3.3, so npm installs the newest 1.x (1.19.x):
 * with it (and with 1.14.x) every *streamed* chat completion fails with `{"status":"failure",
 * "message":"Something went wrong"}` and "TypeError: immutable" in Portkey's log — Portkey
 * appends headers to the upstream fetch Response, whose headers are immutable (Portkey issues
 * #1389 and #1550). 1.13.8 copies the headers and streams work, so it is pinned via npm overrides.
 */
export const PORTKEY_HONO_NODE_SERVER = "1.13.8";
/**
 * litellm 1.109.1 (newest on PyPI) requires certifi>=2026.10.19, which PyPI here does not serve
 * (newest 2026.10.18); an unpinned `pip install 'litellm[proxy]'` backtracks to 1.106.2.
 */
export const LITELLM_VERSION = "1.106.2";
/**
 * Bifrost's HTTP transport module. The Go module proxy lists no version of it and answered
 * "403 Forbidden: This module version is not available." for v1.6.11 and v1.5.2 (both real tags).
 */
export const BIFROST_MODULE = "github.com/maximhq/bifrost/transports";
export const BIFROST_VERSION = "v1.6.11";

export type PeerName = "portkey" | "litellm" | "bifrost";
export const PEER_NAMES: PeerName[] = ["portkey", "litellm", "bifrost"];

export interface PeerStatus {
  name: PeerName;
  installed: boolean;
  /** The peer's own version, as installed. */
  version?: string;
  /** Other versions that matter (runtime, pinned dependencies). */
  details: Record<string, string>;
  /** The commands run, in order, as a shell would show them. */
  commands: string[];
  /** Why it is not installed: the failing command and its output. */
  error?: string;
  notes: string[];
  at: string;
}

interface Ran { code: number | null; out: string }

async function sh(cmd: string[], cwd: string, env: Record<string, string> = {}, timeoutMs = 900_000): Promise<Ran> {
  const p = spawn({ cmd, cwd, env: { ...process.env, ...env } as Record<string, string>, stdin: "ignore", stdout: "pipe", stderr: "pipe", timeout: timeoutMs, killSignal: "SIGKILL" });
  const [o, e] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text()]);
  const code = await p.exited;
  return { code, out: (o + (o && e ? "\n" : "") + e).trim() };
}

const quote = (a: string) => (/^[\w./=:@,+-]+$/.test(a) ? a : `'${a.replace(/'/g, "'\\''")}'`);
const show = (cmd: string[], env: Record<string, string> = {}) => [...Object.entries(env).map(([k, v]) => `${k}=${quote(v)}`), ...cmd.map(quote)].join(" ");

/** Last lines of a command's output, enough to see why it failed. */
const tailOf = (s: string, lines = 15) => s.split("\n").filter((l) => l.trim()).slice(-lines).join("\n");

function status(name: PeerName): PeerStatus {
  return { name, installed: false, details: {}, commands: [], notes: [], at: new Date().toISOString() };
}

async function step(st: PeerStatus, cmd: string[], cwd: string, env: Record<string, string> = {}, timeoutMs?: number): Promise<Ran | undefined> {
  st.commands.push(`(cd ${cwd} && ${show(cmd, env)})`);
  let r: Ran;
  try {
    r = await sh(cmd, cwd, env, timeoutMs);
  } catch (e) {
    st.error = `\`${show(cmd, env)}\` could not start: ${(e as Error).message}`;
    return undefined;
  }
  if (r.code !== 0) {
    st.error = `\`${show(cmd, env)}\` exited ${r.code}:\n${tailOf(r.out)}`;
    return undefined;
  }
  return r;
}

// ---------------------------------------------------------------------------------------------

export const portkeyDir = () => join(PEERS_DIR, "portkey");
export const portkeyEntry = () => join(portkeyDir(), "node_modules", "@portkey-ai", "gateway", "build", "start-server.js");

function jsonVersion(path: string): string | undefined {
  try {
    return JSON.parse(readFileSync(path, "utf8")).version;
  } catch {
    return undefined;
  }
}

async function setupPortkey(force: boolean): Promise<PeerStatus> {
  const st = status("portkey");
  const dir = portkeyDir();
  const pkgVersion = () => jsonVersion(join(dir, "node_modules", "@portkey-ai", "gateway", "package.json"));
  const honoVersion = () => jsonVersion(join(dir, "node_modules", "@hono", "node-server", "package.json"));
  const node = await sh(["node", "--version"], "/").catch(() => ({ code: 127, out: "node: not found" }) as Ran);
  if (node.code !== 0) {
    st.error = `Node.js is needed to run Portkey's gateway (it is a Node program): \`node --version\` failed: ${node.out}`;
    return st;
  }
  st.details.node = node.out.trim();
  if (force || pkgVersion() !== PORTKEY_VERSION || honoVersion() !== PORTKEY_HONO_NODE_SERVER || !existsSync(portkeyEntry())) {
    if (force) rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      join(dir, "package.json"),
      JSON.stringify({
        name: "warden-peer-portkey",
        private: true,
        description: "Portkey's gateway for bench/peers/run.ts (installed by bench/peers/setup.ts)",
        dependencies: { "@portkey-ai/gateway": PORTKEY_VERSION },
        overrides: { "@hono/node-server": PORTKEY_HONO_NODE_SERVER },
      }, null, 2) + "\n",
    );
    st.commands.push(`write ${join(dir, "package.json")}: dependencies @portkey-ai/gateway ${PORTKEY_VERSION}, overrides @hono/node-server ${PORTKEY_HONO_NODE_SERVER}`);
    if (!(await step(st, ["npm", "install", "--no-audit", "--no-fund", "--loglevel=error"], dir))) return st;
  } else {
    st.notes.push("already installed at the pinned version (nothing run; --force reinstalls)");
  }
  if (!existsSync(portkeyEntry())) {
    st.error = `npm install succeeded but ${portkeyEntry()} is missing`;
    return st;
  }
  st.installed = true;
  st.version = pkgVersion();
  st.details["@hono/node-server"] = `${honoVersion()} (pinned; the default ^1.3.3 resolves to 1.19.x, with which streamed chat completions fail: "TypeError: immutable", Portkey issues #1389/#1550)`;
  st.details.hono = jsonVersion(join(dir, "node_modules", "hono", "package.json")) ?? "?";
  st.notes.push("npm skips its postinstall (`patch-package`; the published package ships no patches/ directory)");
  return st;
}

// ---------------------------------------------------------------------------------------------

export const litellmDir = () => join(PEERS_DIR, "litellm");
export const litellmBin = () => join(litellmDir(), "venv", "bin", "litellm");
const litellmPython = () => join(litellmDir(), "venv", "bin", "python");

async function pyVersion(pkg: string): Promise<string | undefined> {
  if (!existsSync(litellmPython())) return undefined;
  const r = await sh([litellmPython(), "-c", `import importlib.metadata as m; print(m.version(${JSON.stringify(pkg)}))`], "/");
  return r.code === 0 ? r.out.trim() : undefined;
}

async function setupLitellm(force: boolean): Promise<PeerStatus> {
  const st = status("litellm");
  const dir = litellmDir();
  if (force || (await pyVersion("litellm")) !== LITELLM_VERSION || !existsSync(litellmBin())) {
    if (force) rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    if (!existsSync(litellmPython()) && !(await step(st, ["python3", "-m", "venv", "venv"], dir))) return st;
    if (!(await step(st, [join(dir, "venv", "bin", "pip"), "install", "--disable-pip-version-check", "--quiet", `litellm[proxy]==${LITELLM_VERSION}`], dir))) return st;
  } else {
    st.notes.push("already installed at the pinned version (nothing run; --force reinstalls)");
  }
  if (!existsSync(litellmBin())) {
    st.error = `pip install succeeded but ${litellmBin()} is missing`;
    return st;
  }
  st.installed = true;
  st.version = await pyVersion("litellm");
  const py = await sh([litellmPython(), "--version"], "/");
  st.details.python = py.out.trim();
  for (const p of ["uvicorn", "fastapi", "httpx", "aiohttp", "openai", "uvloop"]) {
    const v = await pyVersion(p);
    if (v) st.details[p] = v;
  }
  st.notes.push(`litellm ${LITELLM_VERSION} is pinned: the newest (1.109.1) needs certifi>=2026.10.19, which PyPI here does not serve`);
  return st;
}

// ---------------------------------------------------------------------------------------------

export const bifrostDir = () => join(PEERS_DIR, "bifrost");
export const bifrostBin = () => join(PEERS_DIR, "bin", "bifrost-http");

async function setupBifrost(force: boolean): Promise<PeerStatus> {
  const st = status("bifrost");
  const dir = bifrostDir();
  const go = await sh(["go", "version"], "/").catch(() => ({ code: 127, out: "go: not found" }) as Ran);
  if (go.code !== 0) {
    st.error = `Go is needed to build Bifrost: \`go version\` failed: ${go.out}`;
    return st;
  }
  st.details.go = go.out.trim();
  st.notes.push(
    "npm's @maximhq/bifrost is only a launcher that downloads a prebuilt binary from downloads.getmaxim.ai at run time (not a package registry, unreachable here), so it is not tried",
  );
  if (!force && existsSync(bifrostBin())) {
    st.installed = true;
    st.version = BIFROST_VERSION;
    st.notes.push("already built (nothing run; --force rebuilds)");
    return st;
  }
  mkdirSync(dir, { recursive: true });
  // The proxy lists no version (`go list -m -versions` → 403), so an exact tag is asked for.
  const env = { GOFLAGS: "-mod=mod", GOTOOLCHAIN: "local" };
  const dlCmd = ["go", "mod", "download", "-json", `${BIFROST_MODULE}@${BIFROST_VERSION}`];
  st.commands.push(`(cd ${dir} && ${show(dlCmd, env)})`);
  const dl = await sh(dlCmd, dir, env);
  let goError: string | undefined;
  try {
    goError = JSON.parse(dl.out).Error; // -json reports a refused module as {"Error": ...}
  } catch {}
  if (dl.code !== 0 || goError) {
    st.error = `\`${show(dlCmd, env)}\` exited ${dl.code}: ${goError ?? tailOf(dl.out)}`;
    return st;
  }
  // Served: build bifrost-http inside a throwaway module that requires it. (Never reached on the
  // machine this was written on: the module proxy refused every version.)
  if (!existsSync(join(dir, "go.mod")) && !(await step(st, ["go", "mod", "init", "warden-peer-bifrost"], dir, env))) return st;
  if (!(await step(st, ["go", "get", `${BIFROST_MODULE}/bifrost-http@${BIFROST_VERSION}`], dir, env))) return st;
  mkdirSync(join(PEERS_DIR, "bin"), { recursive: true });
  if (!(await step(st, ["go", "build", "-o", bifrostBin(), `${BIFROST_MODULE}/bifrost-http`], dir, env, 1_800_000))) return st;
  st.installed = true;
  st.version = BIFROST_VERSION;
  return st;
}

// ---------------------------------------------------------------------------------------------

export const statusFile = () => join(PEERS_DIR, "status.json");

export function readStatus(): PeerStatus[] | undefined {
  try {
    return JSON.parse(readFileSync(statusFile(), "utf8"));
  } catch {
    return undefined;
  }
}

/** Installs (or checks) the peers asked for, writes status.json, and returns every peer's status. */
export async function setupPeers(o: { force?: boolean; only?: PeerName[]; log?: (s: string) => void } = {}): Promise<PeerStatus[]> {
  const log = o.log ?? ((s: string) => console.log(s));
  mkdirSync(PEERS_DIR, { recursive: true });
  const previous = new Map((readStatus() ?? []).map((s) => [s.name, s]));
  const out: PeerStatus[] = [];
  for (const name of PEER_NAMES) {
    if (o.only && !o.only.includes(name)) {
      const prev = previous.get(name);
      if (prev) out.push(prev);
      continue;
    }
    log(`peers: ${name} ...`);
    const t0 = performance.now();
    const st = name === "portkey" ? await setupPortkey(!!o.force) : name === "litellm" ? await setupLitellm(!!o.force) : await setupBifrost(!!o.force);
    const secs = ((performance.now() - t0) / 1000).toFixed(1);
    log(st.installed ? `peers: ${name} ${st.version} ready (${secs} s)` : `peers: ${name} NOT installed (${secs} s): ${st.error}`);
    out.push(st);
  }
  writeFileSync(statusFile(), JSON.stringify(out, null, 2) + "\n");
  return out;
}

if (import.meta.main) {
  const argv = process.argv.slice(2);
  let force = false;
  let only: PeerName[] | undefined;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--force") force = true;
    else if (argv[i] === "--only") {
      only = (argv[++i] ?? "").split(",").filter(Boolean) as PeerName[];
      const bad = only.filter((n) => !PEER_NAMES.includes(n));
      if (bad.length || only.length === 0) {
        console.error(`bench/peers/setup.ts: --only takes a comma-separated list of ${PEER_NAMES.join(", ")}`);
        process.exit(2);
      }
    } else {
      console.error("usage: bun bench/peers/setup.ts [--force] [--only portkey,litellm,bifrost]");
      process.exit(2);
    }
  }
  console.log(`installing peers into ${PEERS_DIR} (outside the git tree; set WARDEN_PEERS_DIR to move it)`);
  const res = await setupPeers({ force, only });
  console.log(`\nwrote ${statusFile()}`);
  for (const s of res) console.log(`- ${s.name}: ${s.installed ? `installed ${s.version}` : `NOT installed: ${s.error}`}`);
}
