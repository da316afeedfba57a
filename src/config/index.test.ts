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
      { name: "eu_west", url: "https://api.example.com/v1", key: undefined, models: ["gpt-4o"], provider: "openai" },
      { name: "local", url: "http://127.0.0.1:9000/v1", key: "sk-up", models: ["llama3", "qwen"], provider: "openai" },
    ]);
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
    expect(refusal({ ...one, WARDEN_UPSTREAM_LOCAL_PROVIDER: "mistral" }).message).toContain("unknown provider: mistral (supported: openai, anthropic, gemini)");
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
    [{ ...one, WARDEN_UPSTREAM_Z_URL: "http://h/v1", WARDEN_UPSTREAM_Z_MODELS: "qwen" }, "WARDEN_UPSTREAM_Z_MODELS"],
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
