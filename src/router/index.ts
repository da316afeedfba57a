/**
 * Stage 7, the router: which deployment of a model gets the request, and what happens when it
 * fails before the client has seen a byte.
 *
 * A model's route is every upstream that serves it (a deployment each, with a weight) plus its
 * settings (src/config/routing.ts). {@link dispatch} runs the attempts:
 *
 * 1. pick an available deployment by the model's strategy (./strategies.ts), skipping those that
 *    failed this request and those cooling down (./health.ts);
 * 2. send it (the forwarder); connect errors, timeouts before the reply began, 429 and 5xx are
 *    retried, on another deployment at once, or on the same one after a jittered backoff that
 *    honours Retry-After (an upstream asking for longer than WARDEN_RETRY_MAX_WAIT_MS is not retried);
 * 3. when the model's attempts are spent, its fallback models are tried in order, each with its
 *    own attempts; an upstream saying the prompt exceeds its context window switches to the
 *    model's context fallbacks instead.
 *
 * The forwarder only returns once the reply has begun (a JSON reply read whole, a stream's first
 * event received), and nothing reaches the client before that: a retry is never seen by the
 * client, and nothing is retried after the client got bytes. Every attempt shares the request's
 * one deadline.
 */
import type { Config, ModelSettings } from "../config";
import { GatewayError } from "../errors";
import type { Limits } from "../forwarder";
import { parserFor, type OutputParser } from "../parsers";
import { prepareTarget, supports, type Endpoint, type UpstreamTarget } from "../providers";
import { available, failed, finished, newHealth, retryAfterMs, started, succeeded, type Breaker, type Health } from "./health";
import { pick } from "./strategies";
import { log } from "../log";

export { retryAfterMs } from "./health";

/** One model on one upstream. */
export interface Deployment {
  target: UpstreamTarget;
  weight: number;
  health: Health;
}

/** Everything needed to serve one model name. */
export interface Route {
  model: string;
  settings: ModelSettings;
  deployments: Deployment[];
  /**
   * Whether failing deployments cool down: only when the request has somewhere else to go (another
   * deployment, a fallback model). A model with one upstream and no fallback keeps trying it: a
   * cooldown would turn three 500s into half a minute of refusing every request.
   */
  breaker: boolean;
  limits: Limits;
  parser: OutputParser | undefined;
}

export type RouteTable = Map<string, Route>;

/**
 * The routes of every served model. Deployment health survives a reload (SIGHUP) when the same
 * upstream still serves the same model, so a reload does not put a failing upstream back in rotation.
 *
 * @example
 * const routes = buildRoutes(config);
 * routes.get("gpt-4o")?.deployments.map((d) => d.target.upstream.name); // ["openai", "azure_eu"]
 */
export function buildRoutes(config: Pick<Config, "upstreams" | "models" | "keepAliveMs">, previous?: RouteTable): RouteTable {
  const routes: RouteTable = new Map();
  for (const u of config.upstreams) {
    for (const model of u.models) {
      let route = routes.get(model);
      if (route === undefined) {
        const settings = config.models.get(model)!;
        const { connectTimeoutMs, firstByteTimeoutMs, requestTimeoutMs, streamIdleTimeoutMs } = settings;
        route = {
          model,
          settings,
          deployments: [],
          breaker: settings.fallbacks.length > 0,
          limits: { connectTimeoutMs, firstByteTimeoutMs, requestTimeoutMs, streamIdleTimeoutMs, keepAliveMs: config.keepAliveMs },
          parser: parserOf(settings),
        };
        routes.set(model, route);
      }
      const before = previous?.get(model)?.deployments.find((d) => d.target.upstream.name === u.name);
      route.deployments.push({ target: prepareTarget(u, model), weight: u.weight, health: before?.health ?? newHealth() });
      if (route.deployments.length > 1) route.breaker = true;
    }
  }
  return routes;
}

function parserOf(s: ModelSettings): OutputParser | undefined {
  if (s.parser === undefined) return undefined;
  const { toolCalls, reasoning } = s.parser;
  return parserFor(toolCalls, { reasoning: reasoning === "off" ? false : reasoning === "starts-inside" ? { startsInside: true } : {} });
}

/** One try: the deployment to send to, and the deadline shared by all tries. */
export interface Attempt {
  route: Route;
  deployment: Deployment;
  /** `performance.now()` by which the whole request must be over. */
  deadline: number;
  /** 1 for the first attempt of the request. */
  number: number;
  /** Call once the exchange is over (a stream's end): frees the deployment's in-flight slot. */
  done: () => void;
}

/** What the metrics hear of routing decisions. */
export interface RouterEvents {
  /** An attempt failed with `code` and another one follows. */
  retried(upstream: string, code: string): void;
  /** `from`'s deployments were exhausted (or the prompt was too long) and `to` is tried next. */
  fellBack(from: string, to: string, reason: "error" | "context_window"): void;
  /** A deployment was taken out of rotation. */
  cooledDown(upstream: string, model: string): void;
}

export type RouterPolicy = Pick<Config["routing"], "retryBackoffMs" | "retryMaxWaitMs" | "cooldownFailures" | "cooldownMs">;

type Verdict = "retry" | "context" | "final";

const CONTEXT_WINDOW = /context[ _](length|window)|maximum context|prompt is too long|too many tokens|exceeds the max(imum)? number of tokens|input is too long/i;

/** Whether a failed attempt is worth another one, and whether it counts against the deployment. */
export function classify(e: GatewayError): Verdict {
  if (e.stage === "forwarder") return e.code === "client_closed_request" ? "final" : "retry";
  if (e.stage !== "upstream") return "final"; // a translation refusal, an audit failure: not the upstream's doing
  if (e.status === 429 || e.status >= 500) return "retry";
  if ((e.status === 400 || e.status === 413) && (e.code === "context_length_exceeded" || CONTEXT_WINDOW.test(e.message))) return "context";
  return "final";
}

