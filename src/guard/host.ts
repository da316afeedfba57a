/**
 * The Host header: exactly one, naming the authority `request.url` was built from.
 *
 * Bun merges a repeated Host into one value joined by ", " (it does not refuse it), and builds
 * `request.url` from the first one, lower-cased and without a default port. For an absolute-form
 * target (`POST http://other/v1/... HTTP/1.1`) Bun drops the target's authority and keeps only
 * Host, so a disagreement between the two never reaches user code; the comparison here still
 * refuses any request whose URL and Host disagree (in-process requests, a future Bun).
 */
import { refuse } from "./refuse";

/** Host with the scheme's default port dropped, the way the URL spells the authority. */
function withoutDefaultPort(host: string, https: boolean): string {
  const port = https ? ":443" : ":80";
  return host.endsWith(port) ? host.slice(0, -port.length) : host;
}

/**
 * Throws unless `host` (the Host header, or null when absent) agrees with the URL's authority.
 * `start` is where the URL's path starts (after `http://authority`).
 *
 * @example
 * checkHost("http://a:8080/v1/models", 13, "a:8080"); // fine
 * checkHost("http://a/v1/models", 8, "a, b"); // throws ambiguous_host
 */
export function checkHost(url: string, start: number, host: string | null): void {
  // A request built in-process may carry no Host; its URL is then the only authority there is.
  if (host === null) return;
  if (host.includes(",")) throw refuse(400, "ambiguous_host", "The request has more than one Host header.");
  const https = url.charCodeAt(4) === 0x73; // "https://" vs "http://"
  const from = https ? 8 : 7;
  if (from + host.length === start && url.startsWith(host, from)) return; // the usual case: no allocation
  const normal = withoutDefaultPort(host.toLowerCase(), https);
  if (from + normal.length === start && url.startsWith(normal, from)) return;
  throw refuse(400, "ambiguous_host", "The Host header does not match the request target.");
}
