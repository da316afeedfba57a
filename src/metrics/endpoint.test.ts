import { describe, expect, test } from "bun:test";
import { metricsEndpoint, type MetricsAccess } from "./endpoint";

const exposition = { contentType: "text/plain; version=0.0.4; charset=utf-8", exposition: async () => "warden_x 1\n" };
const TOKEN = "metrics-token-0123456789";
const MASTER = "master-key-0123456789";

function scrape(serve: (r: Request) => Promise<Response>, authorization?: string) {
  return serve(new Request("http://localhost/metrics", { headers: authorization === undefined ? {} : { authorization } }));
}

describe("GET /metrics access", () => {
  test("open without a token, whatever is sent", async () => {
    const serve = metricsEndpoint(exposition, () => ({ token: undefined, masterKey: MASTER }));
    for (const auth of [undefined, "Bearer wrong", `Bearer ${MASTER}`]) {
      const res = await scrape(serve, auth);
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toBe(exposition.contentType);
      expect(await res.text()).toBe("warden_x 1\n");
    }
  });

  test("with a token: 401 in the OpenAI shape without it or with a wrong one; the token and the master key pass", async () => {
    const serve = metricsEndpoint(exposition, () => ({ token: TOKEN, masterKey: MASTER }));
    for (const auth of [undefined, "Bearer wrong-token-0123456789", `Basic ${btoa(`x:${TOKEN}`)}`, TOKEN, `Bearer ${TOKEN}x`, "Bearer"]) {
      const res = await scrape(serve, auth);
      expect(res.status).toBe(401);
      expect(res.headers.get("www-authenticate")).toContain("Bearer");
      const body = (await res.json()) as { error: { type: string; code: string } };
      expect(body.error).toMatchObject({ type: "authentication_error", code: "invalid_metrics_token" });
    }
    for (const auth of [`Bearer ${TOKEN}`, `bearer ${TOKEN}`, `Bearer ${MASTER}`]) expect((await scrape(serve, auth)).status).toBe(200);
  });

  test("a token without a master key; a reload that changes the token applies to the next scrape", async () => {
    const access: MetricsAccess = { token: TOKEN, masterKey: undefined };
    const serve = metricsEndpoint(exposition, () => access);
    expect((await scrape(serve, `Bearer ${TOKEN}`)).status).toBe(200);
    access.token = "another-token-0123456789";
    expect((await scrape(serve, `Bearer ${TOKEN}`)).status).toBe(401);
    expect((await scrape(serve, "Bearer another-token-0123456789")).status).toBe(200);
    access.token = undefined;
    expect((await scrape(serve)).status).toBe(200);
  });
});

describe("WARDEN_METRICS_TOKEN", () => {
  test("is optional, at least 16 characters without spaces, and documented in the env example", async () => {
    const { loadConfig, ConfigError } = await import("../config");
    expect(loadConfig({}).metricsToken).toBeUndefined();
    expect(loadConfig({ WARDEN_METRICS_TOKEN: "" }).metricsToken).toBeUndefined();
    expect(loadConfig({ WARDEN_METRICS_TOKEN: TOKEN }).metricsToken).toBe(TOKEN);
    for (const bad of ["short", "has a space in it 0123456789"]) {
      expect(() => loadConfig({ WARDEN_METRICS_TOKEN: bad })).toThrow(ConfigError);
      expect(() => loadConfig({ WARDEN_METRICS_TOKEN: bad })).toThrow("WARDEN_METRICS_TOKEN");
    }
    const example = await Bun.file(new URL("../../deploy/warden.env.example", import.meta.url)).text();
    expect(example).toContain("\n#WARDEN_METRICS_TOKEN=\n");
  });
});
