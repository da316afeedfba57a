import { describe, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError, loadConfig, loadEnv } from "./index";
import { parseEnvFile } from "./env-file";

const one = { WARDEN_UPSTREAM_LOCAL_URL: "http://127.0.0.1:9000/v1/", WARDEN_UPSTREAM_LOCAL_MODELS: "llama3, qwen" };

function refusal(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error("config was accepted");
}

describe("loadConfig", () => {
  test("defaults follow the config contract", () => {
    const c = loadConfig({});
    expect(c.host).toBe("127.0.0.1");
    expect(c.port).toBe(8080);
    expect(c.dataDir).toBe(join(process.cwd(), "warden-data"));
    expect(c.masterKey).toBeUndefined();
    expect(c.auditMode).toBe("async");
    expect(c.upstreams).toEqual([]);
  });

  test("the WAF policy is the default with the operator's entries over it", () => {
    expect(loadConfig({}).wafPolicy).toEqual({ injection: "block", secret: "redact", pii: "flag" });
    expect(loadConfig({ WARDEN_WAF_POLICY: "injection=flag, pii.email=redact" }).wafPolicy).toEqual({ injection: "flag", secret: "redact", pii: "flag", "pii.email": "redact" });
  });

  test("rate limits live in memory unless a Redis URL is given; Redis failures fail open by default", () => {
    expect(loadConfig({})).toMatchObject({ rateLimitStore: "memory", redisUrl: undefined, redisFailure: "open" });
    expect(loadConfig({ WARDEN_REDIS_URL: "redis://:pw@10.0.0.5:6379" })).toMatchObject({ rateLimitStore: "redis", redisUrl: "redis://:pw@10.0.0.5:6379" });
    expect(loadConfig({ WARDEN_REDIS_URL: "redis://h:6379", WARDEN_RATE_LIMIT_STORE: "memory", WARDEN_REDIS_FAILURE: "closed" })).toMatchObject({ rateLimitStore: "memory", redisFailure: "closed" });
  });

  test("audit mode is async unless strict is asked for", () => {
    expect(loadConfig({ WARDEN_AUDIT_MODE: "strict" }).auditMode).toBe("strict");
  });

  test("data dir falls back to systemd's STATE_DIRECTORY", () => {
    expect(loadConfig({ STATE_DIRECTORY: "/var/lib/warden:/other" }).dataDir).toBe("/var/lib/warden");
    expect(loadConfig({ STATE_DIRECTORY: "/var/lib/warden", WARDEN_DATA_DIR: "/srv/w" }).dataDir).toBe("/srv/w");
  });

  test("upstream groups become upstreams with trimmed models and no trailing slash", () => {
    const c = loadConfig({ ...one, WARDEN_UPSTREAM_LOCAL_KEY: "sk-up", WARDEN_UPSTREAM_EU_WEST_URL: "https://api.example.com/v1", WARDEN_UPSTREAM_EU_WEST_MODELS: "gpt-4o" });
    expect(c.upstreams).toEqual([
      { name: "eu_west", url: "https://api.example.com/v1", key: undefined, models: ["gpt-4o"], renamed: {}, provider: "openai", weight: 1, apiVersion: undefined, streamUsage: true },
      { name: "local", url: "http://127.0.0.1:9000/v1", key: "sk-up", models: ["llama3", "qwen"], renamed: {}, provider: "openai", weight: 1, apiVersion: undefined, streamUsage: true },
    ]);
  });

  test("several upstreams may serve one model, with weights and names of their own for it", () => {
    const c = loadConfig({
      ...one,
      WARDEN_UPSTREAM_LOCAL_WEIGHT: "3",
      WARDEN_UPSTREAM_B_URL: "http://10.0.0.2:8000/v1",
      WARDEN_UPSTREAM_B_MODELS: "llama3=meta-llama/Llama-3.1-8B-Instruct, fast = llama3.1:8b",
      WARDEN_UPSTREAM_AZ_URL: "https://acme.openai.azure.com/openai",
      WARDEN_UPSTREAM_AZ_PROVIDER: "azure",
      WARDEN_UPSTREAM_AZ_MODELS: "gpt-4o=gpt4o-prod",
    });
    expect(c.upstreams.map((u) => [u.name, u.weight, u.renamed, u.apiVersion])).toEqual([
      ["az", 1, { "gpt-4o": "gpt4o-prod" }, "2024-10-21"],
      ["b", 1, { llama3: "meta-llama/Llama-3.1-8B-Instruct", fast: "llama3.1:8b" }, undefined],
      ["local", 3, {}, undefined],
    ]);
    expect([...c.models.keys()].sort()).toEqual(["fast", "gpt-4o", "llama3", "qwen"]);
  });

  test("routing defaults, and per-model groups over them", () => {
    const c = loadConfig({
      ...one,
      WARDEN_RETRIES: "1",
      WARDEN_REQUEST_TIMEOUT_MS: "60000",
      WARDEN_FIRST_BYTE_TIMEOUT_MS: "30000",
      WARDEN_MODEL_L3_NAME: "llama3",
      WARDEN_MODEL_L3_STRATEGY: "p2c",
      WARDEN_MODEL_L3_FALLBACKS: "qwen",
      WARDEN_MODEL_L3_FIRST_BYTE_TIMEOUT_MS: "2000",
      WARDEN_MODEL_L3_PARSER: "hermes",
    });
    expect(c.routing).toEqual({ strategy: "weighted", retries: 1, retryBackoffMs: 100, retryMaxWaitMs: 5000, cooldownFailures: 3, cooldownMs: 30000 });
    expect(c.models.get("llama3")).toEqual({
      name: "llama3",
      strategy: "p2c",
      retries: 1,
      fallbacks: ["qwen"],
      contextFallbacks: [],
      connectTimeoutMs: 5000,
      firstByteTimeoutMs: 2000,
      requestTimeoutMs: 60000,
      streamIdleTimeoutMs: 300000,
      parser: { toolCalls: "hermes", reasoning: "on" },
    });
    expect(c.models.get("qwen")).toMatchObject({ strategy: "weighted", retries: 1, fallbacks: [], parser: undefined, requestTimeoutMs: 60000, firstByteTimeoutMs: 30000 });
  });

  test("providers: openai by default, anthropic and gemini by name (any case)", () => {
    const c = loadConfig({
      ...one,
      WARDEN_UPSTREAM_CLAUDE_URL: "https://api.anthropic.com",
      WARDEN_UPSTREAM_CLAUDE_MODELS: "claude-sonnet-4-5",
      WARDEN_UPSTREAM_CLAUDE_PROVIDER: "Anthropic",
      WARDEN_UPSTREAM_GOOGLE_URL: "https://generativelanguage.googleapis.com",
      WARDEN_UPSTREAM_GOOGLE_MODELS: "gemini-2.5-flash",
      WARDEN_UPSTREAM_GOOGLE_PROVIDER: "gemini",
    });
    expect(Object.fromEntries(c.upstreams.map((u) => [u.name, u.provider]))).toEqual({ claude: "anthropic", google: "gemini", local: "openai" });
    expect(refusal({ ...one, WARDEN_UPSTREAM_LOCAL_PROVIDER: "mistral" }).message).toContain("unknown provider: mistral (supported: openai, azure, anthropic, gemini)");
  });

  test.each([
    [{ WARDEN_PORT: "80a" }, "WARDEN_PORT"],
    [{ WARDEN_PORT: "70000" }, "WARDEN_PORT"],
    [{ WARDEN_HOST: "bad host" }, "WARDEN_HOST"],
    [{ WARDEN_AUDIT_MODE: "sometimes" }, "WARDEN_AUDIT_MODE"],
    [{ WARDEN_LOG_LEVEL: "loud" }, "WARDEN_LOG_LEVEL"],
    [{ WARDEN_MASTER_KEY: "short" }, "WARDEN_MASTER_KEY"],
    [{ WARDEN_MAX_BODY_BYTES: "-1" }, "WARDEN_MAX_BODY_BYTES"],
    [{ WARDEN_FIRST_BYTE_TIMEOUT_MS: "9000", WARDEN_REQUEST_TIMEOUT_MS: "1000" }, "WARDEN_FIRST_BYTE_TIMEOUT_MS"],
    [{ WARDEN_PROT: "8080" }, "WARDEN_PROT"],
    [{ WARDEN_UPSTREAM_X_MODELS: "a" }, "WARDEN_UPSTREAM_X_URL"],
    [{ WARDEN_UPSTREAM_X_URL: "not a url", WARDEN_UPSTREAM_X_MODELS: "a" }, "WARDEN_UPSTREAM_X_URL"],
    [{ WARDEN_UPSTREAM_X_URL: "ftp://h/v1", WARDEN_UPSTREAM_X_MODELS: "a" }, "WARDEN_UPSTREAM_X_URL"],
    [{ WARDEN_UPSTREAM_X_URL: "http://h/v1?x=1", WARDEN_UPSTREAM_X_MODELS: "a" }, "WARDEN_UPSTREAM_X_URL"],
    [{ WARDEN_UPSTREAM_X_URL: "http://h/v1", WARDEN_UPSTREAM_X_MODELS: " , " }, "WARDEN_UPSTREAM_X_MODELS"],
    [{ WARDEN_UPSTREAM_X_URL: "http://h/v1", WARDEN_UPSTREAM_X_MODELS: "a", WARDEN_UPSTREAM_X_PROVIDER: "bogus" }, "WARDEN_UPSTREAM_X_PROVIDER"],
    [{ WARDEN_UPSTREAM_Z_URL: "http://h/v1", WARDEN_UPSTREAM_Z_MODELS: "qwen,qwen=q2" }, "WARDEN_UPSTREAM_Z_MODELS"],
    [{ WARDEN_UPSTREAM_Z_URL: "http://h/v1", WARDEN_UPSTREAM_Z_MODELS: "qwen=" }, "WARDEN_UPSTREAM_Z_MODELS"],
    [{ ...one, WARDEN_UPSTREAM_LOCAL_WEIGHT: "0" }, "WARDEN_UPSTREAM_LOCAL_WEIGHT"],
    [{ ...one, WARDEN_UPSTREAM_LOCAL_STREAM_USAGE: "maybe" }, "WARDEN_UPSTREAM_LOCAL_STREAM_USAGE"],
    [{ ...one, WARDEN_UPSTREAM_LOCAL_API_VERSION: "2024-10-21" }, "WARDEN_UPSTREAM_LOCAL_API_VERSION"],
    [{ WARDEN_UPSTREAM_A_URL: "https://a.openai.azure.com/openai", WARDEN_UPSTREAM_A_PROVIDER: "azure", WARDEN_UPSTREAM_A_MODELS: "gpt-4o=my deployment" }, "WARDEN_UPSTREAM_A_MODELS"],
    [{ WARDEN_ROUTING_STRATEGY: "fastest" }, "WARDEN_ROUTING_STRATEGY"],
    [{ WARDEN_RETRIES: "11" }, "WARDEN_RETRIES"],
    [{ WARDEN_CONNECT_TIMEOUT_MS: "0" }, "WARDEN_CONNECT_TIMEOUT_MS"],
    [{ ...one, WARDEN_MODEL_X_STRATEGY: "p2c" }, "WARDEN_MODEL_X_NAME"],
    [{ ...one, WARDEN_MODEL_X_NAME: "gpt-9" }, "WARDEN_MODEL_X_NAME"],
    [{ ...one, WARDEN_MODEL_X_NAME: "qwen", WARDEN_MODEL_Y_NAME: "qwen" }, "WARDEN_MODEL_Y_NAME"],
    [{ ...one, WARDEN_MODEL_X_NAME: "qwen", WARDEN_MODEL_X_FALLBACKS: "gpt-9" }, "WARDEN_MODEL_X_FALLBACKS"],
    [{ ...one, WARDEN_MODEL_X_NAME: "qwen", WARDEN_MODEL_X_CONTEXT_FALLBACKS: "qwen" }, "WARDEN_MODEL_X_CONTEXT_FALLBACKS"],
    [{ ...one, WARDEN_MODEL_X_NAME: "qwen", WARDEN_MODEL_X_STRATEGY: "fastest" }, "WARDEN_MODEL_X_STRATEGY"],
    [{ ...one, WARDEN_MODEL_X_NAME: "qwen", WARDEN_MODEL_X_PARSER: "gpt" }, "WARDEN_MODEL_X_PARSER"],
    [{ ...one, WARDEN_MODEL_X_NAME: "qwen", WARDEN_MODEL_X_REASONING: "yes" }, "WARDEN_MODEL_X_REASONING"],
    [{ ...one, WARDEN_MODEL_X_NAME: "qwen", WARDEN_MODEL_X_FIRST_BYTE_TIMEOUT_MS: "900000" }, "WARDEN_MODEL_X_FIRST_BYTE_TIMEOUT_MS"],
    [{ ...one, WARDEN_MODEL_X_NAME: "qwen", WARDEN_MODEL_X_TIMEOUT: "5" }, "WARDEN_MODEL_X_TIMEOUT"],
    [{ WARDEN_UPSTREAM_lower_URL: "http://h/v1" }, "WARDEN_UPSTREAM_lower_URL"],
    [{ WARDEN_MAX_HEADER_BYTES: "65536" }, "WARDEN_MAX_HEADER_BYTES"],
    [{ WARDEN_MAX_JSON_DEPTH: "2" }, "WARDEN_MAX_JSON_DEPTH"],
    [{ WARDEN_WAF_POLICY: "injection=block,pii.emial=redact" }, "WARDEN_WAF_POLICY"],
    [{ WARDEN_WAF_POLICY: "secret=maybe" }, "WARDEN_WAF_POLICY"],
    [{ WARDEN_RATE_LIMIT_STORE: "redis" }, "WARDEN_RATE_LIMIT_STORE"],
    [{ WARDEN_RATE_LIMIT_STORE: "disk" }, "WARDEN_RATE_LIMIT_STORE"],
    [{ WARDEN_REDIS_URL: "127.0.0.1:6379" }, "WARDEN_REDIS_URL"],
    [{ WARDEN_REDIS_URL: "redis://127.0.0.1:6379", WARDEN_REDIS_FAILURE: "maybe" }, "WARDEN_REDIS_FAILURE"],
  ] as [Record<string, string>, string][])("refuses %o naming %s", (env, variable) => {
    const e = refusal(env);
    expect(e.variable).toBe(variable);
    expect(e.message.startsWith(`${variable}: `)).toBe(true);
  });
});

