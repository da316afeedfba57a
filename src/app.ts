/**
 * The HTTP surface, with the hot path in order:
 *
 *   guard ─▶ auth ─▶ WAF ─▶ rate limit ─▶ adapter ─▶ budget ─▶ router ─▶ forwarder ─▶ upstream
 *
 *   guard       src/guard      an unambiguous, bounded request; the body read under its cap
 *   auth        src/auth       key → principal (key id, tenant, limits, allowed models, policy)
 *   WAF         src/waf        JSON depth and schema, then the content rules under the policy
 *   rate limit  src/ratelimit  requests, tokens (src/tokens counts them) and concurrency
 *   adapter     src/adapter    model → its route, and may this key use that model
 *   budget      src/budget     reserve the worst-case cost on the key's and tenant's budgets;
 *                              settled to the reply's usage when it ends, released on failure
 *   router      src/router     which deployment; retries, fallbacks, cooldowns
 *   forwarder   src/forwarder  one upstream call, deadlines, SSE pass-through
 *
 * The forwarded routes are one plain function, {@link Gateway.proxy}, that runs the stages in
 * that order. In production Bun's native router calls it directly (`gateway.routes`): Elysia's
 * per-request context cost ~15 µs of CPU per request (measured, ~18% of a profile at c=32), more
 * than all our stages together. Elysia serves everything else (health, models, errors, 404s) and
 * mounts the same function, so `app.handle(...)` in tests exercises exactly the production path.
 *
 * POST /v1/messages is Anthropic's Messages API for Anthropic clients, in front of any upstream:
 * the body is translated to OpenAI's chat format first, so the WAF, the token count and the adapter
 * see what they see on /v1/chat/completions; the forwarder translates the reply back (or passes
 * it through from an Anthropic upstream), and refusals come in Anthropic's error shape.
 *
 * Auth runs before the body is read or parsed, so an unauthenticated client learns nothing
 * about schemas. The principal it returns (key id, tenant, limits, allowed models) is what the
 * later stages and the audit record go by; the admin API (src/admin) is mounted here too.
 *
 * @example In-process, the way the tests drive it:
 * const { app } = createGateway(config, deps);
 * const res = await app.handle(new Request("http://localhost/health"));
 */
import { Elysia } from "elysia";
import type { Config } from "./config";
import { assertModelAllowed, createAuthenticator, modelAllowed, type Principal } from "./auth";
import { adminApi } from "./admin";
import { apiDocs } from "./docs";
import { dashboard } from "./dashboard";
import type { KeyStore } from "./keys/store";
import { guardRequest, readBody, rewrittenTarget } from "./guard";
import { parseBody, validateBody, createWaf, mergePolicies, wafError, type EntropyBatch, type WafPolicy } from "./waf";
import { createMemoryLimiter, rateLimitError, rateLimitHeaders, subject, type Decision, type Limits, type RateLimiter, type Subject } from "./ratelimit";
import { countPromptTokens, countText } from "./tokens";
import { budgetAccounts, completionCap, costMicros, createBudgetBook, priceOf, reserveBudget, type BudgetStore, type Hold } from "./budget";
import { routeRequest } from "./adapter";
import { buildRoutes, dispatch, type RouterEvents } from "./router";
import { forward, type ExchangeClock } from "./forwarder";
import { createMetrics, metricsEndpoint, modelLabeler, tailUsage, type Metrics } from "./metrics";
import { GatewayError, openAIError } from "./errors";
import type { Dialect, Endpoint } from "./providers";
import { anthropicRefusal, countTokensUpstream, fromAnthropicRequest } from "./providers/anthropic";
import type { Answer } from "./audit";
import type { Query } from "./audit/messages";
import { extract, type HandOff, type RateLimitMark, type WafMark } from "./audit/record";
import { log, logRequest, logsRequests } from "./log";

/** What the HTTP surface needs of the audit worker (src/audit); tests may leave it out. */
export interface AuditPort {
  handOff(record: HandOff, durable?: boolean): Promise<boolean> | undefined;
  query(q: Query): Promise<Answer>;
}

