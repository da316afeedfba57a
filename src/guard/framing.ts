/**
 * Body framing: one unambiguous way to tell where this request's body ends.
 *
 * Bun's parser already refuses Content-Length with Transfer-Encoding, differing duplicate
 * Content-Lengths, any transfer coding other than chunked, and a repeated Transfer-Encoding.
 * It lets through identical duplicate Content-Lengths (merged as "5, 5") and a chunked coding
 * spelled differently ("CHUNKED", or with a tab before it). A proxy in front may read those
 * differently, so only the two plain forms pass.
 */
import { refuse } from "./refuse";

function isDigits(value: string): boolean {
  if (value.length === 0) return false;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return false;
  }
  return true;
}

/**
 * Throws unless the body is framed by exactly one plain Content-Length, or by exactly
 * `Transfer-Encoding: chunked`, or by neither.
 *
 * @example
 * checkFraming("187", null); // fine
 * checkFraming(null, "chunked"); // fine
 * checkFraming("5, 5", null); // throws invalid_content_length
 */
export function checkFraming(contentLength: string | null, transferEncoding: string | null): void {
  if (transferEncoding !== null) {
    if (contentLength !== null) {
      throw refuse(400, "invalid_transfer_encoding", "The request has both Content-Length and Transfer-Encoding.");
    }
    if (transferEncoding !== "chunked") {
      throw refuse(400, "invalid_transfer_encoding", "Transfer-Encoding must be exactly `chunked`.");
    }
  }
  if (contentLength !== null && !isDigits(contentLength)) {
    throw refuse(400, "invalid_content_length", "Content-Length must be a single non-negative whole number.");
  }
}