describe("env files", () => {
  test("parses comments, export, quotes and escapes", () => {
    expect(parseEnvFile('# c\nexport A=1\nB="x y\\n\\"q\\""\nC=\'$raw\'\n\nD=v # trailing\nE=')).toEqual({ A: "1", B: 'x y\n"q"', C: "$raw", D: "v", E: "" });
  });

  test("names the line of a malformed entry", () => {
    expect(() => parseEnvFile("A=1\njust words", "w.env")).toThrow("w.env:2: expected NAME=value");
    expect(() => parseEnvFile('A="open', "w.env")).toThrow("w.env:1: unterminated");
  });

  test("the environment wins over the file; a named missing file is an error", () => {
    const dir = mkdtempSync(join(tmpdir(), "warden-env-"));
    const file = join(dir, "w.env");
    writeFileSync(file, "WARDEN_PORT=9000\nWARDEN_HOST=0.0.0.0\n");
    const { env, file: used } = loadEnv({ WARDEN_PORT: "9100" }, file);
    expect(used).toBe(file);
    expect(env.WARDEN_PORT).toBe("9100");
    expect(env.WARDEN_HOST).toBe("0.0.0.0");
    expect(() => loadEnv({}, join(dir, "missing.env"))).toThrow(ConfigError);
    expect(loadEnv({ WARDEN_ENV_FILE: file }, undefined).env.WARDEN_PORT).toBe("9000");
  });
});
