#!/usr/bin/env bun
/**
 * The `warden` command line: serve | version | verify | keys | tenants | help.
 *
 * Exit codes: 0 ok, 1 runtime failure (port taken, core library unusable), 2 bad usage or config.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError, loadConfig, loadEnv, type Config } from "./config";

import { loadCore } from "./native";
import { startAuditWorker } from "./audit";
import { parseSignerKey, verifierKeyOf } from "./audit/note";
import { verifyLedger } from "./audit/verify";
import { createGateway, listen } from "./app";
import { createRateLimiter, type RateLimiter, type RedisLimiter } from "./ratelimit";
import { createMetrics } from "./metrics";
import { createBudgetBook, createRedisBudgetStore, type BudgetStore } from "./budget";
import { KEYS_DB, KeyStoreError, openKeyStore, startKeySync, type KeyStore, type KeySync } from "./keys";
import { KEYS_USAGE, runKeysCli } from "./keys/cli";
import { log, setLogLevel } from "./log";
import { WARDEN_VERSION } from "./version";
import { startMockUpstream } from "../bench/mock-upstream";

/** The bundled mock model server as the one upstream, for a gateway started with none configured. */
function mockUpstreamEnv(url: string): Record<string, string> {
  return { WARDEN_UPSTREAM_MOCK_URL: url, WARDEN_UPSTREAM_MOCK_MODELS: "mock-gpt,mock-embed" };
}

/**
 * Bun's fetch runs at most 256 requests at once and silently queues the rest, which stalls
 * thousands of concurrent streams. The limit is read from the environment at process start
 * (setting process.env later has no effect, measured), so `serve` re-executes itself once
 * with it set; execve keeps the PID, which systemd relies on.
 */
function ensureFetchConcurrency(): void {
  if (process.env.BUN_CONFIG_MAX_HTTP_REQUESTS !== undefined) return;
  const compiled = Bun.main.startsWith("/$bunfs/");
  const argv = compiled ? [process.execPath, ...process.argv.slice(2)] : [process.execPath, Bun.main, ...process.argv.slice(2)];
  process.execve!(process.execPath, argv, { ...process.env, BUN_CONFIG_MAX_HTTP_REQUESTS: "65336" });
}

const CONFIG_NOTE = `Configuration comes from the environment and an env file; see deploy/warden.env.example.
Without --env-file, the first of $WARDEN_ENV_FILE, ./warden.env, /etc/warden/warden.env that exists is read.`;

/** Each command's lines of the usage text; `warden COMMAND --help` prints its own. */
const COMMAND_USAGE: Record<string, string> = {
  serve: `  serve [--env-file PATH]   run the gateway`,
  version: `  version                   print the Warden, Bun and core library versions (and the ledger's
                            verifier key when WARDEN_DATA_DIR holds a ledger)`,
  verify: `  verify --data-dir DIR [--data-dir DIR ...] [--key VERIFIER_KEY ...]
                            check ledgers offline (one per instance): every record, the Merkle
                            tree, every signed checkpoint and their consistency; exits 1 naming
                            the first bad record`,
  keys: KEYS_USAGE,
  tenants: KEYS_USAGE,
};

const USAGE = `usage: warden <command>

commands:
${COMMAND_USAGE.serve}
${COMMAND_USAGE.version}
${COMMAND_USAGE.verify}
${KEYS_USAGE}
  help                      this text

${CONFIG_NOTE}`;

/** `warden COMMAND --help` (or -h): that command's usage on stdout, exit 0. */
function commandHelp(command: string): string {
  const lines = COMMAND_USAGE[command].replace(/^  (serve|version|verify|keys|tenants)\b/gm, "  warden $1");
  return `usage:\n${lines}\n${command === "serve" ? `\n${CONFIG_NOTE}\n` : ""}`;
}

function fail(code: number, message: string): never {
  process.stderr.write(`warden: ${message}\n`);
  process.exit(code);
}

function parseServeArgs(args: string[]): { envFile: string | undefined } {
  let envFile: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === "--env-file") {
      envFile = args[++i];
      if (!envFile) fail(2, "--env-file needs a path");
    } else if (a.startsWith("--env-file=")) {
      envFile = a.slice("--env-file=".length);
    } else {
      fail(2, `unknown argument to serve: ${a}\n${USAGE}`);
    }
  }
  return { envFile };
}

