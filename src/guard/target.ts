/**
 * The request target: paths that two parsers could read as two different resources.
 *
 * Bun hands us `request.url` already normalised the WHATWG way: it removes dot segments, raw
 * and percent-encoded (`/a/../b`, `/a/%2e%2e/b`), and turns `\` into `/`, before user code sees
 * it. It keeps `%2f`, `%5c` and `%00` as they came. So on a server request only the encoded forms
 * reach this check; the raw forms are checked anyway for requests built in-process and for a
 * future Bun that stops normalising. Only the path is checked: an encoded slash in a query value
 * (`?after=a%2Fb`) is ordinary.
 *
 * One exception: after `/v1/models/` the rest of the path is a single opaque model id, and the
 * official SDKs percent-encode the slash of ids like `meta-llama/Llama-3.1-8B` as `%2F`. Every
 * spelling there reaches the same handler, so an encoded slash cannot change the route.
 */

const SLASH = 0x2f;
const DOT = 0x2e;
const PERCENT = 0x25;
const BACKSLASH = 0x5c;
const QUESTION = 0x3f;
const HASH = 0x23;
const FRAGMENT = "a fragment (#)";
const MODEL_ID_PREFIX = "/v1/models/";

/**
 * Index where the path of an absolute `http(s)://` URL starts, or -1 when the URL is not one.
 * Bun makes `request.url` relative when the Host header is missing (HTTP/1.0) or not a valid
 * authority, so -1 means "no usable Host".
 *
 * @example
 * pathStart("http://a:8080/v1/models"); // 13
 * pathStart("/v1/models"); // -1
 */
export function pathStart(url: string): number {
  let from: number;
  if (url.startsWith("http://")) from = 7;
  else if (url.startsWith("https://")) from = 8;
  else return -1;
  const start = url.indexOf("/", from);
  return start < 0 ? url.length : start;
}

/** A `%XY` escape that decodes to something that changes how a path splits or ends. */
function dangerousEscape(url: string, at: number, slashAllowed: boolean): string | undefined {
  const hi = url.charCodeAt(at + 1);
  const lo = url.charCodeAt(at + 2) | 0x20; // ASCII letters to lower case; digits keep their bit
  if (hi === 0x32 && lo === 0x66) return slashAllowed ? undefined : "an encoded slash (%2F)";
  if (hi === 0x35 && lo === 0x63) return "an encoded backslash (%5C)";
  if (hi === 0x32 && lo === 0x65) return "an encoded dot (%2E)";
  if (hi === 0x30 && lo === 0x30) return "an encoded NUL (%00)";
  return undefined;
}

/** True when the segment after the `/` at `slash` is `.` or `..` (ended by `/`, `?`, `#` or the end). */
function isDotSegment(url: string, slash: number): boolean {
  let i = slash + 1;
  if (url.charCodeAt(i) !== DOT) return false;
  i++;
  if (url.charCodeAt(i) === DOT) i++;
  if (i >= url.length) return true;
  const c = url.charCodeAt(i);
  return c === SLASH || c === QUESTION || c === HASH;
}

/**
 * What makes the path ambiguous, or undefined when it is plain. `start` is {@link pathStart}.
 * One pass over the path's characters, no allocation.
 *
 * @example
 * pathProblem("http://a/v1%2fchat/completions", 8); // "an encoded slash (%2F)"
 * pathProblem("http://a/v1/chat/completions?after=a%2Fb", 8); // undefined
 * pathProblem("http://a/v1/models/meta-llama%2FLlama-3.1-8B", 8); // undefined
 */
export function pathProblem(url: string, start: number): string | undefined {
  const inModelId = url.startsWith(MODEL_ID_PREFIX, start);
  for (let i = start; i < url.length; i++) {
    const c = url.charCodeAt(i);
    if (c === QUESTION) {
      // A fragment is never part of a request target; a proxy would strip it, we would not.
      return url.indexOf("#", i) < 0 ? undefined : FRAGMENT;
    }
    if (c === PERCENT) {
      const problem = dangerousEscape(url, i, inModelId);
      if (problem !== undefined) return problem;
    } else if (c === SLASH) {
      if (isDotSegment(url, i)) return "a dot segment (. or ..)";
    } else if (c === BACKSLASH) return "a backslash";
    else if (c === HASH) return FRAGMENT;
  }
  return undefined;
}
