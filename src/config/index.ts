/**
 * Configuration from the environment, validated in full before anything starts.
 *
 * A bad value throws {@link ConfigError} naming the variable; `main.ts` prints it and exits 2,
 * so a typo in an env file stops a systemd unit at once instead of serving half-configured.
 * Every variable is documented in deploy/warden.env.example.
 */
import { existsSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { parseEnvFile } from "./env-file";
import { DEFAULT_POLICY, mergePolicies, parsePolicy, type WafPolicy } from "../waf/policy";
import { parsePrices, type PriceTable } from "../budget/prices";
import { MODEL_VAR, ROUTING_VARIABLES, modelSettings, routingDefaults, type ModelSettings, type RoutingDefaults } from "./routing";

export type { ModelSettings, RoutingDefaults, Strategy, Timeouts } from "./routing";

export class ConfigError extends Error {
  constructor(readonly variable: string, message: string) {
    super(`${variable}: ${message}`);
  }
}

/**
 * The upstream's wire format (src/providers has one folder each): openai for every
 * OpenAI-compatible server, azure for Azure OpenAI's deployment URLs, anthropic for the Messages
 * API, gemini for generateContent.
 */
export type Provider = "openai" | "azure" | "anthropic" | "gemini";
const PROVIDERS: readonly string[] = ["openai", "azure", "anthropic", "gemini"];

/** Azure OpenAI's data-plane API version when WARDEN_UPSTREAM_<NAME>_API_VERSION is not set. */
export const AZURE_DEFAULT_API_VERSION = "2024-10-21";

/**
 * One upstream server (a deployment, in routing terms). Several upstreams may serve the same
 * model name: they form its group, and the router spreads requests over them by weight.
 */
export interface Upstream {
  name: string; // lower-case NAME from WARDEN_UPSTREAM_<NAME>_*
  url: string; // base URL without trailing slash, e.g. http://127.0.0.1:9000/v1
  key: string | undefined;
  /** The model names clients send. */
  models: string[];
  /** Names sent upstream where they differ from the client's (`fast=llama3.1:8b`; Azure deployment names). */
  renamed: Record<string, string>;
  provider: Provider;
  /** Share of its models' traffic relative to the other upstreams serving them (default 1). */
  weight: number;
  /** Azure's api-version query parameter; undefined for other providers. */
  apiVersion: string | undefined;
  /** Ask this OpenAI-format upstream for usage in every stream (`stream_options.include_usage`). */
  streamUsage: boolean;
}

export interface Config {
  host: string;
  port: number;
  dataDir: string;
  masterKey: string | undefined;
  upstreams: Upstream[];
  auditMode: "async" | "strict";
  logLevel: "debug" | "info" | "warn" | "error";
  maxBodyBytes: number;
  maxHeaderBytes: number;
  maxJsonDepth: number;
  /** The default WAF policy with WARDEN_WAF_POLICY's entries over it; tenants and keys refine it. */
  wafPolicy: WafPolicy;
  rateLimitStore: "memory" | "redis";
  redisUrl: string | undefined;
  /** What rate limiting does when Redis cannot be reached: let requests through, or refuse them. */
  redisFailure: "open" | "closed";
  /** Global deadlines; WARDEN_MODEL_<ID>_* may override them per model (see `models`). */
  connectTimeoutMs: number;
  firstByteTimeoutMs: number;
  requestTimeoutMs: number;
  streamIdleTimeoutMs: number;
  keepAliveMs: number;
  /** Retries, backoff and cooldowns (src/config/routing.ts). */
  routing: RoutingDefaults;
  /** Every served model's routing settings: its WARDEN_MODEL_* group over the global defaults. */
  models: Map<string, ModelSettings>;
  /** SIGTERM: how long in-flight requests (streams too) may take to finish before they are cut. */
  shutdownGraceMs: number;
  ledgerOrigin: string;
  ledgerSigningKey: string | undefined;
  checkpointEveryRecords: number;
  checkpointEveryMs: number;
  /** Bearer token GET /metrics requires (the master key works too); unset: /metrics is open. */
  metricsToken: string | undefined;
  /** USD per million prompt/completion tokens by model (WARDEN_PRICES); see src/budget. */
  prices: PriceTable;
  /** Completion tokens a budget reservation assumes for a request that sets no max_tokens. */
  budgetDefaultMaxTokens: number;
  /** How often settled spend is written to the key database; what a crash can lose at most. */
  spendFlushMs: number;
}

const UPSTREAM_VAR = /^WARDEN_UPSTREAM_([A-Z0-9]+(?:_[A-Z0-9]+)*?)_(URL|KEY|MODELS|PROVIDER|WEIGHT|API_VERSION|STREAM_USAGE)$/;
type UpstreamField = "URL" | "KEY" | "MODELS" | "PROVIDER" | "WEIGHT" | "API_VERSION" | "STREAM_USAGE";

/** Variables read outside the WARDEN_UPSTREAM_* groups, with their defaults. */
export const KNOWN_VARIABLES: ReadonlySet<string> = new Set([
  "WARDEN_HOST",
  "WARDEN_PORT",
  "WARDEN_DATA_DIR",
  "WARDEN_MASTER_KEY",
  "WARDEN_AUDIT_MODE",
  "WARDEN_LOG_LEVEL",
  "WARDEN_MAX_BODY_BYTES",
  "WARDEN_MAX_HEADER_BYTES",
  "WARDEN_MAX_JSON_DEPTH",
  "WARDEN_WAF_POLICY",
  "WARDEN_RATE_LIMIT_STORE",
  "WARDEN_REDIS_URL",
  "WARDEN_REDIS_FAILURE",
  "WARDEN_FIRST_BYTE_TIMEOUT_MS",
  "WARDEN_REQUEST_TIMEOUT_MS",
  "WARDEN_STREAM_IDLE_TIMEOUT_MS",
  "WARDEN_SSE_KEEPALIVE_MS",
  "WARDEN_SHUTDOWN_GRACE_MS",
  "WARDEN_ENV_FILE",
  "WARDEN_LEDGER_ORIGIN",
  "WARDEN_LEDGER_SIGNING_KEY",
  "WARDEN_CHECKPOINT_RECORDS",
  "WARDEN_CHECKPOINT_INTERVAL_MS",
  "WARDEN_METRICS_TOKEN",
  "WARDEN_PRICES",
  "WARDEN_BUDGET_DEFAULT_MAX_TOKENS",
  "WARDEN_SPEND_FLUSH_MS",
  ...ROUTING_VARIABLES,
]);

type Env = Record<string, string | undefined>;

/**
 * Builds the config from `env` (already merged with the env file, see {@link loadEnv}).
 *
 * @example
 * loadConfig({ WARDEN_UPSTREAM_LOCAL_URL: "http://127.0.0.1:9000/v1", WARDEN_UPSTREAM_LOCAL_MODELS: "llama3" })
 */
export function loadConfig(env: Env): Config {
  for (const name of Object.keys(env)) {
    if (name.startsWith("WARDEN_") && !KNOWN_VARIABLES.has(name) && !UPSTREAM_VAR.test(name) && !MODEL_VAR.test(name)) {
      throw new ConfigError(name, "unknown variable (misspelt? see deploy/warden.env.example)");
    }
  }
  const logLevel = oneOf(env, "WARDEN_LOG_LEVEL", ["info", "debug", "warn", "error"] as const);
  const auditMode = oneOf(env, "WARDEN_AUDIT_MODE", ["async", "strict"] as const);
  const masterKey = env.WARDEN_MASTER_KEY || undefined;
  if (masterKey !== undefined && (masterKey.length < 16 || /\s/.test(masterKey))) {
    throw new ConfigError("WARDEN_MASTER_KEY", "must be at least 16 characters without spaces");
  }
  const firstByteTimeoutMs = int(env, "WARDEN_FIRST_BYTE_TIMEOUT_MS", 120_000, 1, 86_400_000);
  const requestTimeoutMs = int(env, "WARDEN_REQUEST_TIMEOUT_MS", 600_000, 1, 86_400_000);
  if (firstByteTimeoutMs > requestTimeoutMs) {
    throw new ConfigError("WARDEN_FIRST_BYTE_TIMEOUT_MS", `must not exceed WARDEN_REQUEST_TIMEOUT_MS (${requestTimeoutMs})`);
  }
  const timeouts = {
    connectTimeoutMs: int(env, "WARDEN_CONNECT_TIMEOUT_MS", 5000, 1, 600_000),
    firstByteTimeoutMs,
    requestTimeoutMs,
    streamIdleTimeoutMs: int(env, "WARDEN_STREAM_IDLE_TIMEOUT_MS", 300_000, 1, 86_400_000),
  };
  const named = (name: string, fallback: number, min: number, max: number) => int(env, name, fallback, min, max);
  const fail = (variable: string, message: string): never => {
    throw new ConfigError(variable, message);
  };
  const routing = routingDefaults(env, named, fail);
  const list = upstreams(env);
  const served = new Set(list.flatMap((u) => u.models));
  return {
    host: host(env),
    port: int(env, "WARDEN_PORT", 8080, 0, 65535),
    dataDir: resolve(env.WARDEN_DATA_DIR || env.STATE_DIRECTORY?.split(":")[0] || "warden-data"),
    masterKey,
    upstreams: list,
    auditMode,
    logLevel,
    maxBodyBytes: int(env, "WARDEN_MAX_BODY_BYTES", 8 * 1024 * 1024, 1024, 1024 * 1024 * 1024),
    // Bun's parser answers 431 itself above 16 KiB, so a larger limit could never apply.
    maxHeaderBytes: int(env, "WARDEN_MAX_HEADER_BYTES", 16 * 1024, 1024, 16 * 1024),
    maxJsonDepth: int(env, "WARDEN_MAX_JSON_DEPTH", 64, 4, 1000),
    wafPolicy: wafPolicy(env),
    ...rateLimits(env),
    ...timeouts,
    routing,
    models: modelSettings(env, served, { ...timeouts, strategy: routing.strategy, retries: routing.retries }, named, fail),
    keepAliveMs: int(env, "WARDEN_SSE_KEEPALIVE_MS", 15_000, 100, 3_600_000),
    // Below systemd's TimeoutStopSec=30 in deploy/warden.service, so the ledger is closed cleanly.
    shutdownGraceMs: int(env, "WARDEN_SHUTDOWN_GRACE_MS", 25_000, 0, 3_600_000),
    ...ledger(env),
    checkpointEveryRecords: int(env, "WARDEN_CHECKPOINT_RECORDS", 1000, 1, 10_000_000),
    checkpointEveryMs: int(env, "WARDEN_CHECKPOINT_INTERVAL_MS", 5000, 100, 86_400_000),
    metricsToken: secret(env, "WARDEN_METRICS_TOKEN"),
    prices: prices(env),
    budgetDefaultMaxTokens: int(env, "WARDEN_BUDGET_DEFAULT_MAX_TOKENS", 4096, 1, 10_000_000),
    spendFlushMs: int(env, "WARDEN_SPEND_FLUSH_MS", 1000, 10, 60_000),
  };
}

/**
 * The process environment merged with an env file. Variables already in the environment win
 * (the dotenv convention), so `WARDEN_PORT=9090 warden serve` overrides the file.
 *
 * Search order when `--env-file` is not given: `$WARDEN_ENV_FILE`, then `./warden.env`, then
 * `/etc/warden/warden.env`; the first that exists is read. A named file that is missing is an error.
 */
export function loadEnv(processEnv: Env, envFile: string | undefined): { env: Env; file: string | undefined } {
  const named = envFile ?? processEnv.WARDEN_ENV_FILE;
  const variable = envFile !== undefined ? "--env-file" : "WARDEN_ENV_FILE";
  let file: string | undefined;
  if (named !== undefined) {
    if (!existsSync(named)) throw new ConfigError(variable, `env file ${named} does not exist`);
    file = named;
  } else {
    file = ["warden.env", "/etc/warden/warden.env"].find((p) => existsSync(p));
  }
  if (file === undefined) return { env: processEnv, file };
  let fromFile: Record<string, string>;
  try {
    fromFile = parseEnvFile(readFileSync(file, "utf8"), file);
  } catch (e) {
    throw new ConfigError(variable === "--env-file" || named ? variable : "env file", (e as Error).message);
  }
  return { env: { ...fromFile, ...processEnv }, file: resolve(file) };
}

function upstreams(env: Env): Upstream[] {
  const groups = new Map<string, Partial<Record<UpstreamField, string>>>();
  for (const [name, value] of Object.entries(env)) {
    const m = UPSTREAM_VAR.exec(name);
    if (!m || value === undefined) continue;
    const group = groups.get(m[1]) ?? {};
    group[m[2] as UpstreamField] = value;
    groups.set(m[1], group);
  }
  const list: Upstream[] = [];
  for (const [NAME, g] of [...groups].sort(([a], [b]) => a.localeCompare(b))) {
    const v = (field: string) => `WARDEN_UPSTREAM_${NAME}_${field}`;
    if (!g.URL) throw new ConfigError(v("URL"), "missing (every upstream needs a base URL)");
    let url: URL;
    try {
      url = new URL(g.URL);
    } catch {
      throw new ConfigError(v("URL"), `not a URL: ${g.URL}`);
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") throw new ConfigError(v("URL"), "must be http:// or https://");
    if (url.search || url.hash) throw new ConfigError(v("URL"), "must be a base URL without query or fragment");
    const provider = (g.PROVIDER || "openai").toLowerCase();
    if (!PROVIDERS.includes(provider)) throw new ConfigError(v("PROVIDER"), `unknown provider: ${g.PROVIDER} (supported: ${PROVIDERS.join(", ")})`);
    const { models, renamed } = servedModels(g.MODELS ?? "", v("MODELS"), provider === "azure");
    if (g.KEY !== undefined && /[\r\n]/.test(g.KEY)) throw new ConfigError(v("KEY"), "must be a single line");
    if (g.API_VERSION && provider !== "azure") throw new ConfigError(v("API_VERSION"), "only applies to PROVIDER=azure");
    const apiVersion = provider === "azure" ? g.API_VERSION || AZURE_DEFAULT_API_VERSION : undefined;
    if (apiVersion !== undefined && !/^[A-Za-z0-9.\-]+$/.test(apiVersion)) throw new ConfigError(v("API_VERSION"), `not an API version: ${JSON.stringify(apiVersion)}`);
    const weight = int(env, v("WEIGHT"), 1, 1, 1000);
    const streamUsage = oneOf(env, v("STREAM_USAGE"), ["on", "off"] as const) === "on";
    list.push({ name: NAME.toLowerCase(), url: url.href.replace(/\/+$/, ""), key: g.KEY || undefined, models, renamed, provider: provider as Provider, weight, apiVersion, streamUsage });
  }
  return list;
}

/**
 * An upstream's MODELS list: `name` serves the model under the name clients send; `name=upstream-name`
 * sends another name upstream (an alias, or an Azure deployment, which must be named).
 */
function servedModels(raw: string, variable: string, azure: boolean): { models: string[]; renamed: Record<string, string> } {
  const models: string[] = [];
  const renamed: Record<string, string> = {};
  for (const entry of raw.split(",").map((s) => s.trim()).filter(Boolean)) {
    const eq = entry.indexOf("=");
    const name = (eq < 0 ? entry : entry.slice(0, eq)).trim();
    const upstreamName = eq < 0 ? name : entry.slice(eq + 1).trim();
    if (name === "" || upstreamName === "") throw new ConfigError(variable, `empty model name in ${JSON.stringify(entry)} (use name or name=upstream-name)`);
    if (models.includes(name)) throw new ConfigError(variable, `model ${name} is listed twice`);
    if (azure && !/^[A-Za-z0-9._\-]+$/.test(upstreamName)) throw new ConfigError(variable, `Azure deployment name ${JSON.stringify(upstreamName)} may hold only letters, digits, '.', '_' and '-'`);
    models.push(name);
    if (upstreamName !== name) renamed[name] = upstreamName;
  }
  if (models.length === 0) throw new ConfigError(variable, "missing or empty (comma-separated model names)");
  return { models, renamed };
}

/** C2SP origin lines are schema-less URLs; key names may not contain spaces or "+". */
function ledger(env: Env): { ledgerOrigin: string; ledgerSigningKey: string | undefined } {
  const origin = env.WARDEN_LEDGER_ORIGIN || "warden.local/ledger";
  if (!/^[\x21-\x7e]+$/.test(origin) || origin.includes("+")) {
    throw new ConfigError("WARDEN_LEDGER_ORIGIN", `must be printable ASCII without spaces or '+', e.g. ledger.example.com/warden, got ${JSON.stringify(origin)}`);
  }
  const key = env.WARDEN_LEDGER_SIGNING_KEY || undefined;
  const prefix = `PRIVATE+KEY+${origin}+`;
  if (key !== undefined && !(key.startsWith(prefix) && /^[0-9a-f]{8}\+[A-Za-z0-9+/]{44}$/.test(key.slice(prefix.length)))) {
    throw new ConfigError("WARDEN_LEDGER_SIGNING_KEY", "must be a sumdb/note Ed25519 signer key named after WARDEN_LEDGER_ORIGIN (PRIVATE+KEY+<origin>+<hash>+<key>)");
  }
  return { ledgerOrigin: origin, ledgerSigningKey: key };
}

function rateLimits(env: Env): Pick<Config, "rateLimitStore" | "redisUrl" | "redisFailure"> {
  const redisUrl = env.WARDEN_REDIS_URL || undefined;
  if (redisUrl !== undefined && !/^rediss?:\/\/[^\s]+$/.test(redisUrl)) {
    throw new ConfigError("WARDEN_REDIS_URL", `expected redis://host:port or rediss://..., got ${JSON.stringify(redisUrl)}`);
  }
  const rateLimitStore = oneOf(env, "WARDEN_RATE_LIMIT_STORE", redisUrl ? (["redis", "memory"] as const) : (["memory", "redis"] as const));
  if (rateLimitStore === "redis" && redisUrl === undefined) {
    throw new ConfigError("WARDEN_RATE_LIMIT_STORE", "is redis, but WARDEN_REDIS_URL is not set");
  }
  return { rateLimitStore, redisUrl, redisFailure: oneOf(env, "WARDEN_REDIS_FAILURE", ["open", "closed"] as const) };
}

function prices(env: Env): PriceTable {
  try {
    return parsePrices(env.WARDEN_PRICES ?? "");
  } catch (e) {
    throw new ConfigError("WARDEN_PRICES", (e as Error).message);
  }
}

function wafPolicy(env: Env): WafPolicy {
  try {
    return Object.freeze(mergePolicies(DEFAULT_POLICY, parsePolicy(env.WARDEN_WAF_POLICY ?? "")));
  } catch (e) {
    throw new ConfigError("WARDEN_WAF_POLICY", (e as Error).message);
  }
}

/** An optional bearer secret: long enough not to be guessed, one token without spaces. */
function secret(env: Env, name: string): string | undefined {
  const value = env[name] || undefined;
  if (value !== undefined && (value.length < 16 || /\s/.test(value))) throw new ConfigError(name, "must be at least 16 characters without spaces");
  return value;
}

function host(env: Env): string {
  const h = env.WARDEN_HOST || "127.0.0.1";
  if (!/^[A-Za-z0-9.:\-\[\]]+$/.test(h)) throw new ConfigError("WARDEN_HOST", `not a host name or address: ${h}`);
  return h;
}

function int(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  if (!/^\d+$/.test(raw)) throw new ConfigError(name, `expected a whole number, got ${JSON.stringify(raw)}`);
  const n = Number(raw);
  if (n < min || n > max) throw new ConfigError(name, `must be between ${min} and ${max}, got ${n}`);
  return n;
}

function oneOf<const T extends readonly string[]>(env: Env, name: string, allowed: T): T[number] {
  const raw = env[name];
  if (raw === undefined || raw === "") return allowed[0];
  if (!allowed.includes(raw)) throw new ConfigError(name, `expected one of ${allowed.join(", ")}, got ${JSON.stringify(raw)}`);
  return raw as T[number];
}
