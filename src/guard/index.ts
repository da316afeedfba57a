/**
 * Stage 1, the smuggling guard: what reaches the handler must be unambiguous and bounded.
 *
 * Bun's HTTP parser refuses most framing tricks itself, with a bare 400 and a closed connection
 * (CL+TE, differing duplicate Content-Length, obs-fold, bare CR/LF, bad chunk sizes, control
 * characters other than tab and DEL in fields), and 431 for a head over 16 KiB or 200 fields.
 * This guard refuses what Bun lets through but a proxy in front could read differently:
 * a repeated Host, a Host that disagrees with the URL, a chunked coding spelled oddly, merged
 * duplicate Content-Lengths, DEL or other control characters in values, and paths with encoded
 * slashes, backslashes, dots or NULs. Every refusal closes the connection.
 *
 * The checks run on every request: one pass over the path's characters and one over the
 * headers, no allocation of our own on the way (bench/guard.ts measures it).
 */
import type { GatewayError } from "../errors";
import { checkFraming } from "./framing";
import { checkHost } from "./host";
import { refuse } from "./refuse";
import { pathProblem, pathStart } from "./target";

export { readBody } from "./body";
export type { GuardCode } from "./refuse";

export interface GuardLimits {
  /** Largest request head accepted (request line and headers), in bytes. */
  maxHeaderBytes: number;
}

/** True when `value` holds a control character other than tab (RFC 9110 field-value). */
function hasControl(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09) || c === 0x7f) return true;
  }
  return false;
}

/**
 * Refuses a request whose head is ambiguous or oversized, before anything else looks at it.
 * Throws a GatewayError (400, or 431 for size) carrying `Connection: close`.
 *
 * @example
 * guardRequest(request, { maxHeaderBytes: 16384 }); // throws GatewayError(400 | 431)
 */
export function guardRequest(request: Request, limits: GuardLimits): void {
  const url = request.url;
  const start = pathStart(url);
  if (start < 0) throw refuse(400, "invalid_host", "The request needs one Host header naming a valid host.");
  const problem = pathProblem(url, start);
  if (problem !== undefined) throw refuse(400, "invalid_path", `The request path contains ${problem}.`);

  // One pass over the headers: walking them is most of the guard's cost (Bun creates each
  // name and value string on access), so the three it needs are picked up on the way instead
  // of three more look-ups. Names need no check: the Headers class and Bun's parser both refuse
  // any name that is not an RFC 9110 token.
  let size = url.length;
  let host: string | null = null;
  let contentLength: string | null = null;
  let transferEncoding: string | null = null;
  for (const [name, value] of request.headers) {
    size += name.length + value.length + 4; // ": " and CRLF
    if (hasControl(value)) throw refuse(400, "invalid_header", `Header '${name}' contains a control character.`);
    if (name === "host") host = value;
    else if (name === "content-length") contentLength = value;
    else if (name === "transfer-encoding") transferEncoding = value;
  }
  if (size > limits.maxHeaderBytes) {
    throw refuse(431, "headers_too_large", `Request headers too large: the limit is ${limits.maxHeaderBytes} bytes.`);
  }
  checkHost(url, start, host);
  checkFraming(contentLength, transferEncoding);
}

/**
 * The refusal for a target Bun rewrote before user code could see it. Bun normalises
 * `request.url` (removes `.`/`..` segments, raw or `%2e`, and turns `\` into `/`), but its
 * router matches the raw target: a request that reaches the server's fallback `fetch` although
 * its normalised path is one of the router's own routes was spelled differently on the wire.
 *
 * @example In Bun.serve's fallback, where `routes` holds the proxied POST paths:
 * fetch(request, server) {
 *   if (request.method === "POST" && pathOf(request.url) in PROXIED) return rewrittenTarget().toResponse();
 *   return app.fetch(request, server);
 * }
 */
export function rewrittenTarget(): GatewayError {
  return refuse(400, "invalid_path", "The request path contains a dot segment or a backslash.");
}
