/**
 * Stage 1, the smuggling guard: what reaches the handler must be unambiguous and bounded.
 *
 * Bun calls the handler before a chunked body has been fully validated, so the body is read in
 * whole (up to the cap) here, before anything is forwarded, and the cap is enforced while the
 * bytes stream in rather than after buffering an attacker's gigabyte.
 */
import { GatewayError } from "../errors";

export interface GuardLimits {
  /** Largest request head accepted (request line and headers), in bytes. */
  maxHeaderBytes: number;
}

/**
 * Refuses a request whose head is ambiguous or oversized, before anything else looks at it.
 *
 * @example
 * guardRequest(request, { maxHeaderBytes: 16384 }); // throws GatewayError(400 | 431)
 */
export function guardRequest(request: Request, limits: GuardLimits): void {
  let size = request.url.length;
  for (const [name, value] of request.headers) size += name.length + value.length + 4;
  if (size > limits.maxHeaderBytes) {
    throw new GatewayError(431, `Request headers too large: the limit is ${limits.maxHeaderBytes} bytes.`, "invalid_request_error", "headers_too_large");
  }
}

function tooLarge(max: number): GatewayError {
  return new GatewayError(413, `Request body too large: the limit is ${max} bytes.`, "invalid_request_error", "request_too_large");
}

/**
 * Reads the request body, refusing it with 413 as soon as it exceeds `maxBytes`.
 *
 * @example
 * const body = await readBody(request, 8 << 20); // Uint8Array, or throws GatewayError(413)
 */
export async function readBody(request: Request, maxBytes: number): Promise<Uint8Array> {
  const declared = request.headers.get("content-length");
  if (declared !== null) {
    if (Number(declared) > maxBytes) throw tooLarge(maxBytes);
    // Bun's parser holds the body to its declared length, so one native read is safe and fastest.
    return new Uint8Array(await request.arrayBuffer());
  }
  if (request.body === null) return new Uint8Array(0);
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      reader.cancel().catch(() => {});
      throw tooLarge(maxBytes);
    }
    chunks.push(value);
  }
  if (chunks.length === 1) return chunks[0];
  const body = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    body.set(c, at);
    at += c.byteLength;
  }
  return body;
}