export interface AppDeps {
  /** Version of the loaded Rust core, or undefined if it failed to load. */
  coreVersion: string | undefined;
  /** Liveness of the audit worker, checked by /ready. */
  auditAlive: () => Promise<boolean>;
  audit?: AuditPort;
  /** Virtual keys and tenants; without a store only the master key authenticates, and there is no admin API. */
  keys?: KeyStore;
  /** The Rust core's batched byte entropy (NativeCore.byteEntropy), for the WAF's secret rules. */
  entropy: EntropyBatch;
  /** Rate-limit store; an in-memory one when left out. */
  limiter?: RateLimiter;
  /** Spend and budgets (src/budget); with a key store and without this, a book on the key store. */
  budget?: BudgetStore;
  /** Prometheus metrics (src/metrics), served at /metrics; a fresh registry when left out. */
  metrics?: Metrics;
}

const started = Math.floor(Date.now() / 1000);

/** Path of an absolute request URL without allocating a URL object. */
function pathOf(url: string): string {
  const start = url.indexOf("/", url.indexOf("//") + 2);
  if (start < 0) return "/";
  const q = url.indexOf("?", start);
  return q < 0 ? url.slice(start) : url.slice(start, q);
}

const EMPTY: Uint8Array[] = [];
const NO_MARKS: WafMark[] = [];
const NO_SUBJECTS: Subject[] = [];
const encoder = new TextEncoder();

function limitsOf(l: Limits): Limits | undefined {
  return l.rpm === null && l.tpm === null && l.maxConcurrent === null ? undefined : { rpm: l.rpm, tpm: l.tpm, maxConcurrent: l.maxConcurrent };
}
/**
 * Request ids like OpenAI's (`req_` + 32 hex digits): 64 random bits fixed per process, then a
 * 64-bit counter. Unique within and across restarts, and far cheaper than a UUID per request.
 */
const ID_PREFIX = `req_${Buffer.from(crypto.getRandomValues(new Uint8Array(8))).toString("hex")}`;
let idCounter = 0;
function nextRequestId(): string {
  return ID_PREFIX + (idCounter++).toString(16).padStart(16, "0");
}

/** A query parameter that must be a whole number, or a 400 naming it. */
function wholeNumber(query: Record<string, string | undefined>, name: string): number {
  const raw = query[name];
  if (raw === undefined || !/^\d{1,15}$/.test(raw)) {
    throw new GatewayError(400, `Query parameter '${name}' must be a non-negative whole number.`, "invalid_request_error", "invalid_value", name);
  }
  return Number(raw);
}

async function ledgerAnswer(audit: AuditPort | undefined, q: Query): Promise<unknown> {
  if (audit === undefined) throw new GatewayError(503, "The audit ledger is not available.", "server_error", "ledger_unavailable");
  const a = await audit.query(q);
  if (a.ok) return a.value;
  const type = a.status === 404 ? "not_found_error" : "server_error";
  throw new GatewayError(a.status, a.message, type, a.status === 404 ? "not_found" : "ledger_error");
}

type Server = { timeout(req: Request, seconds: number): void } | null;

/** A forwarded route: the endpoint it runs as and the wire format its clients speak. */
interface Proxied {
  path: string;
  endpoint: Endpoint;
  dialect: Dialect;
}
/** The forwarded routes by URL path. /v1/messages (Anthropic's format) runs as a chat completion. */
const PROXIED: Record<string, Proxied> = {
  "/v1/chat/completions": { path: "/v1/chat/completions", endpoint: "chat/completions", dialect: "openai" },
  "/v1/completions": { path: "/v1/completions", endpoint: "completions", dialect: "openai" },
  "/v1/embeddings": { path: "/v1/embeddings", endpoint: "embeddings", dialect: "openai" },
  "/v1/messages": { path: "/v1/messages", endpoint: "chat/completions", dialect: "anthropic" },
};

/** Anthropic's token counting, answered for Anthropic clients (see countTokens in createGateway). */
const COUNT_TOKENS = "/v1/messages/count_tokens";

/**
 * The configured models in the OpenAI list shape (GET /v1/models), each once: `owned_by` names
 * its upstream, or "warden" for a model several upstreams serve.
 */
function modelListOf(upstreams: Config["upstreams"]) {
  const owners = new Map<string, string>();
  for (const u of upstreams) for (const id of u.models) owners.set(id, owners.has(id) ? "warden" : u.name);
  return { object: "list", data: [...owners].map(([id, owned_by]) => ({ id, object: "model", created: started, owned_by })) };
}

