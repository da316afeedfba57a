import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateKey } from "../keys/secret";
import { openKeyStore } from "../keys/store";
import { ANONYMOUS, assertModelAllowed, createAuthenticator, modelAllowed, presentedKey } from "./index";

const MASTER = "master-key-0123456789";
const dir = mkdtempSync(join(tmpdir(), "warden-auth-"));
const store = openKeyStore(join(dir, "keys.db"));
afterAll(() => {
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

const auth = createAuthenticator({ masterKey: MASTER, store });
const bearer = (key: string) => new Headers({ authorization: `Bearer ${key}` });
const refusal = (status: number, code: string) => expect.objectContaining({ status, code, type: status === 401 ? "authentication_error" : "permission_error" });

describe("presented key", () => {
  test("Bearer (any case, surrounding spaces) and x-api-key; other schemes are no key", () => {
    expect(presentedKey(new Headers({ authorization: `Bearer ${MASTER}` }))).toBe(MASTER);
    expect(presentedKey(new Headers({ authorization: `bearer   ${MASTER}  ` }))).toBe(MASTER);
    expect(presentedKey(new Headers({ "x-api-key": MASTER }))).toBe(MASTER);
    expect(presentedKey(new Headers({ authorization: "Basic abc" }))).toBeUndefined();
    expect(presentedKey(new Headers({ authorization: "Bearer a b" }))).toBeUndefined();
    expect(presentedKey(new Headers())).toBeUndefined();
  });
});

describe("master key", () => {
  test("either header form gives the admin principal, with no tenant and no limits", () => {
    for (const headers of [bearer(MASTER), new Headers({ "x-api-key": MASTER })]) {
      expect(auth(headers)).toEqual({ keyId: "master", tenant: null, key: null, tenantRecord: null, admin: true });
    }
  });

  test("missing → 401 missing_api_key; wrong → 401 invalid_api_key", () => {
    expect(() => auth(new Headers())).toThrow(refusal(401, "missing_api_key"));
    expect(() => auth(new Headers({ authorization: "Basic xyz" }))).toThrow(refusal(401, "missing_api_key"));
    expect(() => auth(bearer(`${MASTER}x`))).toThrow(refusal(401, "invalid_api_key"));
  });

  test("compares digests, so keys of any length (shorter, longer, a prefix of it) are just wrong", () => {
    // timingSafeEqual throws on unequal lengths: comparing raw keys would turn these into 500s.
    for (const wrong of ["x", MASTER.slice(0, -1), MASTER + MASTER, "m".repeat(4096)]) {
      expect(() => auth(bearer(wrong))).toThrow(refusal(401, "invalid_api_key"));
    }
  });

  test("without a master key auth is off: everyone is the anonymous principal", () => {
    const open = createAuthenticator({ masterKey: undefined, store });
    expect(open(new Headers())).toBe(ANONYMOUS);
    expect(open(bearer("anything"))).toEqual({ keyId: null, tenant: null, key: null, tenantRecord: null, admin: false });
  });

  test("without a key store only the master key passes", () => {
    const masterOnly = createAuthenticator({ masterKey: MASTER });
    expect(masterOnly(bearer(MASTER)).admin).toBe(true);
    expect(() => masterOnly(bearer(generateKey()))).toThrow(refusal(401, "invalid_api_key"));
  });
});

describe("virtual keys", () => {
  test("a valid key gives its id, tenant, record and tenant row; never admin", () => {
    const tenant = store.putTenant("acme", { rpm: 100 });
    const { record, secret } = store.createKey({ tenant: "acme", rpm: 5 });
    for (const headers of [bearer(secret), new Headers({ "x-api-key": secret })]) {
      expect(auth(headers)).toEqual({ keyId: record.id, tenant: "acme", key: record, tenantRecord: tenant, admin: false });
    }
    const lone = store.createKey({ tenant: "no-row" });
    expect(auth(bearer(lone.secret))).toMatchObject({ tenant: "no-row", tenantRecord: null });
  });

  test("malformed, unknown, revoked and disabled keys all get the same 401 invalid_api_key", () => {
    const revoked = store.createKey({ tenant: "acme" });
    store.revokeKey(revoked.record.id);
    const disabled = store.createKey({ tenant: "acme", enabled: false });
    const good = store.createKey({ tenant: "acme" }).secret;
    const typo = good.slice(0, 10) + (good[10] === "a" ? "b" : "a") + good.slice(11);
    const messages = new Set<string>();
    for (const key of [typo, generateKey(), revoked.secret, disabled.secret, "wdn-short"]) {
      try {
        auth(bearer(key));
        throw new Error("accepted");
      } catch (e) {
        expect(e).toMatchObject({ status: 401, code: "invalid_api_key" });
        expect((e as Error).message).not.toContain(key);
        messages.add((e as Error).message);
      }
    }
    expect(messages.size).toBe(1);
  });

  test("an expired key gets 401 expired_api_key; one expiring later passes", () => {
    const expired = store.createKey({ tenant: "acme", expiresAt: Date.now() - 1 });
    expect(() => auth(bearer(expired.secret))).toThrow(refusal(401, "expired_api_key"));
    const later = store.createKey({ tenant: "acme", expiresAt: Date.now() + 60_000 });
    expect(auth(bearer(later.secret)).keyId).toBe(later.record.id);
  });

  test("revocation, disabling and rotation apply from the next request", () => {
    const { record, secret } = store.createKey({ tenant: "acme" });
    expect(auth(bearer(secret)).keyId).toBe(record.id);
    store.updateKey(record.id, { enabled: false });
    expect(() => auth(bearer(secret))).toThrow(refusal(401, "invalid_api_key"));
    store.updateKey(record.id, { enabled: true });
    const rotated = store.rotateKey(record.id)!;
    expect(() => auth(bearer(secret))).toThrow(refusal(401, "invalid_api_key"));
    expect(auth(bearer(rotated.secret)).keyId).toBe(record.id);
    store.revokeKey(record.id);
    expect(() => auth(bearer(rotated.secret))).toThrow(refusal(401, "invalid_api_key"));
  });
});

describe("a failing key database", () => {
  test("fails closed with 503 auth_unavailable, not a 500 and not a pass", () => {
    const gone = openKeyStore(join(dir, "gone.db"));
    const { secret } = gone.createKey({ tenant: "acme" });
    gone.close();
    const broken = createAuthenticator({ masterKey: MASTER, store: gone });
    expect(() => broken(bearer(secret))).toThrow(expect.objectContaining({ status: 503, code: "auth_unavailable" }));
    expect(broken(bearer(MASTER)).admin).toBe(true);
  });
});

describe("model permission", () => {
  test("a key with a model list may use only those; others, the master key and anonymous use all", () => {
    const limited = auth(bearer(store.createKey({ tenant: "acme", models: ["gpt-4o-mini"] }).secret));
    expect(modelAllowed(limited, "gpt-4o-mini")).toBe(true);
    expect(() => assertModelAllowed(limited, "gpt-4o")).toThrow(expect.objectContaining({ status: 403, type: "permission_error", code: "model_not_allowed", param: "model" }));
    const unlimited = auth(bearer(store.createKey({ tenant: "acme" }).secret));
    for (const p of [unlimited, auth(bearer(MASTER)), ANONYMOUS]) expect(() => assertModelAllowed(p, "gpt-4o")).not.toThrow();
  });
});
