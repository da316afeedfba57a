/**
 * The dashboard at GET /dashboard: one HTML page, its stylesheet and its script, all held in
 * memory. The page and stylesheet are imported as text and the script is bundled at build time
 * (bundle.ts, a Bun macro), so `bun build --compile` embeds all three in the binary and the
 * page needs no file on disk and nothing from the internet.
 *
 * The page itself is public, like any login page: it holds no data. Everything it shows comes
 * from the gateway's own authenticated endpoints (/metrics, /v1/audit/...), called by the
 * browser with the admin key the user typed in. GET /dashboard/session checks that key at
 * sign-in: /metrics cannot, as it is open when WARDEN_METRICS_TOKEN is unset, and the audit
 * endpoints take any tenant's key too.
 *
 * A strict Content-Security-Policy backs the "nothing from the internet" promise in the browser:
 * scripts, styles and fetches may only go to this origin, and no other site may frame the page.
 *
 * @example
 * new Elysia().use(dashboard({ adminEnabled: config.masterKey !== undefined, authenticate }));
 */
import { Elysia } from "elysia";
import type { Authenticator } from "../auth";
import { GatewayError } from "../errors";
import { browserBundle } from "./bundle" with { type: "macro" };
import pageText from "./page/index.html" with { type: "text" };
import stylesheet from "./page/style.css" with { type: "text" };

// The text attribute makes it a string; bun-types types every .html import as an HTMLBundle.
const page = pageText as unknown as string;

export interface DashboardOptions {
  /** False without WARDEN_MASTER_KEY: the page says so and skips its sign-in form. */
  adminEnabled: boolean;
  /** The gateway's authenticator (src/auth): the session check accepts its admin principal only. */
  authenticate: Authenticator;
}

const script: string = browserBundle();

const SECURITY_HEADERS = {
  "content-security-policy":
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  // The page is tiny and changes with every upgrade of the binary: always revalidate.
  "cache-control": "no-cache",
};

function asset(body: string, contentType: string): () => Response {
  return () => new Response(body, { headers: { "content-type": contentType, ...SECURITY_HEADERS } });
}

/** 204 for the master key; the OpenAI-shaped 401 (bad key) or 403 (a tenant's key) otherwise. */
function checkSession(opts: DashboardOptions, request: Request): Response {
  try {
    if (!opts.adminEnabled) {
      throw new GatewayError(404, "The admin key is off: set WARDEN_MASTER_KEY to turn it on.", "invalid_request_error", "admin_disabled");
    }
    if (!opts.authenticate(request.headers).admin) {
      throw new GatewayError(403, "The dashboard needs the master key.", "permission_error", "admin_key_required");
    }
    return new Response(null, { status: 204, headers: { "cache-control": "no-store" } });
  } catch (e) {
    if (e instanceof GatewayError) return e.toResponse();
    throw e;
  }
}

export function dashboard(opts: DashboardOptions) {
  const html = page.replace("__WARDEN_ADMIN__", opts.adminEnabled ? "on" : "off");
  return new Elysia({ name: "warden-dashboard" })
    .get("/dashboard/session", ({ request }) => checkSession(opts, request))
    .get("/dashboard", asset(html, "text/html; charset=utf-8"))
    .get("/dashboard/app.js", asset(script, "text/javascript; charset=utf-8"))
    .get("/dashboard/app.css", asset(stylesheet, "text/css; charset=utf-8"));
}
