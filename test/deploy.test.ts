/**
 * The deploy/ files are part of the product: the documented env file must name every variable
 * the config knows (and only those) and load as a valid config; the systemd unit must stay as
 * locked down as the README says.
 */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { KNOWN_VARIABLES, loadConfig } from "../src/config";
import { parseEnvFile } from "../src/config/env-file";

const deploy = join(import.meta.dir, "../deploy");
const example = readFileSync(join(deploy, "warden.env.example"), "utf8");

describe("deploy/warden.env.example", () => {
  test("documents every variable the config reads, and no other", () => {
    const mentioned = new Set([...example.matchAll(/\bWARDEN_[A-Z0-9_]+\b/g)].map((m) => m[0]).filter((n) => !n.startsWith("WARDEN_UPSTREAM_") && !n.startsWith("WARDEN_MODEL_")));
    expect([...KNOWN_VARIABLES].filter((n) => !mentioned.has(n))).toEqual([]);
    expect([...mentioned].filter((n) => !KNOWN_VARIABLES.has(n))).toEqual([]);
    for (const field of ["URL", "KEY", "MODELS", "PROVIDER", "WEIGHT", "API_VERSION", "STREAM_USAGE"]) expect(example).toContain(`WARDEN_UPSTREAM_<NAME>_${field}`);
    for (const field of ["NAME", "STRATEGY", "RETRIES", "FALLBACKS", "CONTEXT_FALLBACKS", "PARSER", "REASONING", "STREAM_IDLE_TIMEOUT_MS"]) expect(example).toContain(`WARDEN_MODEL_<ID>_${field}`);
  });

  test("loads as a valid configuration, as installed to /etc/warden/warden.env", () => {
    const config = loadConfig(parseEnvFile(example, "warden.env.example"));
    expect(config.dataDir).toBe("/var/lib/warden");
  });

  test("its upstream and model examples, uncommented, are valid: one upstream per provider, a model group", () => {
    const lines = example.split("\n").filter((l) => /^#WARDEN_(UPSTREAM|MODEL)_[A-Z0-9_]+=/.test(l)).map((l) => l.slice(1));
    const config = loadConfig(parseEnvFile(lines.join("\n"), "upstreams"));
    expect(Object.fromEntries(config.upstreams.map((u) => [u.name, u.provider]))).toEqual({ azure_eu: "azure", claude: "anthropic", google: "gemini", openai: "openai", vllm: "openai" });
    expect(config.models.get("gpt-4o")).toMatchObject({ strategy: "latency", fallbacks: ["claude-sonnet-4-5"] });
  });
});

const analyze = Bun.which("systemd-analyze");
describe.skipIf(analyze === null)("deploy/warden.service", () => {
  test("systemd-analyze security rates its exposure at most 1.5", () => {
    const r = Bun.spawnSync([analyze!, "security", "--offline=yes", join(deploy, "warden.service")], { stdout: "pipe", stderr: "pipe" });
    const out = r.stdout.toString() + r.stderr.toString();
    const score = /Overall exposure level for warden\.service: ([\d.]+)/.exec(out);
    expect(score).not.toBeNull();
    expect(Number(score![1])).toBeLessThanOrEqual(1.5);
  });
});
