/** The command line of the compiled binary: version, bad config, env files, the mock fallback. */
import { describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import pkg from "../../package.json" with { type: "json" };
import { cleanEnv, installInTempDir, runOnce, startWarden } from "./binary";
import { startMockUpstream } from "../../bench/mock-upstream";

const cargoVersion = (await Bun.file(join(import.meta.dir, "../../ffi/Cargo.toml")).text()).match(/^version = "(.+)"/m)![1];

describe("warden CLI", () => {
  test("version reports Warden, Bun and the Rust core (through FFI), with no Bun installed", async () => {
    const r = await runOnce(["version"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`warden ${pkg.version}\nbun ${pkg.devDependencies.bun}\ncore ${cargoVersion}\n`);
  });

  test("--help: the whole usage, and each command's own, on stdout with exit 0", async () => {
    for (const args of [["--help"], ["help"]]) {
      const r = await runOnce(args);
      expect([r.code, r.stderr]).toEqual([0, ""]);
      for (const command of ["serve", "version", "verify", "keys create", "tenants set"]) expect(r.stdout).toContain(`  ${command}`);
    }
    for (const [args, shows] of [
      [["serve", "--help"], "warden serve [--env-file PATH]"],
      [["verify", "-h"], "warden verify --data-dir DIR"],
      [["version", "--help"], "warden version"],
      [["keys", "create", "--help"], "warden keys create --tenant T"],
      [["tenants", "--help"], "warden tenants set ID"],
    ] as const) {
      const r = await runOnce([...args]);
      expect([r.code, r.stderr]).toEqual([0, ""]);
      expect(r.stdout).toContain(shows);
    }
  });

  test("unknown commands and arguments exit 2 with usage", async () => {
    const r = await runOnce(["frobnicate"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("usage: warden");
    expect((await runOnce(["serve", "--bogus"])).code).toBe(2);
  });

  test.each([
    [{ WARDEN_PORT: "eighty" }, "WARDEN_PORT"],
    [{ WARDEN_UPSTREAM_X_URL: "localhost:9000" , WARDEN_UPSTREAM_X_MODELS: "m" }, "WARDEN_UPSTREAM_X_URL"],
    [{ WARDEN_TIMEOUT: "5" }, "WARDEN_TIMEOUT"],
  ] as [Record<string, string>, string][])("bad config %o stops start-up with exit 2 naming %s", async (env, variable) => {
    const r = await runOnce(["serve"], env);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`configuration error: ${variable}:`);
  });

  test("a missing --env-file is a configuration error", async () => {
    const r = await runOnce(["serve", "--env-file", "/nonexistent/warden.env"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("--env-file");
  });

  test("with no upstream it serves the bundled mock, says so, and prints a curl line that works", async () => {
    const w = await startWarden({});
    try {
      expect(w.log()).toContain("serving the bundled MOCK model server");
      expect(w.log()).toContain("WARDEN_MASTER_KEY is not set");
      const curl = /curl (\S+) -H 'content-type: application\/json' \\\n\s+-d '([^']+)'/.exec(w.log());
      expect(curl).not.toBeNull();
      const res = await fetch(curl![1], { method: "POST", headers: { "content-type": "application/json" }, body: curl![2] });
      expect(res.status).toBe(200);
      expect(((await res.json()) as { object: string }).object).toBe("chat.completion");
      expect((await fetch(`${w.url}/ready`)).status).toBe(200);
    } finally {
      expect(await w.stop()).toBe(0); // SIGTERM is a clean stop
    }
  });

  test("serve lifts Bun's 256-request fetch limit by re-executing itself in place (same PID)", async () => {
    const w = await startWarden({});
    try {
      const environ = (await Bun.file(`/proc/${w.proc.pid}/environ`).text()).split("\0");
      expect(environ).toContain("BUN_CONFIG_MAX_HTTP_REQUESTS=65336");
    } finally {
      await w.stop();
    }
  });

  test("reads an env file given with --env-file; the environment overrides it", async () => {
    const probe = await startWarden({});
    const dir = probe.dir;
    const file = join(dir, "warden.conf");
    writeFileSync(file, "WARDEN_UPSTREAM_LOCAL_URL=http://127.0.0.1:1/v1\nWARDEN_UPSTREAM_LOCAL_MODELS=from-file\nWARDEN_LOG_LEVEL=debug\n");
    const w = await startWarden({ WARDEN_LOG_LEVEL: "info" }, ["--env-file", file]);
    try {
      const models = (await (await fetch(`${w.url}/v1/models`)).json()) as { data: { id: string }[] };
      expect(models.data.map((m) => m.id)).toEqual(["from-file"]);
      expect(w.log()).toContain(`"env_file":"${file}"`);
    } finally {
      await w.stop();
      await probe.stop();
    }
  });

  test("a second instance on a taken port fails instead of sharing it", async () => {
    const first = await startWarden({});
    try {
      const port = new URL(first.url).port;
      const r = await runOnce(["serve"], { WARDEN_PORT: port });
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`cannot listen on 127.0.0.1:${port}`);
    } finally {
      await first.stop();
    }
  });
});

describe("running out of file descriptors", () => {
  test("upstream calls fail with 502 upstream_unavailable (EMFILE), and the log says to raise the limit, once", async () => {
    const mock = await startMockUpstream({ port: 0, record: false, behavior: { delayMs: 150 } });
    const { dir, bin, cleanup } = installInTempDir();
    // A tiny open-files limit, as a unit without LimitNOFILE under heavy stream load would hit.
    const proc = Bun.spawn(["/bin/sh", "-c", 'ulimit -n 90 && exec "$0" serve', bin], {
      cwd: dir,
      env: cleanEnv({ WARDEN_PORT: "0", WARDEN_UPSTREAM_M_URL: mock.url, WARDEN_UPSTREAM_M_MODELS: "mock-gpt", WARDEN_RETRIES: "0" }),
      stdout: "ignore",
      stderr: "pipe",
    });
    let log = "";
    const reading = (async () => {
      for await (const chunk of proc.stderr) log += new TextDecoder().decode(chunk);
    })();
    try {
      for (let i = 0; i < 100 && !/"msg":"listening"/.test(log); i++) await Bun.sleep(50);
      const url = /"msg":"listening","url":"([^"]+)"/.exec(log)![1];
      const replies = await Promise.all(
        Array.from({ length: 60 }, () =>
          // A connection the server could not accept waits in its backlog: give up on it.
          fetch(`${url}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ model: "mock-gpt", stream: true, messages: [{ role: "user", content: "hi" }] }), signal: AbortSignal.timeout(5000) })
            .then(async (r) => [r.status, await r.text()] as const)
            .catch(() => [0, ""] as const),
        ),
      );
      const failed = replies.filter(([status]) => status === 502);
      expect(failed.length).toBeGreaterThan(0);
      expect(failed[0][1]).toContain("EMFILE");
      expect(log.match(/out of file descriptors/g)?.length).toBe(1);
    } finally {
      proc.kill("SIGKILL");
      await proc.exited;
      await reading.catch(() => {});
      await mock.stop();
      cleanup();
    }
  }, 30_000);
});
