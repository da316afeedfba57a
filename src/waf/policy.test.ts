import { describe, expect, test } from "bun:test";
import { actionFor, DEFAULT_POLICY, mergePolicies, parsePolicy } from "./policy";

describe("parsePolicy", () => {
  test("parses categories, rule ids and *, ignoring blanks and spaces", () => {
    expect(parsePolicy(" injection=block, pii.email = redact ,,secret=flag,*=off ")).toEqual({
      injection: "block",
      "pii.email": "redact",
      secret: "flag",
      "*": "off",
    });
    expect(parsePolicy("")).toEqual({});
  });

  test("names the bad entry for an unknown rule, category or action, or a malformed entry", () => {
    expect(() => parsePolicy("injection=block,pii.emial=redact")).toThrow(/"pii\.emial=redact".*unknown rule or category "pii\.emial"/);
    expect(() => parsePolicy("malware=block")).toThrow(/unknown rule or category "malware"/);
    expect(() => parsePolicy("pii=censor")).toThrow(/"pii=censor": unknown action "censor" \(expected one of block, redact, flag, off\)/);
    expect(() => parsePolicy("pii")).toThrow(/"pii" is not of the form key=action/);
    expect(() => parsePolicy("pii=flag,pii=block")).toThrow(/"pii" is already set to flag/);
  });
});

describe("resolution", () => {
  test("the most specific key wins: rule id, then category, then *, else off", () => {
    const policy = { "*": "flag", pii: "redact", "pii.email": "off" } as const;
    expect(actionFor(policy, "pii.email", "pii")).toBe("off");
    expect(actionFor(policy, "pii.phone", "pii")).toBe("redact");
    expect(actionFor(policy, "secret.jwt", "secret")).toBe("flag");
    expect(actionFor({}, "secret.jwt", "secret")).toBe("off");
  });

  test("the default blocks injections, redacts secrets and flags PII", () => {
    expect(actionFor(DEFAULT_POLICY, "injection.fake_turn", "injection")).toBe("block");
    expect(actionFor(DEFAULT_POLICY, "secret.aws_access_key", "secret")).toBe("redact");
    expect(actionFor(DEFAULT_POLICY, "pii.ssn", "pii")).toBe("flag");
  });
});

describe("mergePolicies", () => {
  test("later layers win, and a general key overrides earlier specific ones it covers", () => {
    const global = mergePolicies(DEFAULT_POLICY, { "pii.email": "redact", "secret.jwt": "flag" });
    const tenant = { pii: "off" } as const;
    const key = { "*": "flag" } as const;
    const tenantView = mergePolicies(global, tenant);
    expect(actionFor(tenantView, "pii.email", "pii")).toBe("off");
    expect(actionFor(tenantView, "secret.jwt", "secret")).toBe("flag");
    expect(actionFor(tenantView, "secret.stripe_key", "secret")).toBe("redact");
    const keyView = mergePolicies(global, tenant, key);
    expect(keyView).toEqual({ "*": "flag" });
  });

  test("within one layer the specific key survives its own general key; undefined layers are skipped", () => {
    const merged = mergePolicies({ "pii.email": "block" }, undefined, { pii: "flag", "pii.email": "redact" });
    expect(actionFor(merged, "pii.email", "pii")).toBe("redact");
    expect(actionFor(merged, "pii.ssn", "pii")).toBe("flag");
  });

  test("does not change its inputs", () => {
    const a = { "pii.email": "redact" } as const;
    mergePolicies(a, { pii: "off" });
    expect(a).toEqual({ "pii.email": "redact" });
  });
});
