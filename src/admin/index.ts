/**
 * The admin API under /admin: virtual keys and tenants. Only the master key may use it, sent
 * like any key (`Authorization: Bearer` or `x-api-key`).
 *
 * Without WARDEN_MASTER_KEY every /admin URL answers 404 `admin_disabled`: the API does not
 * exist in that configuration, and no credential could change that, which is what 404 says
 * (403 would suggest a better key might help). A valid virtual key is a known caller without
 * the right, hence 403 `admin_key_required`.
 *
 * The check runs in `onRequest`, before routing and body parsing, so a caller without the
 * master key learns nothing about routes or schemas. This plugin answers all of its own errors
 * (validation, parsing, the store's refusals), so it must be mounted before the app's onError.
 *
 * @example
 * new Elysia({ normalize: false }).use(adminApi({ enabled: config.masterKey !== undefined, authenticate, store }))
 */
import { Elysia } from "elysia";
import { GatewayError, openAIError } from "../errors";
import type { Authenticator } from "../auth";
import type { KeyStore } from "../keys/store";
import { keyWithSecret, shownKey, shownKeys, shownTenant, shownTenants } from "../keys/view";
import { log } from "../log";
import { CreateKeyBody, ListKeysQuery, TenantBody, UpdateKeyBody, keySettingsOf, newKeyOf, tenantSettingsOf, validationError } from "./schema";

export interface AdminOptions {
  /** False without a master key: the whole API answers 404 admin_disabled. */
  enabled: boolean;
  authenticate: Authenticator;
  store: KeyStore;
}

function isAdminPath(url: string): boolean {
  const start = url.indexOf("/", url.indexOf("//") + 2);
  return start >= 0 && url.startsWith("/admin", start) && (url.length === start + 6 || "/?".includes(url[start + 6]));
}

function authorize(opts: AdminOptions, headers: Headers): void {
  if (!opts.enabled) {
    throw new GatewayError(404, "The admin API is off: set WARDEN_MASTER_KEY to turn it on.", "invalid_request_error", "admin_disabled");
  }
  if (!opts.authenticate(headers).admin) {
    throw new GatewayError(403, "The admin API needs the master key.", "permission_error", "admin_key_required");
  }
}

const notJson = () => new GatewayError(400, "The request body must be a JSON object.", "invalid_request_error", "invalid_body");
const keyNotFound = (id: string) => new GatewayError(404, `No key with id '${id}'.`, "not_found_error", "key_not_found", "id");
const tenantNotFound = (id: string) => new GatewayError(404, `No tenant with id '${id}'.`, "not_found_error", "tenant_not_found", "id");

export function adminApi(opts: AdminOptions) {
  const { store } = opts;
  const found = <T>(value: T | null, id: string) => {
    if (value === null) throw keyNotFound(id);
    return value;
  };

  return new Elysia({ name: "warden-admin", prefix: "/admin", normalize: false })
    .onRequest(({ request }) => {
      if (!isAdminPath(request.url)) return;
      try {
        authorize(opts, request.headers);
      } catch (e) {
        if (e instanceof GatewayError) return e.toResponse();
        throw e;
      }
    })
    // Our own JSON parser: any content type (curl -d sends a form type), and a body that is not
    // a JSON object is refused here, before Elysia's coercion could turn [1,2] into {"0":1,"1":2}.
    .onParse(async ({ request }) => {
      const text = await request.text();
      if (text.trim() === "") return {};
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch {
        throw notJson();
      }
      if (value === null || typeof value !== "object" || Array.isArray(value)) throw notJson();
      return value;
    })
    .onError(({ code, error }) => {
      if (code === "VALIDATION") return validationError(error).toResponse();
      if (code === "PARSE") return notJson().toResponse();
      if (error instanceof GatewayError) return error.toResponse();
      log("error", "admin API error", { code: String(code), error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
      return openAIError(500, "The gateway had an internal error while processing your request.", "server_error", "internal_error");
    })
    .post(
      "/keys",
      ({ body, set }) => {
        const { record, secret } = store.createKey(newKeyOf(body));
        log("info", "key created", { key_id: record.id, tenant: record.tenant });
        set.status = 201;
        set.headers["cache-control"] = "no-store"; // the one reply that holds the secret
        return keyWithSecret(record, secret);
      },
      { body: CreateKeyBody },
    )
    .get("/keys", ({ query }) => shownKeys(store, store.listKeys({ tenant: query.tenant })), { query: ListKeysQuery })
    .get("/keys/:id", ({ params }) => shownKey(store, found(store.getKey(params.id), params.id)))
    .patch(
      "/keys/:id",
      ({ params, body }) => {
        const record = found(store.updateKey(params.id, keySettingsOf(body)), params.id);
        log("info", "key updated", { key_id: record.id, fields: Object.keys(body) });
        return shownKey(store, record);
      },
      { body: UpdateKeyBody },
    )
    .post("/keys/:id/revoke", ({ params }) => {
      const record = found(store.revokeKey(params.id), params.id);
      log("info", "key revoked", { key_id: record.id });
      return shownKey(store, record);
    })
    .post("/keys/:id/rotate", ({ params, set }) => {
      const { record, secret } = found(store.rotateKey(params.id), params.id);
      log("info", "key rotated", { key_id: record.id });
      set.headers["cache-control"] = "no-store";
      return keyWithSecret(record, secret, store.spentMicros("key", record.id));
    })
    .put(
      "/tenants/:id",
      ({ params, body }) => {
        const record = store.putTenant(params.id, tenantSettingsOf(body));
        log("info", "tenant set", { tenant: record.id });
        return shownTenant(store, record);
      },
      { body: TenantBody },
    )
    .get("/tenants", () => shownTenants(store, store.listTenants()))
    .get("/tenants/:id", ({ params }) => {
      const record = store.getTenant(params.id);
      if (record === null) throw tenantNotFound(params.id);
      return shownTenant(store, record);
    });
}