/** Settings SIGHUP applies to a running gateway; the rest are fixed at start. */
const RELOADABLE = ["upstreams", "models", "routing", "wafPolicy", "maxJsonDepth", "connectTimeoutMs", "firstByteTimeoutMs", "requestTimeoutMs", "streamIdleTimeoutMs", "keepAliveMs", "logLevel", "metricsToken", "prices", "budgetDefaultMaxTokens"] as const;
/** Settings fixed at start, by the variable operators know them by. */
const RESTART_ONLY: [keyof Config, string][] = [
  ["host", "WARDEN_HOST"],
  ["port", "WARDEN_PORT"],
  ["dataDir", "WARDEN_DATA_DIR"],
  ["masterKey", "WARDEN_MASTER_KEY"],
  ["auditMode", "WARDEN_AUDIT_MODE"],
  ["maxBodyBytes", "WARDEN_MAX_BODY_BYTES"],
  ["maxHeaderBytes", "WARDEN_MAX_HEADER_BYTES"],
  ["rateLimitStore", "WARDEN_RATE_LIMIT_STORE"],
  ["redisUrl", "WARDEN_REDIS_URL"],
  ["redisFailure", "WARDEN_REDIS_FAILURE"],
  ["ledgerOrigin", "WARDEN_LEDGER_ORIGIN"],
  ["ledgerSigningKey", "WARDEN_LEDGER_SIGNING_KEY"],
  ["checkpointEveryRecords", "WARDEN_CHECKPOINT_RECORDS"],
  ["checkpointEveryMs", "WARDEN_CHECKPOINT_INTERVAL_MS"],
  ["shutdownGraceMs", "WARDEN_SHUTDOWN_GRACE_MS"],
  ["spendFlushMs", "WARDEN_SPEND_FLUSH_MS"],
];

