/**
 * Stage 2, auth: who is calling.
 *
 * This first version knows one credential, the operator's master key (WARDEN_MASTER_KEY).
 * Without it client auth is off, which serve() announces loudly at start. The key is kept only
 * as its SHA-256 and compared in constant time, so neither its value nor timing leaks.
 */
import { timingSafeEqual } from "node:crypto";
import { GatewayError } from "../errors";

export type Authenticator = (headers: Headers) => void;

function sha256(text: string): Buffer {
  return Buffer.from(new Bun.CryptoHasher("sha256").update(text).digest() as Uint8Array);
}

/** The presented key from `Authorization: Bearer <key>` or `x-api-key: <key>`. */
export function presentedKey(headers: Headers): string | undefined {
  const auth = headers.get("authorization");
  if (auth !== null) {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(auth);
    return m ? m[1] : undefined;
  }
  return headers.get("x-api-key") ?? undefined;
}

/**
 * @example
 * const authenticate = createAuthenticator(config.masterKey);
 * authenticate(request.headers); // throws GatewayError(401) when the key is missing or wrong
 */
export function createAuthenticator(masterKey: string | undefined): Authenticator {
  if (masterKey === undefined) return () => {};
  const expected = sha256(masterKey);
  return (headers) => {
    const key = presentedKey(headers);
    if (key === undefined) {
      throw new GatewayError(401, "Missing API key: send it as `Authorization: Bearer <key>` or `x-api-key`.", "authentication_error", "missing_api_key");
    }
    if (!timingSafeEqual(sha256(key), expected)) {
      throw new GatewayError(401, "Incorrect API key provided.", "authentication_error", "invalid_api_key");
    }
  };
}