/**
 * Runs the attempts for `first`'s model (see the module comment). `send` makes one attempt and
 * resolves once the reply has begun; it must call `attempt.done()` when the exchange is over.
 * Throws the last attempt's error, or 503 `no_healthy_upstream` when every deployment was cooling down.
 *
 * @example
 * const reply = await dispatch(route, routes, endpoint, config.routing, request.signal, (a) => forward({ ...input, target: a.deployment.target, deadline: a.deadline }, a.route.limits, (o) => { a.done(); return onDone(o); }));
 */
export async function dispatch(
  first: Route,
  routes: RouteTable,
  endpoint: Endpoint,
  policy: RouterPolicy,
  signal: AbortSignal,
  send: (attempt: Attempt) => Promise<Response>,
  events?: RouterEvents,
): Promise<Response> {
  const deadline = performance.now() + first.settings.requestTimeoutMs;
  let chain: readonly string[] = first.settings.fallbacks.length === 0 ? SOLO : first.settings.fallbacks;
  let route: Route | undefined = first;
  let next = 0; // the chain's next model
  let contextSwitched = false;
  let last: GatewayError | undefined;
  let number = 0;
  let coolest = Infinity; // earliest end of a cooldown that kept us from a deployment

  while (route !== undefined) {
    let tried: Map<Deployment, number> | undefined; // failures of each deployment within this request (most requests have none)
    let retryAfter: number | undefined;
    let verdict: Verdict | undefined;
    for (let attempts = 0; attempts <= route.settings.retries; attempts++) {
      const now = performance.now();
      const d = choose(route, endpoint, tried, now, policy);
      if (d === undefined) {
        for (const x of route.deployments) if (x.health.coolUntil > now) coolest = Math.min(coolest, x.health.coolUntil);
        break;
      }
      const again = tried?.get(d) ?? 0;
      if (again > 0) {
        // The same deployment once more: back off, and never before the Retry-After it asked for.
        const wait = Math.max(policy.retryBackoffMs * 2 ** (again - 1) * (0.5 + Math.random() / 2), retryAfter ?? 0);
        if (wait > policy.retryMaxWaitMs || now + wait >= deadline) break;
        await Bun.sleep(wait);
        if (signal.aborted) throw new GatewayError(499, "The client closed the request.", "invalid_request_error", "client_closed_request", null, undefined, "forwarder");
      }
      if (performance.now() >= deadline) break;
      const h = d.health;
      started(h, policy);
      let over = false;
      const done = () => {
        if (over) return;
        over = true;
        finished(h);
      };
      const sentAt = performance.now();
      try {
        const reply = await send({ route, deployment: d, deadline, number: ++number, done });
        if (succeeded(h, performance.now() - sentAt, policy)) log("info", "upstream back in rotation", { upstream: d.target.upstream.name, model: route.model });
        return reply;
      } catch (e) {
        done();
        if (!(e instanceof GatewayError)) throw e;
        last = e;
        verdict = classify(e);
        if (verdict !== "retry") {
          if (h.trial) h.trial = false; // the trial was not decided; let another request try
          break;
        }
        retryAfter = retryAfterMs(e.headers?.["retry-after"]);
        const now = performance.now();
        if (route.breaker && failed(h, now, policy, retryAfter)) {
          events?.cooledDown(d.target.upstream.name, route.model);
          log("warn", "upstream out of rotation", { upstream: d.target.upstream.name, model: route.model, for_ms: Math.round(h.coolUntil - now), failures: h.failures, code: e.code });
        }
        (tried ??= new Map()).set(d, again + 1);
        if (attempts < route.settings.retries) events?.retried(d.target.upstream.name, e.code ?? "error");
      }
    }
    if (verdict === "final") throw last!;
    const from: string = route.model;
    if (verdict === "context") {
      if (contextSwitched || route.settings.contextFallbacks.length === 0) throw last!;
      contextSwitched = true;
      chain = route.settings.contextFallbacks;
      next = 0;
    }
    route = undefined;
    while (route === undefined && next < chain.length) route = routes.get(chain[next++]);
    if (route !== undefined) events?.fellBack(from, route.model, verdict === "context" ? "context_window" : "error");
    if (performance.now() >= deadline) break;
  }
  if (last !== undefined) throw last;
  const seconds = coolest === Infinity ? 1 : Math.max(1, Math.ceil((coolest - performance.now()) / 1000));
  throw new GatewayError(
    503,
    `Every upstream serving \`${first.model}\` is cooling down after failures; try again in ${seconds} s.`,
    "server_error",
    "no_healthy_upstream",
    null,
    { "retry-after": String(seconds) },
    "forwarder",
  );
}

const SOLO: readonly string[] = [];

/** The next deployment to try: one not yet failed in this request if any, else a failed one again. */
function choose(route: Route, endpoint: Endpoint, tried: Map<Deployment, number> | undefined, now: number, breaker: Breaker): Deployment | undefined {
  const all = route.deployments;
  if (all.length === 1) {
    const d = all[0];
    return available(d.health, now, breaker) && supports(d.target.upstream, endpoint) ? d : undefined;
  }
  let fresh: Deployment[] | undefined;
  let again: Deployment[] | undefined;
  for (const d of all) {
    if (!available(d.health, now, breaker) || !supports(d.target.upstream, endpoint)) continue;
    if (tried?.has(d)) (again ??= []).push(d);
    else (fresh ??= []).push(d);
  }
  const pool = fresh ?? again;
  return pool === undefined ? undefined : pick(pool, route.settings.strategy);
}