export function createGateway(config: Config, deps: AppDeps) {
  let routeTable = buildRoutes(config);
  const authenticate = createAuthenticator({ masterKey: config.masterKey, store: deps.keys });
  /** Principals of Elysia-served /v1 requests, found in onRequest and read by the handlers. */
  const principals = new WeakMap<Request, Principal>();
  const guardLimits = { maxHeaderBytes: config.maxHeaderBytes };
  let modelList = modelListOf(config.upstreams);

  const waf = createWaf(deps.entropy);
  const limiter = deps.limiter ?? createMemoryLimiter();

  // Per-key derivations, cached on the key record: the store hands out one frozen record per key
  // until something in the database changes, so these are computed about once per key.
  let policies = new WeakMap<object, WafPolicy>();
  /** The operator's policy, refined by the tenant's and then the key's own. */
  function policyOf(p: Principal): WafPolicy {
    if (p.key === null) return config.wafPolicy;
    let policy = policies.get(p.key);
    if (policy === undefined) policies.set(p.key, (policy = mergePolicies(config.wafPolicy, p.tenantRecord?.wafPolicy, p.key.wafPolicy)));
    return policy;
  }
  const subjects = new WeakMap<object, Subject[]>();
  /** Who is limited: the key and its tenant, where they have limits. The master key never is. */
  function subjectsOf(p: Principal): Subject[] {
    if (p.key === null) return NO_SUBJECTS;
    let list = subjects.get(p.key);
    if (list === undefined) {
      list = [];
      const own = limitsOf(p.key);
      if (own) list.push(subject(`key:${p.key.id}`, own));
      const shared = p.tenantRecord && limitsOf(p.tenantRecord);
      if (shared) list.push(subject(`tenant:${p.key.tenant}`, shared));
      subjects.set(p.key, list);
    }
    return list;
  }

  const audit = deps.audit;
  const strict = config.auditMode === "strict";

  // Only virtual keys have budgets and spend: the master key and anonymous callers are not charged.
  const book = deps.budget ?? (deps.keys ? createBudgetBook(deps.keys, { flushMs: config.spendFlushMs }) : undefined);
  const accountsOf = book && budgetAccounts(book);

  const metrics = deps.metrics ?? createMetrics();
  metrics.watchRoutes(() => routeTable);
  const routerEvents: RouterEvents = {
    retried: (upstream, code) => metrics.retried(upstream, code),
    fellBack: (from, to, reason) => metrics.fellBack(from, to, reason),
    cooledDown: (upstream, model) => metrics.cooledDown(upstream, model),
  };
  /** Model names → metric labels: configured ones as they are, anything else "other". */
  let modelLabel = modelLabeler(config.upstreams);
  /** Counts a forwarded request once, when it is over: the status sent, and Warden's share of its time. */
  function finished(path: string, model: string | null, status: number, start: number, clock: ExchangeClock | undefined): void {
    const upstreamMs = clock !== undefined && clock.endedAt >= clock.sentAt ? clock.endedAt - clock.sentAt : 0; // NaN: never sent
    metrics.finished(path, modelLabel(model), status, (performance.now() - start - upstreamMs) / 1000);
  }

  /** Strict mode: true once the record is durable; false if it cannot be (the audit port gives up in time). */
  function durable(pending: Promise<boolean> | undefined): Promise<boolean> | undefined {
    if (!strict) return undefined;
    return pending ?? Promise.resolve(false); // no ledger, nothing can be durable
  }

  /**
   * Runs one forwarded request through the stages, and hands its record to the audit worker
   * whatever the outcome: served, refused by a stage, or failed upstream.
   */
  async function proxy(entry: Proxied, request: Request, server: Server): Promise<Response> {
    const { endpoint, dialect } = entry;
    const requestId = nextRequestId();
    const time = Date.now();
    const start = performance.now();
    let stage = "guard";
    let body: Uint8Array | undefined;
    let principal: Principal | null = null; // stays null when auth refuses
    let model: string | null = null;
    let upstream: string | null = null;
    let wafMarks: WafMark[] = NO_MARKS;
    let rateLimit: RateLimitMark | null = null;
    let decision: Decision | undefined;
    let clock: ExchangeClock | undefined;
    let jsonReply = false; // the forwarder read a whole (non-stream) reply: counted once forward() returns
    let usage: { prompt: number; completion: number } | null = null;
    let promptTokens = -1; // counted once, by the first stage that needs it
    let hold: Hold | null = null; // the budget reservation, settled or released exactly once
    /** The request's audit record and log line, once it is over (served, refused or failed). */
    const record = (status: number, refusal: HandOff["refusal"], upstreamFirstByteUs: number | null, response: Uint8Array[], streamed: boolean) => {
      const totalUs = (performance.now() - start) * 1000;
      if (logsRequests()) logRequest({
        request_id: requestId,
        key_id: principal?.keyId ?? null,
        tenant: principal?.tenant ?? null,
        route: entry.path,
        model,
        upstream,
        status,
        refusal,
        total_ms: Math.round(totalUs) / 1000,
        upstream_first_byte_ms: upstreamFirstByteUs === null ? null : Math.round(upstreamFirstByteUs) / 1000,
        prompt_tokens: usage?.prompt ?? null,
        completion_tokens: usage?.completion ?? null,
        waf: wafMarks.map((w) => w.rule),
        rate_limit: rateLimit?.outcome ?? null,
      });
      return durable(audit?.handOff({
        time,
        requestId,
        keyId: principal?.keyId ?? null,
        tenant: principal?.tenant ?? null,
        route: entry.path,
        model,
        upstream,
        status,
        refusal,
        totalUs,
        upstreamFirstByteUs,
        request: body === undefined ? EMPTY : [body],
        response,
        streamed,
        waf: wafMarks,
        rateLimit,
      }, strict));
    };
    try {
      stage = "guard";
      guardRequest(request, guardLimits);
      stage = "auth";
      principal = authenticate(request.headers);
      stage = "guard";
      body = await readBody(request, config.maxBodyBytes);

      stage = "waf";
      const parsed = parseBody(body, config.maxJsonDepth);
      // An Anthropic client's request in OpenAI's chat format: what the WAF, the token count and the adapter read.
      const json = dialect === "openai" ? parsed : (fromAnthropicRequest(parsed as never) as unknown as Record<string, unknown>);
      validateBody(endpoint, json);
      model = json.model as string;
      const verdict = waf.inspect(endpoint, json, policyOf(principal));
      if (verdict.findings.length > 0) wafMarks = verdict.findings.map((f) => ({ rule: f.rule, action: f.action, param: f.param }));
      for (const f of verdict.findings) metrics.wafFinding(f.rule, f.action);
      if (verdict.blocked) throw wafError(verdict.blocked);
      const forwarded = verdict.redacted && dialect === "openai" ? encoder.encode(JSON.stringify(verdict.body)) : body;

      stage = "ratelimit";
      const limited = subjectsOf(principal);
      let countsTokens = false;
      if (limited.length > 0) {
        countsTokens = limited.some((x) => x.limits.tpm !== null);
        if (countsTokens) promptTokens = countPromptTokens(endpoint, model, verdict.body, principal.tenant ?? "");
        const pending = limiter.check(limited, countsTokens ? promptTokens : 0);
        decision = pending instanceof Promise ? await pending : pending;
        rateLimit = {
          outcome: !decision.allowed ? "limited" : decision.enforced ? "allowed" : "unenforced",
          reason: decision.allowed ? null : decision.reason,
          subject: decision.allowed ? null : decision.subject,
        };
        if (!decision.allowed) throw rateLimitError(decision);
      }

      stage = "adapter";
      const route = routeRequest(json, routeTable, endpoint);
      assertModelAllowed(principal, model);

      // After the adapter, so an unknown or forbidden model gets its own error, not "not priced".
      stage = "budget";
      if (book !== undefined && principal.key !== null) {
        const { tenant } = principal;
        const priced = model;
        const pending = reserveBudget(book, accountsOf!(principal.key, principal.tenantRecord), priceOf(config.prices, model), model, (price) => {
          if (promptTokens < 0 && price.prompt > 0) promptTokens = countPromptTokens(endpoint, priced, verdict.body, tenant ?? "");
          return costMicros(price, promptTokens, completionCap(endpoint, json, config.budgetDefaultMaxTokens));
        });
        hold = pending instanceof Promise ? await pending : pending;
      }

      stage = "forwarder";
      // Model replies can take minutes; our own deadlines (forwarder) replace Bun's idle timeout.
      server?.timeout(request, 0);
      const held = decision;
      const charged = hold;
      const label = modelLabel(model);
      const cells = route.stream ? metrics.streamCells(label) : null;
      clock = { arrivedAt: start, sentAt: NaN, endedAt: NaN, streamError: null, firstToken: cells && cells.firstToken, tokenGap: cells && cells.tokenGap };
      const timed = clock;
      const ours = held === undefined ? undefined : rateLimitHeaders(held);
      let served = model; // the model that answered: a fallback's, when it came to that
      const reply = await dispatch(route.route, routeTable, endpoint, config.routing, request.signal, (attempt) => {
        upstream = attempt.deployment.target.upstream.name;
        served = attempt.route.model;
        return forward(
          {
            target: attempt.deployment.target,
            endpoint,
            body: forwarded,
            stream: route.stream,
            requestId,
            clientHeaders: request.headers,
            clientSignal: request.signal,
            // Tells the client its request needed more than one attempt (as LiteLLM's x-litellm-attempted-retries).
            headers: attempt.number === 1 ? ours : { ...ours, "x-warden-attempts": String(attempt.number) },
            clock,
            dialect,
            json: verdict.body,
            redacted: verdict.redacted,
            parser: attempt.route.parser,
            deadline: attempt.deadline,
          },
          attempt.route.limits,
          (o) => {
          // The reply has ended (streams too): free the concurrency and in-flight slots, then read
          // its usage once for the rate limiter, the budget, the metrics and the log.
          attempt.done();
          if (held !== undefined) limiter.release(held);
          metrics.upstreamCall(upstream!, (timed.endedAt - timed.sentAt) / 1000);
          if (timed.streamError !== null) metrics.upstreamError(upstream!, timed.streamError);
          const chargesTokens = held !== undefined && countsTokens;
          let read: ReturnType<typeof extract> | undefined; // the whole reply parsed, only if needed
          const parsed = () => (read ??= extract(o.response, o.streamed));
          // OpenAI replies end with their usage: a scan of the tail finds it without parsing.
          usage = dialect === "openai" ? tailUsage(o.response) : null;
          if (usage === null && (dialect !== "openai" || chargesTokens || charged !== null)) {
            const u = parsed().usage; // Anthropic's shape too: extract reads both
            usage = u && { prompt: u.prompt_tokens, completion: u.completion_tokens };
          }
          if (usage !== null) metrics.usage(label, principal!.tenant ?? "", usage);
          // No usage in the reply (a stream without include_usage, or cut short): count it, once.
          let counted: number | undefined;
          const completion = () => usage?.completion ?? (counted ??= countText(model!, parsed().content));
          if (chargesTokens) {
            const spent = limiter.charge(limited, completion());
            if (spent instanceof Promise) spent.catch(() => {}); // the store's failure mode is the check's business
          }
          if (charged !== null) {
            const tenant = principal!.tenant ?? "";
            const u = usage ?? { prompt: promptTokens >= 0 ? promptTokens : countPromptTokens(endpoint, model!, verdict.body, tenant), completion: completion() };
            // A fallback model is charged at its own price where it has one.
            const price = served === model ? charged.price : (priceOf(config.prices, served!) ?? charged.price);
            const cost = costMicros(price, u.prompt, u.completion);
            book!.settle(charged, cost);
            if (cost > 0) metrics.spent(tenant, cost);
          }
          const pending = record(o.status, null, o.upstreamFirstByteUs, o.response, o.streamed);
          if (o.streamed) {
            finished(entry.path, model, o.status, start, timed);
            // Strict mode: a stream whose record cannot be made durable ends in an error event.
            pending?.then((ok) => ok || metrics.refused("audit", "audit_unavailable", ""));
          } else jsonReply = true;
          return pending;
          },
          strict,
        );
      }, routerEvents);
      if (jsonReply) finished(entry.path, model, reply.status, start, clock);
      return reply;
    } catch (e) {
      if (decision !== undefined) limiter.release(decision); // a no-op once released
      if (hold !== null) book!.release(hold); // a no-op once settled
      if (!(e instanceof GatewayError)) throw e;
      e.stage ??= stage;
      // What the client gets: Anthropic's error shape (and status) on /v1/messages.
      const shaped = (g: GatewayError) => (dialect === "anthropic" ? anthropicRefusal(g, requestId) : g);
      const sent = shaped(e);
      const bytes = sent.body();
      // A refusal is recorded too; in strict mode it is not sent before its record is durable.
      // (An "audit" failure was already recorded, and failed to become durable.)
      const refused = e.stage !== "audit" && (await record(sent.status, { stage: e.stage, code: e.code ?? "error" }, null, [bytes], false)) === false;
      const res = refused
        ? shaped(new GatewayError(503, "The gateway could not make the audit record of this request durable.", "server_error", "audit_unavailable", null, e.headers)).toResponse()
        : sent.toResponse(bytes);
      res.headers.set("x-request-id", requestId);
      countFailure(e, upstream, clock, refused);
      finished(entry.path, model, res.status, start, clock);
      return res;
    }
  }

  /**
   * The metrics of a request that ended in an error: a stage's refusal, an upstream's failure
   * (a gateway-side one is both), and the upstream call's duration when there was one.
   */
  function countFailure(e: GatewayError, upstream: string | null, clock: ExchangeClock | undefined, refused: boolean): void {
    const stage = e.stage!;
    const code = e.code ?? "error";
    if (stage !== "upstream") metrics.refused(stage, code, stage === "waf" ? (e.headers?.["x-warden-rule"] ?? "") : "");
    if (refused) metrics.refused("audit", "audit_unavailable", "");
    if (upstream === null || (stage !== "upstream" && stage !== "forwarder")) return;
    if (code !== "client_closed_request") metrics.upstreamError(upstream, code);
    if (clock !== undefined && clock.endedAt >= clock.sentAt) metrics.upstreamCall(upstream, (clock.endedAt - clock.sentAt) / 1000);
  }

  /**
   * A ledger record as its leaf bytes, if the caller may see it: a tenant's key sees only its
   * tenant's records; the admin key (and everyone when auth is off) sees all. Checkpoints and
   * consistency proofs reveal no record and stay open to every authenticated caller.
   */
  async function visibleLeaf(principal: Principal | undefined, seq: number): Promise<string> {
    const { leaf } = (await ledgerAnswer(audit, { kind: "record", seq })) as { leaf: string };
    if (principal?.key != null && (JSON.parse(leaf) as { tenant: unknown }).tenant !== principal.tenant) {
      throw new GatewayError(403, `Ledger record ${seq} belongs to another tenant; a key sees only its own tenant's records.`, "permission_error", "record_not_visible", "seq");
    }
    return leaf;
  }

  /** The models this caller may use, in the OpenAI list shape. */
  const modelsFor = (principal: Principal | undefined) =>
    principal?.key?.models == null ? modelList : { object: "list", data: modelList.data.filter((m) => modelAllowed(principal, m.id)) };

  const serveMetrics = metricsEndpoint(metrics, () => ({ token: config.metricsToken, masterKey: config.masterKey }));

  // Without a key store (some tests) there is nothing to administer: /admin is an unknown URL.
  const admin = deps.keys ? adminApi({ enabled: config.masterKey !== undefined, authenticate, store: deps.keys }) : new Elysia();

  // normalize: false makes schemas (the admin API's) refuse unknown fields instead of dropping them.
  const app = new Elysia({ normalize: false })
    .onRequest(({ request }) => {
      const path = pathOf(request.url);
      if (path in PROXIED || path === COUNT_TOKENS) return; // they guard and authenticate themselves, in their clients' error shape
      try {
        guardRequest(request, guardLimits);
        if (!path.startsWith("/v1/")) return; // /admin authenticates in its plugin
        principals.set(request, authenticate(request.headers));
      } catch (e) {
        if (e instanceof GatewayError) {
          metrics.refused(e.stage ?? "guard", e.code ?? "error", "");
          return e.toResponse();
        }
        throw e;
      }
    })
    // Before the app's onError: the admin API answers its own errors (validation among them).
    .use(admin)
    .onError(({ code, error }) => {
      if (code === "NOT_FOUND") return openAIError(404, "Unknown request URL. Please check the URL and method.", "invalid_request_error", "unknown_url");
      if (code === "PARSE") return openAIError(400, "The request body could not be parsed.", "invalid_request_error", "invalid_body");
      if (error instanceof GatewayError) return error.toResponse();
      // Never echo internal messages to clients; the log keeps them.
      log("error", "unhandled error", { code: String(code), error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
      return openAIError(500, "The gateway had an internal error while processing your request.", "server_error", "internal_error");
    })
    .use(apiDocs()) // GET /openapi.json and /docs (Swagger UI), public: see src/docs
    .use(dashboard({ adminEnabled: config.masterKey !== undefined, authenticate })) // GET /dashboard: the page is public, its data needs the admin key; see src/dashboard
    .get("/health", () => ({ status: "ok" }))
    .get("/metrics", ({ request }) => serveMetrics(request))
    .get("/ready", async ({ set }) => {
      const checks = {
        upstreams: config.upstreams.length > 0,
        core: deps.coreVersion !== undefined,
        audit_worker: await deps.auditAlive(),
      };
      const ready = checks.upstreams && checks.core && checks.audit_worker;
      set.status = ready ? 200 : 503;
      return { status: ready ? "ready" : "not_ready", checks, core_version: deps.coreVersion ?? null };
    })
    .get("/v1/models", ({ request }) => modelsFor(principals.get(request)))
    // Model ids may contain slashes ("meta-llama/Llama-3.1-8B"), hence the wildcard.
    .get("/v1/models/*", ({ params, request }) => {
      let id = params["*"];
      try {
        id = decodeURIComponent(id);
      } catch {} // a malformed escape is simply a model we do not have
      const found = modelsFor(principals.get(request)).data.find((m) => m.id === id);
      return found ?? openAIError(404, `The model \`${id}\` does not exist or you do not have access to it.`, "invalid_request_error", "model_not_found", "model");
    })
    // The ledger: a signed checkpoint (C2SP signed note), leaves, and RFC 9162 proofs.
    .get("/v1/audit/checkpoint", async () => {
      const cp = (await ledgerAnswer(audit, { kind: "checkpoint" })) as { note: string };
      return new Response(cp.note, { headers: { "content-type": "text/plain; charset=utf-8" } });
    })
    // The body is exactly the leaf: SHA-256(0x00 ‖ body) is its leaf hash.
    .get("/v1/audit/records/:seq", async ({ params, request }) => {
      const leaf = await visibleLeaf(principals.get(request), wholeNumber(params, "seq"));
      return new Response(leaf, { headers: { "content-type": "application/json" } });
    })
    .get("/v1/audit/proof/inclusion", async ({ query, request }) => {
      const seq = wholeNumber(query, "seq");
      const size = wholeNumber(query, "size");
      await visibleLeaf(principals.get(request), seq);
      return ledgerAnswer(audit, { kind: "inclusion", seq, size });
    })
    .get("/v1/audit/proof/consistency", ({ query }) => ledgerAnswer(audit, { kind: "consistency", from: wholeNumber(query, "from"), to: wholeNumber(query, "to") }))
    .post("/v1/chat/completions", ({ request, server }) => proxy(PROXIED["/v1/chat/completions"], request, server), { parse: "none" })
    .post("/v1/completions", ({ request, server }) => proxy(PROXIED["/v1/completions"], request, server), { parse: "none" })
    .post("/v1/embeddings", ({ request, server }) => proxy(PROXIED["/v1/embeddings"], request, server), { parse: "none" })
    .post("/v1/messages", ({ request, server }) => proxy(PROXIED["/v1/messages"], request, server), { parse: "none" })
    .post(COUNT_TOKENS, ({ request }) => countTokens(request), { parse: "none" });

  /**
   * Anthropic's token counting for Anthropic clients (Claude Code asks before long turns): an
   * Anthropic upstream of the model answers it; for any other, Warden counts the prompt as its
   * rate limiter does (src/tokens). Nothing is generated, so nothing is audited or charged.
   */
  async function countTokens(request: Request): Promise<Response> {
    const requestId = nextRequestId();
    try {
      guardRequest(request, guardLimits);
      const principal = authenticate(request.headers);
      const parsed = parseBody(await readBody(request, config.maxBodyBytes), config.maxJsonDepth);
      // The Messages request without max_tokens: one is lent for the translation's check.
      const json = fromAnthropicRequest({ ...parsed, max_tokens: 1 } as never) as unknown as Record<string, unknown>;
      validateBody("chat/completions", json);
      const { model, route } = routeRequest(json, routeTable, "chat/completions");
      assertModelAllowed(principal, model);
      const anthropic = route.deployments.find((d) => d.target.upstream.provider === "anthropic");
      const count = anthropic
        ? await countTokensUpstream(anthropic.target, parsed, request.headers, requestId, AbortSignal.timeout(config.firstByteTimeoutMs))
        : { input_tokens: countPromptTokens("chat/completions", model, json, principal?.tenant ?? "") };
      return Response.json(count, { headers: { "request-id": requestId } });
    } catch (e) {
      if (!(e instanceof GatewayError)) throw e;
      const res = anthropicRefusal(e, requestId).toResponse();
      res.headers.set("request-id", requestId);
      return res;
    }
  }

  /** Bun.serve `routes` for the hot path; anything else falls through to Elysia's `fetch`. */
  const routes = Object.fromEntries(
    Object.entries(PROXIED).map(([path, entry]) => [path, { POST: (req: Request, server: Server) => proxy(entry, req, server) }]),
  );
  /**
   * SIGHUP: applies the new config's upstreams, models, WAF policy, deadlines and log level to
   * requests that start from now on; requests in flight finish as they began. Returns the
   * variables whose new values only take effect after a restart.
   *
   * @example
   * const ignored = gateway.reload(loadConfig(env)); // e.g. ["WARDEN_PORT"]
   */
  function reload(next: Config): string[] {
    const ignored = RESTART_ONLY.filter(([k]) => JSON.stringify(next[k]) !== JSON.stringify(config[k])).map(([, name]) => name);
    for (const k of RELOADABLE) (config as unknown as Record<string, unknown>)[k] = next[k];
    routeTable = buildRoutes(config, routeTable);
    modelList = modelListOf(config.upstreams);
    modelLabel = modelLabeler(config.upstreams);
    policies = new WeakMap();
    return ignored;
  }

  return { app, routes, proxy, reload, metrics };
}

export type Gateway = ReturnType<typeof createGateway>;

export interface ListenOptions {
  hostname: string;
  port: number;
  /** Seconds before Bun drops an idle connection; proxied requests switch it off for themselves. */
  idleTimeout: number;
  maxRequestBodySize: number;
}

/**
 * Starts the HTTP server: Bun's router for the hot path, Elysia for the rest.
 * `reusePort` stays off so a second instance on the same port fails instead of silently sharing it.
 */
export function listen(gateway: Gateway, opts: ListenOptions) {
  const { app, routes, metrics } = gateway;
  return Bun.serve({
    ...opts,
    reusePort: false,
    development: false,
    routes,
    fetch(request) {
      // Bun's router matches the raw request target, but request.url arrives with dot segments
      // removed and backslashes turned into slashes: a proxied POST that missed the router was
      // spelled differently on the wire (/v1/x/../chat/completions), and is refused as ambiguous.
      if (request.method === "POST" && pathOf(request.url) in PROXIED) {
        const refusal = rewrittenTarget();
        metrics.refused("guard", refusal.code ?? "error", "");
        return refusal.toResponse();
      }
      return app.fetch(request);
    },
    error(error) {
      log("error", "unhandled error", { error: error.stack ?? error.message });
      return openAIError(500, "The gateway had an internal error while processing your request.", "server_error", "internal_error");
    },
  });
}