function configOrExit(envFile: string | undefined): { config: Config; file: string | undefined; env: Record<string, string | undefined> } {
  try {
    const { env, file } = loadEnv(process.env, envFile);
    return { config: loadConfig(env), file, env };
  } catch (e) {
    if (e instanceof ConfigError) fail(2, `configuration error: ${e.message}`);
    throw e;
  }
}

async function version(): Promise<void> {
  // Use the configured state dir when there is one; otherwise a throw-away dir, so that
  // `warden version` never litters the working directory.
  const configured = process.env.WARDEN_DATA_DIR || process.env.STATE_DIRECTORY?.split(":")[0];
  const dir = configured || mkdtempSync(join(tmpdir(), "warden-version-"));
  try {
    const core = await loadCore(dir);
    console.log(`warden ${WARDEN_VERSION}\nbun ${Bun.version}\ncore ${core.version}`);
    core.close();
    // The key third parties verify checkpoints with (sumdb/note verifier key format).
    const keyFile = join(dir, "ledger", "signing.key");
    const signerKey = process.env.WARDEN_LEDGER_SIGNING_KEY || (configured && existsSync(keyFile) ? readFileSync(keyFile, "utf8").trim() : undefined);
    if (signerKey) console.log(`ledger-key ${verifierKeyOf(await parseSignerKey(signerKey))}`);
  } catch (e) {
    fail(1, `cannot load the core library: ${(e as Error).message}`);
  } finally {
    if (!configured) rmSync(dir, { recursive: true, force: true });
  }
}

/** What serve() has started so far, so a stop signal at any moment closes just that. */
interface Running {
  server?: ReturnType<typeof listen>;
  audit?: Awaited<ReturnType<typeof startAuditWorker>>;
  mock?: Awaited<ReturnType<typeof startMockUpstream>>;
  keys?: KeyStore;
  keySync?: KeySync;
  budget?: BudgetStore & { close(): void | Promise<void> };
  limiter?: RateLimiter;
  gateway?: ReturnType<typeof createGateway>;
  config?: Config;
  /** The env file named at start (--env-file), read again on SIGHUP. */
  envFile?: string;
}

/** A Redis URL fit for the log: its password (redis://:secret@host) replaced. */
function redactUrl(url: string): string {
  return url.replace(/\/\/([^@/]*)@/, (_, auth: string) => `//${auth.includes(":") ? `${auth.split(":")[0]}:***` : "***"}@`);
}

/**
 * Installed first thing: Bun installs signal handlers asynchronously, and a SIGTERM that
 * arrives before they are in place kills the process with the default action (exit 143),
 * which a test that stopped Warden right after start-up saw about one time in four.
 */
function handleStopSignals(running: Running): void {
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    const grace = running.config?.shutdownGraceMs ?? 0;
    log("info", "stopping", { signal, grace_ms: grace });
    const server = running.server;
    if (server) {
      // Stop accepting; in-flight requests (streams too) may finish within the grace period,
      // then the rest are cut. Either way their records reach the ledger before it closes.
      const drained = server.stop().then(() => true);
      if (!(await Promise.race([drained, Bun.sleep(grace).then(() => false)]))) {
        log("warn", "grace period over: closing the connections still open", { open: server.pendingRequests });
        await server.stop(true);
      }
    }
    await running.audit?.stop(); // flush, sign a final checkpoint, close the ledger
    await running.mock?.stop();
    await running.budget?.close(); // writes the spend settled since the last flush
    await running.keySync?.stop();
    running.keys?.close();
    running.limiter?.close();
    process.exit(0);
  };
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));
  process.on("SIGHUP", () => reload(running));
}

/**
 * SIGHUP: reads the environment and env file again and applies what can change without dropping
 * a connection (upstreams, models, WAF policy, deadlines, log level). Keys and tenants need no
 * signal: every request sees the key database's latest state. A bad new config is logged and
 * the running one kept, never half-applied.
 */
