/**
 * Routing settings: how requests for one model are spread over the upstreams serving it, and
 * what happens when one fails. Global defaults (`WARDEN_ROUTING_STRATEGY`, `WARDEN_RETRIES`, ...)
 * and per-model overrides, one group of variables per model:
 *
 *   WARDEN_MODEL_<ID>_NAME=fast                      the model name clients send (required)
 *   WARDEN_MODEL_<ID>_STRATEGY=latency               weighted | least-inflight | latency | p2c
 *   WARDEN_MODEL_<ID>_FALLBACKS=gpt-4o-mini,claude   other models, tried in order once this one's upstreams failed
 *   WARDEN_MODEL_<ID>_CONTEXT_FALLBACKS=big          models tried when an upstream says the prompt is too long
 *   WARDEN_MODEL_<ID>_RETRIES=3                      extra attempts for this model
 *   WARDEN_MODEL_<ID>_CONNECT_TIMEOUT_MS, _FIRST_BYTE_TIMEOUT_MS, _REQUEST_TIMEOUT_MS, _STREAM_IDLE_TIMEOUT_MS
 *   WARDEN_MODEL_<ID>_PARSER=hermes                  tool calls written as text: hermes | llama3 | mistral | deepseek | none
 *   WARDEN_MODEL_<ID>_REASONING=starts-inside        <think> blocks → reasoning_content: on | off | starts-inside
 *
 * Model names hold characters environment variable names cannot (`meta-llama/Llama-3.1-8B`), hence
 * an ID of the operator's choosing and the name as a value.
 */
import type { ToolCallFormat } from "../parsers/types";

export type Strategy = "weighted" | "least-inflight" | "latency" | "p2c";
export const STRATEGIES: readonly Strategy[] = ["weighted", "least-inflight", "latency", "p2c"];
export const PARSER_FORMATS: readonly ToolCallFormat[] = ["hermes", "llama3", "mistral", "deepseek", "none"];
export type Reasoning = "on" | "off" | "starts-inside";

/** Our own deadlines for one upstream exchange. */
export interface Timeouts {
  /** A TCP connection to the upstream must open within this (checked when an answer is slow). */
  connectTimeoutMs: number;
  /** Until the reply starts: its headers and, for a stream, its first event (the first token). */
  firstByteTimeoutMs: number;
  /** The whole request, every attempt and stream included. */
  requestTimeoutMs: number;
  /** Silence allowed between a stream's chunks. */
  streamIdleTimeoutMs: number;
}

/** One model's settings; models without a WARDEN_MODEL_* group get the global defaults. */
export interface ModelSettings extends Timeouts {
  name: string;
  strategy: Strategy;
  retries: number;
  fallbacks: string[];
  contextFallbacks: string[];
  /** Output parsing for open models behind OpenAI-compatible servers; undefined: replies pass as they are. */
  parser: { toolCalls: ToolCallFormat; reasoning: Reasoning } | undefined;
}

/** The global routing defaults and the failure handling shared by every model. */
export interface RoutingDefaults {
  strategy: Strategy;
  retries: number;
  /** The first retry of a deployment waits about this long; each further one twice as long, jittered. */
  retryBackoffMs: number;
  /** Longest wait before a retry, Retry-After included: an upstream asking for longer is not retried. */
  retryMaxWaitMs: number;
  /** Consecutive failures that take a deployment out of rotation... */
  cooldownFailures: number;
  /** ...for this long; then one trial request decides whether it is back. */
  cooldownMs: number;
}

export const MODEL_VAR = /^WARDEN_MODEL_([A-Z0-9]+(?:_[A-Z0-9]+)*?)_(NAME|STRATEGY|FALLBACKS|CONTEXT_FALLBACKS|RETRIES|CONNECT_TIMEOUT_MS|FIRST_BYTE_TIMEOUT_MS|REQUEST_TIMEOUT_MS|STREAM_IDLE_TIMEOUT_MS|PARSER|REASONING)$/;

export const ROUTING_VARIABLES = [
  "WARDEN_ROUTING_STRATEGY",
  "WARDEN_RETRIES",
  "WARDEN_RETRY_BACKOFF_MS",
  "WARDEN_RETRY_MAX_WAIT_MS",
  "WARDEN_COOLDOWN_FAILURES",
  "WARDEN_COOLDOWN_MS",
  "WARDEN_CONNECT_TIMEOUT_MS",
] as const;

type Env = Record<string, string | undefined>;
type Fail = (variable: string, message: string) => never;
type Int = (name: string, fallback: number, min: number, max: number) => number;

/**
 * The per-model settings for every model in `served` (the names upstreams serve), the explicit
 * WARDEN_MODEL_* groups over the global defaults. A group naming a model nobody serves, or a
 * fallback nobody serves, is a configuration error.
 */
