/** The router's decisions, with attempts answered by a function (the forwarder is tested on real sockets elsewhere). */
import { describe, expect, test } from "bun:test";
import { loadConfig } from "../config";
import { GatewayError } from "../errors";
import { buildRoutes, classify, dispatch, type Attempt, type RouterEvents } from ".";

const up = (name: string, models: string, extra: Record<string, string> = {}) => ({
  [`WARDEN_UPSTREAM_${name}_URL`]: `http://127.0.0.1:9/${name.toLowerCase()}`,
  [`WARDEN_UPSTREAM_${name}_MODELS`]: models,
  ...Object.fromEntries(Object.entries(extra).map(([k, v]) => [`WARDEN_UPSTREAM_${name}_${k}`, v])),
});

function setup(env: Record<string, string>) {
  const config = loadConfig({ WARDEN_RETRY_BACKOFF_MS: "20", ...env });
  return { config, routes: buildRoutes(config) };
}

const upstreamError = (status: number, code: string, headers?: Record<string, string>, message = "boom") =>
  new GatewayError(status, message, status === 429 ? "rate_limit_error" : "upstream_error", code, null, headers, "upstream");
const unreachable = () => new GatewayError(502, "Could not reach", "upstream_error", "upstream_unavailable", null, undefined, "forwarder");

/** Runs dispatch with `answer` deciding each attempt; returns the reply text or the error, and the attempts made. */
async function run(s: ReturnType<typeof setup>, model: string, answer: (a: Attempt, n: number) => Response | GatewayError, signal = new AbortController().signal) {
  const attempts: string[] = [];
  const events: string[] = [];
  const ev: RouterEvents = {
    retried: (u, c) => events.push(`retry ${u} ${c}`),
    fellBack: (f, t, r) => events.push(`fallback ${f}->${t} ${r}`),
    cooledDown: (u, m) => events.push(`cooldown ${u} ${m}`),
  };
  let result: string;
  try {
    const res = await dispatch(s.routes.get(model)!, s.routes, "chat/completions", s.config.routing, signal, async (a) => {
      attempts.push(`${a.route.model}@${a.deployment.target.upstream.name}`);
      const out = answer(a, attempts.length);
      if (out instanceof GatewayError) throw out;
      a.done();
      return out;
    }, ev);
    result = await res.text();
  } catch (e) {
    result = `${(e as GatewayError).status} ${(e as GatewayError).code}`;
  }
  return { result, attempts, events };
}

describe("classify", () => {
  test("what is retried, what switches to a bigger model, what goes straight to the client", () => {
    expect(classify(unreachable())).toBe("retry");
    expect(classify(new GatewayError(504, "t", "timeout_error", "upstream_connect_timeout", null, undefined, "forwarder"))).toBe("retry");
    expect(classify(new GatewayError(499, "gone", "invalid_request_error", "client_closed_request", null, undefined, "forwarder"))).toBe("final");
    expect(classify(upstreamError(429, "rate_limit_exceeded"))).toBe("retry");
    expect(classify(upstreamError(503, "upstream_overloaded"))).toBe("retry");
    expect(classify(upstreamError(502, "upstream_auth_failed"))).toBe("retry");
    expect(classify(upstreamError(400, "upstream_rejected"))).toBe("final");
    expect(classify(upstreamError(400, "upstream_rejected", undefined, "This model's maximum context length is 8192 tokens."))).toBe("context");
    expect(classify(upstreamError(400, "upstream_rejected", undefined, "prompt is too long: 210000 tokens > 200000 maximum"))).toBe("context");
    expect(classify(new GatewayError(400, "bad field", "invalid_request_error", "unsupported_parameter", "x", undefined, "adapter"))).toBe("final");
  });
});

