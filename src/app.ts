/**
 * The HTTP surface, with the hot path in order:
 *
 *   guard (body cap) ─▶ auth ─▶ adapter (model → upstream) ─▶ forwarder ─▶ upstream
 *
 * The forwarded routes are one plain function, {@link Gateway.proxy}, that runs the stages in
 * that order. In production Bun's native router calls it directly (`gateway.routes`): Elysia's
 * per-request context cost ~15 µs of CPU per request (measured, ~18% of a profile at c=32), more
 * than all our stages together. Elysia serves everything else (health, models, errors, 404s) and
 * mounts the same function, so `app.handle(...)` in tests exercises exactly the production path.
 *
 * Auth runs before the body is read or parsed, so an unauthenticated client learns nothing
 * about schemas.
 *
 * @example In-process, the way the tests drive it:
 * const { app } = createGateway(config, deps);
 * const res = await app.handle(new Request("http://localhost/health"));
 */
import { Elysia } from "elysia";
import type { Config } from "./config";
import { createAuthenticator } from "./auth";
import { readBody } from "./guard";
import { modelTable, parseRequest } from "./adapter";
import { forward } from "./forwarder";
import { GatewayError, openAIError } from "./errors";
import type { Endpoint } from "./providers/openai";
import { log } from "./log";

export interface AppDeps {
  /** Version of the loaded Rust core, or undefined if it failed to load. */
  coreVersion: string | undefined;
  /** Liveness of the audit worker, checked by /ready. */
  auditAlive: () => Promise<boolean>;
}

const started = Math.floor(Date.now() / 1000);

/** Path of an absolute request URL without allocating a URL object. */
function pathOf(url: string): string {
  const start = url.indexOf("/", url.indexOf("//") + 2);
  if (start < 0) return "/";
  const q = url.indexOf("?", start);
  return q < 0 ? url.slice(start) : url.slice(start, q);
}

function withRequestId(res: Response, requestId: string): Response {
  res.headers.set("x-request-id", requestId);
  return res;
}

type Server = { timeout(req: Request, seconds: number): void } | null;

/** The forwarded endpoints: URL path → upstream endpoint. */
const PROXIED: Record<string, Endpoint> = {
  "/v1/chat/completions": "chat/completions",
  "/v1/completions": "completions",
  "/v1/embeddings": "embeddings",
};

export function createGateway(config: Config, deps: AppDeps) {
  const models = modelTable(config.upstreams);
  const authenticate = createAuthenticator(config.masterKey);
  const modelList = {
    object: "list",
    data: config.upstreams.flatMap((u) => u.models.map((id) => ({ id, object: "model", created: started, owned_by: u.name }))),
  };

  async function proxy(endpoint: Endpoint, request: Request, server: Server): Promise<Response> {
    const requestId = `req_${Bun.randomUUIDv7().replaceAll("-", "")}`;
    try {
      authenticate(request.headers);
      const body = await readBody(request, config.maxBodyBytes);
      const { stream, target } = parseRequest(body, endpoint, models);
      // Model replies can take minutes; our own deadlines (forwarder) replace Bun's idle timeout.
      server?.timeout(request, 0);
      return await forward(
        { target, endpoint, body, stream, requestId, clientHeaders: request.headers, clientSignal: request.signal },
        config,
      );
    } catch (e) {
      if (e instanceof GatewayError) return withRequestId(e.toResponse(), requestId);
      throw e;
    }
  }

  const app = new Elysia()
    .onRequest(({ request }) => {
      const path = pathOf(request.url);
      if (!path.startsWith("/v1/") || path in PROXIED) return; // proxy() authenticates itself
      try {
        authenticate(request.headers);
      } catch (e) {
        if (e instanceof GatewayError) return e.toResponse();
        throw e;
      }
    })
    .onError(({ code, error }) => {
      if (code === "NOT_FOUND") return openAIError(404, "Unknown request URL. Please check the URL and method.", "invalid_request_error", "unknown_url");
      if (code === "PARSE") return openAIError(400, "The request body could not be parsed.", "invalid_request_error", "invalid_body");
      if (error instanceof GatewayError) return error.toResponse();
      // Never echo internal messages to clients; the log keeps them.
      log("error", "unhandled error", { code: String(code), error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
      return openAIError(500, "The gateway had an internal error while processing your request.", "server_error", "internal_error");
    })
    .get("/health", () => ({ status: "ok" }))
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
    .get("/v1/models", () => modelList)
    // Model ids may contain slashes ("meta-llama/Llama-3.1-8B"), hence the wildcard.
    .get("/v1/models/*", ({ params }) => {
      let id = params["*"];
      try {
        id = decodeURIComponent(id);
      } catch {} // a malformed escape is simply a model we do not have
      const found = modelList.data.find((m) => m.id === id);
      return found ?? openAIError(404, `The model \`${id}\` does not exist or you do not have access to it.`, "invalid_request_error", "model_not_found", "model");
    })
    .post("/v1/chat/completions", ({ request, server }) => proxy("chat/completions", request, server), { parse: "none" })
    .post("/v1/completions", ({ request, server }) => proxy("completions", request, server), { parse: "none" })
    .post("/v1/embeddings", ({ request, server }) => proxy("embeddings", request, server), { parse: "none" });

  /** Bun.serve `routes` for the hot path; anything else falls through to Elysia's `fetch`. */
  const routes = Object.fromEntries(
    Object.entries(PROXIED).map(([path, endpoint]) => [path, { POST: (req: Request, server: Server) => proxy(endpoint, req, server) }]),
  );
  return { app, routes, proxy };
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
  const { app, routes } = gateway;
  return Bun.serve({
    ...opts,
    reusePort: false,
    development: false,
    routes,
    fetch: app.fetch,
    error(error) {
      log("error", "unhandled error", { error: error.stack ?? error.message });
      return openAIError(500, "The gateway had an internal error while processing your request.", "server_error", "internal_error");
    },
  });
}
