/**
 * The request body, read in whole before anything is forwarded.
 *
 * Bun calls the handler as soon as the head is parsed; a chunked body is validated only as it
 * streams in, and a malformed chunk (bad size, missing CRLF) surfaces as a failed read. Reading
 * the whole body first means such a request fails here and never becomes an upstream request.
 * The cap is enforced while bytes arrive, not after buffering an attacker's gigabyte.
 */
import { refuse } from "./refuse";

function tooLarge(max: number) {
  return refuse(413, "request_too_large", `Request body too large: the limit is ${max} bytes.`);
}

// The client usually never sees this (Bun has already answered 400 and closed the connection),
// but the refusal is recorded, and it is not mistaken for an internal error.
function malformed() {
  return refuse(400, "malformed_body", "The request body was malformed or cut short.");
}

/**
 * Reads the request body, refusing it with 413 as soon as it exceeds `maxBytes`, and with 400
 * when its framing breaks while it streams in.
 *
 * @example
 * const body = await readBody(request, 8 << 20); // Uint8Array, or throws GatewayError(413 | 400)
 */
export async function readBody(request: Request, maxBytes: number): Promise<Uint8Array> {
  const declared = request.headers.get("content-length");
  if (declared !== null) {
    if (Number(declared) > maxBytes) throw tooLarge(maxBytes);
    // Bun's parser holds the body to its declared length, so one native read is safe and fastest.
    try {
      return new Uint8Array(await request.arrayBuffer());
    } catch {
      throw malformed();
    }
  }
  if (request.body === null) return new Uint8Array(0);
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const step = await reader.read().catch(() => {
      throw malformed();
    });
    if (step.done) break;
    size += step.value.byteLength;
    if (size > maxBytes) {
      reader.cancel().catch(() => {});
      throw tooLarge(maxBytes);
    }
    chunks.push(step.value);
  }
  // Bun ends a chunked body at its last chunk (`0\r\n`), before it parses the trailer section.
  // A broken (or any: Bun supports none) trailer then closes the connection, which the signal
  // shows one turn of the event loop later; without this turn that request would still be
  // forwarded. Only chunked bodies pay for it.
  await new Promise((resolve) => setImmediate(resolve));
  if (request.signal.aborted) throw malformed();
  if (chunks.length === 1) return chunks[0];
  const body = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    body.set(c, at);
    at += c.byteLength;
  }
  return body;
}