function reload(running: Running): void {
  const { gateway, config } = running;
  if (!gateway || !config) return log("warn", "SIGHUP before start-up finished: ignored");
  let next: Config;
  let file: string | undefined;
  try {
    const loaded = loadEnv(process.env, running.envFile);
    file = loaded.file;
    next = loadConfig(loaded.env);
    // With no upstream configured the bundled mock keeps serving, as at start.
    if (next.upstreams.length === 0 && running.mock) next = loadConfig({ ...loaded.env, ...mockUpstreamEnv(running.mock.url) });
  } catch (e) {
    return log("error", "reload failed: keeping the running configuration", { error: (e as Error).message });
  }
  const restartNeeded = gateway.reload(next);
  setLogLevel(config.logLevel);
  log("info", "reloaded", {
    env_file: file ?? null,
    upstreams: config.upstreams.map((u) => ({ name: u.name, url: u.url, models: u.models })),
    ...(restartNeeded.length ? { restart_needed: restartNeeded } : {}),
  });
}

async function serve(args: string[]): Promise<void> {
  const running: Running = {};
  handleStopSignals(running);
  const envFile = parseServeArgs(args).envFile;
  const { config, file, env } = configOrExit(envFile);
  running.config = config;
  running.envFile = envFile;
  setLogLevel(config.logLevel);
  log("info", "starting", { version: WARDEN_VERSION, bun: Bun.version, env_file: file ?? null, data_dir: config.dataDir });

  try {
    mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  } catch (e) {
    fail(2, `configuration error: WARDEN_DATA_DIR: cannot create ${config.dataDir}: ${(e as Error).message}`);
  }
  let core;
  try {
    core = await loadCore(config.dataDir);
  } catch (e) {
    fail(1, `cannot load the core library: ${(e as Error).message}`);
  }
  let keys: KeyStore;
  try {
    keys = running.keys = openKeyStore(join(config.dataDir, KEYS_DB));
  } catch (e) {
    if (e instanceof KeyStoreError) fail(1, e.message);
    throw e;
  }
  const metrics = createMetrics();
  const audit = await startAuditWorker(core.path, core.sha256, {
    dataDir: config.dataDir,
    origin: config.ledgerOrigin,
    signerKey: config.ledgerSigningKey,
    checkpointEveryRecords: config.checkpointEveryRecords,
    checkpointEveryMs: config.checkpointEveryMs,
  }, { walFsyncs: metrics.walFsyncs }).catch((e: Error) => fail(1, e.message));
  running.audit = audit;
  metrics.watchAudit(audit);
  log("info", "ledger open", { verifier_key: audit.verifierKey, recovery: audit.recovery });

  let mock: Running["mock"];
  if (config.upstreams.length === 0) {
    mock = running.mock = await startMockUpstream({ port: 0, record: false });
    const withMock = loadConfig({ ...env, ...mockUpstreamEnv(mock.url) });
    config.upstreams = withMock.upstreams;
    config.models = withMock.models;
    log("warn", "no upstream configured (WARDEN_UPSTREAM_<NAME>_URL): serving the bundled MOCK model server, development only", { mock_url: mock.url, models: config.upstreams[0].models });
  }
  if (config.masterKey === undefined) {
    log("warn", "WARDEN_MASTER_KEY is not set: client authentication and the admin API are OFF, development only");
  }

  if (config.redisUrl !== undefined) {
    // Several instances: key and tenant changes made on any of them reach this one (and ours
    // reach them) through Redis; auth keeps answering from the local database if Redis is away.
    running.keySync = await startKeySync(keys, { url: config.redisUrl });
    log("info", "shared state through Redis: budgets, key and tenant changes", { redis: redactUrl(config.redisUrl), rate_limits: config.rateLimitStore, on_failure: config.redisFailure, key_sync_ready: running.keySync.status().connected });
  }
  // Several instances share budgets through Redis: a reservation there is atomic across them.
  const budget = running.budget = config.redisUrl === undefined
    ? createBudgetBook(keys, { flushMs: config.spendFlushMs })
    : createRedisBudgetStore({ url: config.redisUrl, failure: config.redisFailure, ledger: keys, flushMs: config.spendFlushMs });
  const limiter = running.limiter = createRateLimiter(config);
  if (config.rateLimitStore === "redis") metrics.watchRateLimitStore(() => (limiter as RedisLimiter).ready());
  const gateway = createGateway(config, {
    coreVersion: core.version,
    auditAlive: () => audit.ping(),
    audit,
    keys,
    entropy: (spans) => core.byteEntropy(spans),
    limiter,
    budget,
    metrics,
  });
  running.gateway = gateway;
  let server: ReturnType<typeof listen>;
  try {
    server = running.server = listen(gateway, {
      hostname: config.host,
      port: config.port,
      idleTimeout: 30,
      maxRequestBodySize: config.maxBodyBytes + 1024 * 1024,
    });
  } catch (e) {
    fail(1, `cannot listen on ${config.host}:${config.port}: ${(e as Error).message}`);
  }
  const url = `http://${config.host.includes(":") ? `[${config.host}]` : config.host}:${server.port}`;
  const model = config.upstreams[0].models[0];
  const auth = config.masterKey ? ` -H "authorization: Bearer $WARDEN_MASTER_KEY"` : "";
  process.stderr.write(
    `\nWarden is ready on ${url}${mock ? " (answering with the bundled mock model server)" : ""}. Try:\n` +
      `  curl ${url}/v1/chat/completions -H 'content-type: application/json'${auth} \\\n` +
      `    -d '{"model":"${model}","messages":[{"role":"user","content":"Hello"}]}'\n\n`,
  );
  log("info", "listening", { url, upstreams: config.upstreams.map((u) => ({ name: u.name, url: u.url, models: u.models })), core_version: core.version });

}

