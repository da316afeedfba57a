/**
 * GET /metrics: the Prometheus text exposition, optionally behind a bearer token.
 *
 * With WARDEN_METRICS_TOKEN set, a scrape must send `Authorization: Bearer <token>` (the
 * master key is accepted too, so an operator can look without a second secret); otherwise
 * 401 in the OpenAI error shape. Without it the endpoint is open to whoever reaches the port:
 * the metrics hold no keys, prompts or request ids, but they do show traffic and tenant names.
 *
 * Secrets are compared as SHA-256 digests in constant time, like API keys (src/auth). They are
 * read through `access` on every scrape, so a reload (SIGHUP) that changes the token applies.
 *
 * @example
 * const serve = metricsEndpoint(metrics, () => ({ token: config.metricsToken, masterKey: config.masterKey }));
 * app.get("/metrics", ({ request }) => serve(request));
 */
import { timingSafeEqual } from "node:crypto";
import { openAIError } from "../errors";
import { secretHash } from "../keys/secret";

interface Exposition {
  contentType: string;
  exposition(): Promise<string>;
}

export interface MetricsAccess {
  token: string | undefined;
  masterKey: string | undefined;
}

const BEARER = /^Bearer\s+(\S+)\s*$/i;

export function metricsEndpoint(metrics: Exposition, access: () => MetricsAccess) {
  const headers = { "content-type": metrics.contentType };
  let hashedFor: MetricsAccess = { token: undefined, masterKey: undefined };
  let accepted: Buffer[] = [];

  /** The digests a scrape may present; none when no token is configured (open). */
  function digests(): Buffer[] {
    const now = access();
    if (now.token !== hashedFor.token || now.masterKey !== hashedFor.masterKey) {
      hashedFor = { ...now };
      accepted = now.token === undefined ? [] : [now.token, now.masterKey].filter((s): s is string => s !== undefined).map(secretHash);
    }
    return accepted;
  }

  function allowed(request: Request): boolean {
    const wanted = digests();
    if (wanted.length === 0) return true;
    const presented = BEARER.exec(request.headers.get("authorization") ?? "")?.[1];
    if (presented === undefined) return false;
    const hash = secretHash(presented);
    let ok = false;
    for (const h of wanted) ok = timingSafeEqual(hash, h) || ok; // no early exit: the same time for either secret
    return ok;
  }

  return async (request: Request): Promise<Response> => {
    if (!allowed(request)) {
      return openAIError(401, "Scraping /metrics needs `Authorization: Bearer <WARDEN_METRICS_TOKEN>`.", "authentication_error", "invalid_metrics_token", null, {
        "www-authenticate": 'Bearer realm="warden-metrics"',
      });
    }
    return new Response(await metrics.exposition(), { headers });
  };
}
