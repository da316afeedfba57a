/**
 * Stage 2, auth: who is calling, and which tenant they belong to.
 *
 * Two kinds of credential, sent as `Authorization: Bearer <key>` or `x-api-key: <key>`:
 * - the operator's master key (WARDEN_MASTER_KEY): the admin principal, no limits, no tenant;
 * - a virtual key (`wdn-...`, see src/keys/secret.ts) from the key store: its tenant, limits,
 *   allowed models and WAF overrides come from its record, never from the request.
 *
 * Without a master key client auth is off (serve() announces it loudly) and every caller is
 * the anonymous principal.
 *
 * The presented key is hashed once (SHA-256). That hash is compared with the master key's in
 * constant time and is what the store looks virtual keys up by, so no secret is ever compared
 * byte by byte. Malformed keys (wrong shape or checksum) are refused before any look-up.
 * Errors and logs name a key only by its id.
 */
import { timingSafeEqual } from "node:crypto";
import { GatewayError } from "../errors";
import { isWellFormed, secretHash } from "../keys/secret";
import type { KeyMatch, KeyStore } from "../keys/store";
import { log } from "../log";
import type { KeyRecord, TenantRecord } from "../keys/types";

export interface Principal {
  /** The virtual key's public id; `"master"` for the master key; null when auth is off. */
  keyId: string | null;
  tenant: string | null;
  key: KeyRecord | null;
  tenantRecord: TenantRecord | null;
  /** The master key: may use the admin API; later stages apply no limits to it. */
  admin: boolean;
}

export type Authenticator = (headers: Headers) => Principal;

/** Who calls when client auth is off. */
export const ANONYMOUS: Principal = Object.freeze({ keyId: null, tenant: null, key: null, tenantRecord: null, admin: false });
const MASTER: Principal = Object.freeze({ keyId: "master", tenant: null, key: null, tenantRecord: null, admin: true });

function refuse(code: "missing_api_key" | "invalid_api_key" | "expired_api_key"): GatewayError {
  const message =
    code === "missing_api_key"
      ? "Missing API key: send it as `Authorization: Bearer <key>` or `x-api-key`."
      : code === "expired_api_key"
        ? "The API key provided has expired."
        : // One message for malformed, unknown, revoked and disabled keys: an attacker learns nothing.
          "Incorrect API key provided.";
  return new GatewayError(401, message, "authentication_error", code, null, undefined, "auth");
}

/** A key database that fails (deleted, disk error) fails closed: 503, and the cause in the log. */
function lookup(store: KeyStore, hash: Uint8Array): KeyMatch | null {
  try {
    return store.lookup(hash);
  } catch (e) {
    log("error", "key database look-up failed", { error: (e as Error).message });
    throw new GatewayError(503, "The gateway cannot check API keys right now.", "server_error", "auth_unavailable", null, undefined, "auth");
  }
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
 * const authenticate = createAuthenticator({ masterKey: config.masterKey, store });
 * const principal = authenticate(request.headers); // throws GatewayError(401) when refused
 */
export function createAuthenticator(opts: { masterKey: string | undefined; store?: KeyStore }): Authenticator {
  const { masterKey, store } = opts;
  if (masterKey === undefined) return () => ANONYMOUS;
  const masterHash = secretHash(masterKey);
  return (headers) => {
    const presented = presentedKey(headers);
    if (presented === undefined) throw refuse("missing_api_key");
    const hash = secretHash(presented);
    if (timingSafeEqual(hash, masterHash)) return MASTER;
    if (store === undefined || !isWellFormed(presented)) throw refuse("invalid_api_key");
    const match = lookup(store, hash);
    if (match === null) throw refuse("invalid_api_key");
    const { key, tenant } = match;
    if (key.revokedAt !== null || !key.enabled) throw refuse("invalid_api_key");
    if (key.expiresAt !== null && Date.now() >= key.expiresAt) throw refuse("expired_api_key");
    return { keyId: key.id, tenant: key.tenant, key, tenantRecord: tenant, admin: false };
  };
}

/** Whether the principal may use `model` (keys without a model list may use every model). */
export function modelAllowed(principal: Principal, model: string): boolean {
  const models = principal.key?.models;
  return models == null || models.includes(model);
}

/**
 * Refuses a model the key may not use, the way OpenAI does: 403 `permission_error`.
 *
 * @example
 * assertModelAllowed(principal, parsed.model); // throws GatewayError(403, code model_not_allowed)
 */
export function assertModelAllowed(principal: Principal, model: string): void {
  if (!modelAllowed(principal, model)) {
    throw new GatewayError(403, `This API key is not allowed to use the model \`${model}\`.`, "permission_error", "model_not_allowed", "model", undefined, "auth");
  }
}