/**
 * `warden verify --data-dir DIR [--data-dir DIR2 ...] [--key KEY ...]`: every instance of a
 * scaled-out deployment keeps its own ledger, under its own origin; an auditor verifies them all
 * in one go. With several keys, each ledger is checked against the key named after its origin.
 */
async function verify(args: string[]): Promise<void> {
  const dataDirs: string[] = [];
  const keys: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const value = args[i + 1];
    if (args[i] === "--data-dir" && value) dataDirs.push(value);
    else if (args[i] === "--key" && value) keys.push(value);
    else fail(2, `unknown or incomplete argument to verify: ${args[i]}\n${USAGE}`);
    i++;
  }
  if (dataDirs.length === 0) fail(2, `verify needs --data-dir DIR\n${USAGE}`);
  const scratch = mkdtempSync(join(tmpdir(), "warden-verify-lib-"));
  const problems: string[] = [];
  const origins = new Map<string, string>();
  try {
    const core = await loadCore(scratch);
    for (const dir of dataDirs) {
      const origin = ledgerOrigin(dir);
      if (origin !== undefined && origins.has(origin)) problems.push(`${dir} and ${origins.get(origin)} share the origin ${origin}: give every instance its own WARDEN_LEDGER_ORIGIN`);
      if (origin !== undefined) origins.set(origin, dir);
      const key = keys.length <= 1 ? keys[0] : keys.find((k) => k.startsWith(`${origin}+`));
      if (keys.length > 1 && key === undefined) {
        problems.push(`${dir}: none of the --key values is named after its origin ${origin}`);
        continue;
      }
      const result = await verifyLedger(core, dir, { verifierKey: key });
      if (result.ok) console.log(`ledger OK: ${result.records} records, ${result.checkpoints} signed checkpoints verified (${dir}${origin ? `, origin ${origin}` : ""})`);
      else problems.push(`${dir}: ${result.problem}`);
    }
    core.close();
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  if (problems.length > 0) fail(1, `ledger verification FAILED:\n  ${problems.join("\n  ")}`);
}

/** The origin line of a ledger's first signed checkpoint, if it has one. */
function ledgerOrigin(dataDir: string): string | undefined {
  try {
    const first = readFileSync(join(dataDir, "ledger", "checkpoints.jsonl"), "utf8").split("\n", 1)[0];
    return (JSON.parse(first) as { note: string }).note.split("\n", 1)[0];
  } catch {
    return undefined;
  }
}

const [command, ...rest] = process.argv.slice(2);
if (command in COMMAND_USAGE && (rest.includes("--help") || rest.includes("-h"))) {
  process.stdout.write(commandHelp(command));
  process.exit(0);
}
switch (command) {
  case "serve":
    ensureFetchConcurrency();
    await serve(rest);
    break;
  case "version":
  case "--version":
    await version();
    break;
  case "verify":
    await verify(rest);
    break;
  case "keys":
  case "tenants":
    // exitCode, not exit(): the JSON on stdout must be flushed to a pipe before the process ends.
    process.exitCode = runKeysCli([command, ...rest], { env: process.env, out: (t) => process.stdout.write(t), err: (t) => process.stderr.write(t) });
    break;
  case "help":
  case "--help":
  case "-h":
    console.log(USAGE);
    break;
  default:
    fail(2, `${command ? `unknown command: ${command}` : "no command given"}\n${USAGE}`);
}