describe("dispatch", () => {
  const two = { ...up("A", "m"), ...up("B", "m") };

  test("a failed deployment is replaced by another one at once; the client sees one reply", async () => {
    const s = setup(two);
    const t0 = performance.now();
    const r = await run(s, "m", (a) => (a.deployment.target.upstream.name === "a" ? unreachable() : new Response("from b")));
    expect(performance.now() - t0).toBeLessThan(15); // no backoff when another deployment is there
    expect(r.result).toBe("from b");
    expect(r.attempts).toEqual(["m@a", "m@b"]);
    expect(r.events).toEqual(["retry a upstream_unavailable"]);
  });

  test("retries spread over deployments; the same one again only after a jittered backoff", async () => {
    const s = setup({ ...two, WARDEN_RETRIES: "3" });
    const t0 = performance.now();
    const r = await run(s, "m", () => upstreamError(502, "upstream_error"));
    const took = performance.now() - t0;
    expect(r.result).toBe("502 upstream_error");
    expect(r.attempts.slice(0, 2)).toEqual(["m@a", "m@b"]);
    expect(r.attempts.slice(2).sort()).toEqual(["m@a", "m@b"]);
    // Two waits before re-using a deployment: 20 ms × [0.5, 1) each.
    expect(took).toBeGreaterThanOrEqual(19);
    expect(took).toBeLessThan(200);
  });

  test("Retry-After is honoured before the same deployment is tried again; longer than the cap, not at all", async () => {
    const s = setup({ ...up("A", "m"), WARDEN_RETRIES: "1" });
    const t0 = performance.now();
    let r = await run(s, "m", (a, n) => (n === 1 ? upstreamError(429, "rate_limit_exceeded", { "retry-after": "1" }) : new Response("ok")));
    expect(r.result).toBe("ok");
    expect(performance.now() - t0).toBeGreaterThanOrEqual(990);
    const capped = setup({ ...up("A", "m"), WARDEN_RETRIES: "1", WARDEN_RETRY_MAX_WAIT_MS: "500" });
    r = await run(capped, "m", () => upstreamError(429, "rate_limit_exceeded", { "retry-after": "1" }));
    expect(r.result).toBe("429 rate_limit_exceeded");
    expect(r.attempts).toEqual(["m@a"]);
  });

  test("a refusal of the request itself is not retried", async () => {
    const s = setup(two);
    const r = await run(s, "m", () => upstreamError(400, "upstream_rejected"));
    expect(r.result).toBe("400 upstream_rejected");
    expect(r.attempts).toEqual(["m@a"]);
  });

  test("fallback models in order, each with its own attempts, once the model's deployments failed", async () => {
    const s = setup({ ...up("A", "m"), ...up("B", "small,tiny"), WARDEN_RETRIES: "1", WARDEN_MODEL_M_NAME: "m", WARDEN_MODEL_M_FALLBACKS: "small,tiny" });
    const r = await run(s, "m", (a) => (a.route.model === "tiny" ? new Response("tiny answered") : upstreamError(503, "upstream_overloaded")));
    expect(r.result).toBe("tiny answered");
    expect(r.attempts).toEqual(["m@a", "m@a", "small@b", "small@b", "tiny@b"]);
    expect(r.events.filter((e) => e.startsWith("fallback"))).toEqual(["fallback m->small error", "fallback small->tiny error"]);
  });

  test("a prompt too long for the model goes to its context fallback, and is not retried where it is", async () => {
    const s = setup({ ...up("A", "m,big"), WARDEN_MODEL_M_NAME: "m", WARDEN_MODEL_M_CONTEXT_FALLBACKS: "big", WARDEN_MODEL_M_FALLBACKS: "big" });
    const tooLong = upstreamError(400, "upstream_rejected", undefined, "This model's maximum context length is 8192 tokens.");
    const r = await run(s, "m", (a) => (a.route.model === "m" ? tooLong : new Response("big answered")));
    expect(r.result).toBe("big answered");
    expect(r.attempts).toEqual(["m@a", "big@a"]);
    expect(r.events).toEqual(["fallback m->big context_window"]);
    // Without a context fallback the client gets the upstream's 400.
    const plain = setup(up("A", "m"));
    expect((await run(plain, "m", () => tooLong)).result).toBe("400 upstream_rejected");
  });

  test("a model with somewhere else to go cools failing deployments down; with nowhere, never", async () => {
    const s = setup({ ...two, WARDEN_RETRIES: "0", WARDEN_COOLDOWN_FAILURES: "2" });
    const bDown = (a: Attempt) => (a.deployment.target.upstream.name === "b" ? unreachable() : new Response("a"));
    const seen: string[] = [];
    for (let i = 0; i < 8; i++) {
      const r = await run(s, "m", bDown);
      seen.push(r.result);
      if (r.events.some((e) => e.startsWith("cooldown"))) seen.push("cooled");
    }
    // Weighted round-robin alternates a, b; b fails twice, then only a is used.
    expect(seen).toEqual(["a", "502 upstream_unavailable", "a", "502 upstream_unavailable", "cooled", "a", "a", "a", "a"]);
    const single = setup({ ...up("A", "m"), WARDEN_RETRIES: "0", WARDEN_COOLDOWN_FAILURES: "1" });
    for (let i = 0; i < 3; i++) expect((await run(single, "m", () => unreachable())).attempts).toEqual(["m@a"]);
  });

  test("every deployment cooling down: 503 no_healthy_upstream with Retry-After, nothing sent", async () => {
    const s = setup({ ...two, WARDEN_RETRIES: "1", WARDEN_COOLDOWN_FAILURES: "1", WARDEN_COOLDOWN_MS: "5000" });
    await run(s, "m", () => unreachable());
    const attempts: string[] = [];
    const err = await dispatch(s.routes.get("m")!, s.routes, "chat/completions", s.config.routing, new AbortController().signal, async (a) => {
      attempts.push(a.deployment.target.upstream.name);
      return new Response("x");
    }).catch((e: GatewayError) => e);
    expect(attempts).toEqual([]);
    expect(err).toBeInstanceOf(GatewayError);
    expect([(err as GatewayError).status, (err as GatewayError).code, (err as GatewayError).headers?.["retry-after"]]).toEqual([503, "no_healthy_upstream", "5"]);
  });

  test("in-flight counts rise per attempt and fall when the exchange ends", async () => {
    const s = setup(two);
    const route = s.routes.get("m")!;
    let attempt: Attempt | undefined;
    await dispatch(route, s.routes, "chat/completions", s.config.routing, new AbortController().signal, async (a) => {
      attempt = a;
      return new Response("streaming...");
    });
    expect(route.deployments.map((d) => d.health.inflight)).toEqual([1, 0]);
    attempt!.done();
    attempt!.done(); // idempotent
    expect(route.deployments.map((d) => d.health.inflight)).toEqual([0, 0]);
  });

  test("a client that leaves during a backoff ends the request with 499", async () => {
    const s = setup({ ...up("A", "m"), WARDEN_RETRY_BACKOFF_MS: "200" });
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 20);
    const r = await run(s, "m", () => unreachable(), ac.signal);
    expect(r.result).toBe("499 client_closed_request");
    expect(r.attempts).toEqual(["m@a"]);
  });

  test("the request's deadline bounds every attempt and wait", async () => {
    const s = setup({ ...up("A", "m"), WARDEN_REQUEST_TIMEOUT_MS: "150", WARDEN_FIRST_BYTE_TIMEOUT_MS: "100", WARDEN_RETRIES: "10", WARDEN_RETRY_BACKOFF_MS: "60" });
    const deadlines = new Set<number>();
    const t0 = performance.now();
    const r = await run(s, "m", (a) => {
      deadlines.add(a.deadline);
      return unreachable();
    });
    expect(r.result).toBe("502 upstream_unavailable");
    expect(deadlines.size).toBe(1);
    expect(performance.now() - t0).toBeLessThan(300);
    expect(r.attempts.length).toBeLessThan(6);
  });
});

describe("buildRoutes", () => {
  test("one route per model name, a deployment per upstream serving it, with weights and renames", () => {
    const { routes } = setup({ ...up("A", "m,x=x-v2", { WEIGHT: "3" }), ...up("B", "m") });
    expect([...routes.keys()].sort()).toEqual(["m", "x"]);
    expect(routes.get("m")!.deployments.map((d) => [d.target.upstream.name, d.weight])).toEqual([["a", 3], ["b", 1]]);
    expect(routes.get("x")!.deployments[0].target.model).toBe("x-v2");
    expect(routes.get("m")!.breaker).toBe(true);
    expect(routes.get("x")!.breaker).toBe(false);
  });

  test("a reload keeps the health of deployments that still exist", () => {
    const { config, routes } = setup({ ...up("A", "m"), ...up("B", "m") });
    routes.get("m")!.deployments[1].health.coolUntil = 12345;
    const next = buildRoutes(loadConfig({ ...up("B", "m"), ...up("C", "m") }), routes);
    expect(next.get("m")!.deployments.map((d) => [d.target.upstream.name, d.health.coolUntil])).toEqual([["b", 12345], ["c", 0]]);
    expect(config.models.get("m")!.strategy).toBe("weighted");
  });
});
