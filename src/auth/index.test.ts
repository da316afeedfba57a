import { describe, expect, test } from "bun:test";
import { createAuthenticator, presentedKey } from "./index";

const KEY = "master-key-0123456789";

describe("auth", () => {
  test("reads Bearer and x-api-key", () => {
    expect(presentedKey(new Headers({ authorization: `Bearer ${KEY}` }))).toBe(KEY);
    expect(presentedKey(new Headers({ "x-api-key": KEY }))).toBe(KEY);
    expect(presentedKey(new Headers({ authorization: `Basic abc` }))).toBeUndefined();
  });

  test("with a master key, only that key passes", () => {
    const auth = createAuthenticator(KEY);
    expect(() => auth(new Headers({ authorization: `Bearer ${KEY}` }))).not.toThrow();
    expect(() => auth(new Headers({ "x-api-key": KEY }))).not.toThrow();
    expect(() => auth(new Headers())).toThrow(expect.objectContaining({ status: 401, code: "missing_api_key" }));
    expect(() => auth(new Headers({ authorization: `Bearer ${KEY}x` }))).toThrow(expect.objectContaining({ status: 401, code: "invalid_api_key" }));
  });

  test("without a master key, auth is off", () => {
    expect(() => createAuthenticator(undefined)(new Headers())).not.toThrow();
  });
});
