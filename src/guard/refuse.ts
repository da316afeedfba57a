/**
 * The guard's refusals: OpenAI-shaped errors with stable codes, each closing the connection.
 *
 * A request the guard refuses may have been crafted to desynchronise us from a proxy in front,
 * and whatever the client pipelined behind it is suspect too. `Connection: close` makes Bun
 * finish the connection after the refusal instead of reading the next request from it.
 */
import { GatewayError } from "../errors";

export type GuardCode =
  | "ambiguous_host"
  | "invalid_host"
  | "invalid_header"
  | "invalid_path"
  | "invalid_transfer_encoding"
  | "invalid_content_length"
  | "headers_too_large"
  | "request_too_large"
  | "malformed_body";

const CLOSE = Object.freeze({ connection: "close" });

/**
 * @example
 * throw refuse(400, "invalid_path", "The request path contains an encoded slash.");
 */
export function refuse(status: 400 | 413 | 431, code: GuardCode, message: string): GatewayError {
  return new GatewayError(status, message, "invalid_request_error", code, null, CLOSE, "guard");
}
