// Budget refusals as clients see them: status, OpenAI error shape, code, and what the message says.
import { describe, expect, test } from "bun:test";
import type { Account, Refusal } from "./book";
import { budgetError, unpricedError } from "./reply";

const key: Account = { kind: "key", id: "key_ab12", budget: 10_000 };
const tenant: Account = { kind: "tenant", id: "acme", budget: 10_000 };

const body = (e: ReturnType<typeof budgetError>) => JSON.parse(new TextDecoder().decode(e.body()));

describe("budgetError", () => {
  test("over budget: 429 insufficient_quota, no Retry-After, naming the account and the amounts", () => {
    const r: Refusal = { ok: false, account: key, budget: 10_000, spent: 6_000, reserved: 1_000, requested: 4_000 };
    const e = budgetError(r);
    expect(e.status).toBe(429);
    expect(e.stage).toBe("budget");
    expect(e.headers?.["retry-after"]).toBeUndefined();
    const { error } = body(e);
    expect(error).toMatchObject({ type: "insufficient_quota", code: "insufficient_quota", param: null });
    expect(error.message).toContain("key key_ab12");
    expect(error.message).toContain("held by requests in flight");
    expect(error.message).toContain("lower max_tokens");
  });

  test('reason "budget" is the same as no reason', () => {
    const r: Refusal = { ok: false, reason: "budget", account: tenant, budget: 10_000, spent: 10_000, reserved: 0, requested: 1 };
    const e = budgetError(r);
    expect(e.status).toBe(429);
    expect(body(e).error.message).toContain("tenant acme");
    expect(body(e).error.message).toContain("Raise the budget");
  });

  test("a shared store that cannot be asked: 503 budget_unavailable with Retry-After, in the OpenAI shape", () => {
    const r: Refusal = { ok: false, reason: "unavailable", account: tenant, budget: 10_000, spent: 0, reserved: 0, requested: 500 };
    const e = budgetError(r);
    expect(e.status).toBe(503);
    expect(e.stage).toBe("budget");
    expect(e.headers?.["retry-after"]).toBe("1");
    const { error } = body(e);
    expect(error).toMatchObject({ type: "server_error", code: "budget_unavailable", param: null });
    expect(error.message).toContain("tenant acme");
    expect(error.message).not.toContain("$"); // no amounts: they are unknown
    const res = e.toResponse();
    expect(res.status).toBe(503);
    expect(res.headers.get("content-type")).toBe("application/json");
  });
});

describe("unpricedError", () => {
  test("403 model_not_priced naming the model and the account", () => {
    const e = unpricedError("llama3", key);
    expect(e.status).toBe(403);
    expect(body(e).error).toMatchObject({ type: "permission_error", code: "model_not_priced", param: "model" });
    expect(body(e).error.message).toContain("`llama3`");
  });
});
