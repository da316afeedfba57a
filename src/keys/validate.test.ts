import { describe, expect, test } from "bun:test";
import { checkPolicy, checkSettings, checkTenantId, parseExpiry } from "./validate";

describe("expiry", () => {
  const now = Date.UTC(2026, 0, 1, 12);
  test.each([
    ["30d", now + 30 * 86_400_000],
    ["12h", now + 12 * 3_600_000],
    ["90m", now + 90 * 60_000],
    ["2w", now + 14 * 86_400_000],
    ["2026-12-31", Date.UTC(2026, 11, 31)],
    ["2026-12-31T18:00:00Z", Date.UTC(2026, 11, 31, 18)],
    ["2026-12-31T18:00:00.250+01:00", Date.UTC(2026, 11, 31, 17, 0, 0, 250)],
    ["2026-12-31T18:00Z", Date.UTC(2026, 11, 31, 18)],
  ])("%s", (text, expected) => {
    expect(parseExpiry(text, now)).toBe(expected);
  });

  test.each(["", "soon", "30", "30y", "-1d", "2026-13-45", "2026-12-31T18:00:00", "31/12/2026", "1e3d"])("refuses %j", (text) => {
    expect(parseExpiry(text, now)).toBeUndefined();
  });
});

describe("WAF policy overrides", () => {
  test("accept *, categories and category.rule with the four actions", () => {
    expect(() => checkPolicy({ "*": "flag", injection: "block", pii: "redact", secret: "off", "pii.email": "redact", "secret.aws_access_key": "block" })).not.toThrow();
  });

  test.each([
    [{ sql: "block" }, "waf_policy.sql"],
    [{ "pii.": "block" }, "waf_policy.pii."],
    [{ "PII.email": "block" }, "waf_policy.PII.email"],
    [{ "pii.email.extra": "block" }, "waf_policy.pii.email.extra"],
    [{ pii: "BLOCK" }, "waf_policy.pii"],
    [{ pii: "allow" }, "waf_policy.pii"],
    [{ pii: 1 }, "waf_policy.pii"],
    [["pii"], "waf_policy"],
  ])("refuse %j naming %s", (policy, param) => {
    expect(() => checkPolicy(policy)).toThrow(expect.objectContaining({ status: 400, param }));
  });
});

describe("settings", () => {
  test("tenant ids are plain: letters, digits and . _ : -", () => {
    for (const ok of ["acme", "a", "team-1.prod:eu_west", "X".repeat(64)]) expect(checkTenantId(ok)).toBe(ok);
    for (const bad of ["", "-acme", "a b", "a/b", "ä", "X".repeat(65), 5]) expect(() => checkTenantId(bad)).toThrow();
  });

  test("limits are whole numbers ≥ 1 or null; budgets ≥ 0", () => {
    expect(() => checkSettings({ rpm: 1, tpm: null, maxConcurrent: 10, maxBudgetUsd: 0 })).not.toThrow();
    for (const rpm of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 1e13]) {
      expect(() => checkSettings({ rpm })).toThrow(expect.objectContaining({ param: "rpm" }));
    }
    expect(() => checkSettings({ maxBudgetUsd: Number.NaN })).toThrow(expect.objectContaining({ param: "max_budget_usd" }));
  });

  test("metadata is a small string map", () => {
    expect(() => checkSettings({ metadata: { a: "b" } })).not.toThrow();
    expect(() => checkSettings({ metadata: { a: "x".repeat(1025) } })).toThrow(expect.objectContaining({ param: "metadata.a" }));
    expect(() => checkSettings({ metadata: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, "v"])) })).toThrow(expect.objectContaining({ param: "metadata" }));
  });
});