export function modelSettings(env: Env, served: ReadonlySet<string>, globals: Timeouts & { strategy: Strategy; retries: number }, int: Int, fail: Fail): Map<string, ModelSettings> {
  const groups = new Map<string, Record<string, string>>();
  for (const [name, value] of Object.entries(env)) {
    const m = MODEL_VAR.exec(name);
    if (!m || value === undefined) continue;
    const g = groups.get(m[1]) ?? {};
    g[m[2]] = value;
    groups.set(m[1], g);
  }
  const settings = new Map<string, ModelSettings>();
  for (const name of served) settings.set(name, { name, ...globals, fallbacks: [], contextFallbacks: [], parser: undefined });
  const ids = new Map<string, string>();
  for (const [ID, g] of [...groups].sort(([a], [b]) => a.localeCompare(b))) {
    const v = (field: string) => `WARDEN_MODEL_${ID}_${field}`;
    const name = g.NAME?.trim();
    if (!name) fail(v("NAME"), "missing (the model name clients send, e.g. gpt-4o)");
    if (!served.has(name)) fail(v("NAME"), `no upstream serves model ${name} (add it to a WARDEN_UPSTREAM_<NAME>_MODELS list)`);
    if (ids.has(name)) fail(v("NAME"), `model ${name} is already configured by WARDEN_MODEL_${ids.get(name)}_*`);
    ids.set(name, ID);
    const local = (field: string, fallback: number, min: number, max: number) => int(v(field), fallback, min, max);
    const models = (field: string) => {
      const list = (g[field] ?? "").split(",").map((s) => s.trim()).filter(Boolean);
      for (const m of list) {
        if (m === name) fail(v(field), `model ${name} cannot fall back to itself`);
        if (!served.has(m)) fail(v(field), `no upstream serves model ${m}`);
      }
      return list;
    };
    const strategy = g.STRATEGY === undefined || g.STRATEGY === "" ? globals.strategy : (g.STRATEGY as Strategy);
    if (!STRATEGIES.includes(strategy)) fail(v("STRATEGY"), `expected one of ${STRATEGIES.join(", ")}, got ${JSON.stringify(g.STRATEGY)}`);
    const s: ModelSettings = {
      name,
      strategy,
      retries: local("RETRIES", globals.retries, 0, 10),
      fallbacks: models("FALLBACKS"),
      contextFallbacks: models("CONTEXT_FALLBACKS"),
      connectTimeoutMs: local("CONNECT_TIMEOUT_MS", globals.connectTimeoutMs, 1, 600_000),
      firstByteTimeoutMs: local("FIRST_BYTE_TIMEOUT_MS", globals.firstByteTimeoutMs, 1, 86_400_000),
      requestTimeoutMs: local("REQUEST_TIMEOUT_MS", globals.requestTimeoutMs, 1, 86_400_000),
      streamIdleTimeoutMs: local("STREAM_IDLE_TIMEOUT_MS", globals.streamIdleTimeoutMs, 1, 86_400_000),
      parser: parser(g, v, fail),
    };
    if (s.firstByteTimeoutMs > s.requestTimeoutMs) fail(v("FIRST_BYTE_TIMEOUT_MS"), `must not exceed the request timeout (${s.requestTimeoutMs} ms)`);
    settings.set(name, s);
  }
  return settings;
}

function parser(g: Record<string, string>, v: (field: string) => string, fail: Fail): ModelSettings["parser"] {
  if (!g.PARSER && !g.REASONING) return undefined;
  const toolCalls = (g.PARSER || "none") as ToolCallFormat;
  if (!PARSER_FORMATS.includes(toolCalls)) fail(v("PARSER"), `expected one of ${PARSER_FORMATS.join(", ")}, got ${JSON.stringify(g.PARSER)}`);
  const reasoning = (g.REASONING || "on") as Reasoning;
  if (!["on", "off", "starts-inside"].includes(reasoning)) fail(v("REASONING"), `expected one of on, off, starts-inside, got ${JSON.stringify(g.REASONING)}`);
  return { toolCalls, reasoning };
}

/** The global routing defaults (WARDEN_ROUTING_STRATEGY, WARDEN_RETRIES, ...). */
export function routingDefaults(env: Env, int: Int, fail: Fail): RoutingDefaults {
  const strategy = (env.WARDEN_ROUTING_STRATEGY || "weighted") as Strategy;
  if (!STRATEGIES.includes(strategy)) fail("WARDEN_ROUTING_STRATEGY", `expected one of ${STRATEGIES.join(", ")}, got ${JSON.stringify(env.WARDEN_ROUTING_STRATEGY)}`);
  return {
    strategy,
    retries: int("WARDEN_RETRIES", 2, 0, 10),
    retryBackoffMs: int("WARDEN_RETRY_BACKOFF_MS", 100, 0, 60_000),
    retryMaxWaitMs: int("WARDEN_RETRY_MAX_WAIT_MS", 5000, 0, 600_000),
    cooldownFailures: int("WARDEN_COOLDOWN_FAILURES", 3, 1, 1000),
    cooldownMs: int("WARDEN_COOLDOWN_MS", 30_000, 0, 3_600_000),
  };
}
