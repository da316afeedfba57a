/**
 * A real, throw-away redis-server for tests: its own port, its own temporary directory, no
 * persistence. Tests that need Redis down (fail-open, fail-closed, reconnect) kill, pause or
 * restart it through the handle instead of pretending with a mock.
 *
 * Every server started here is killed when the test process exits, so a failing test never
 * leaves a stray redis-server behind.
 *
 * @example
 * const redis = await startRedis();
 * const limiter = createRedisLimiter({ url: redis.url, failure: "closed" });
 * await redis.kill();    // SIGKILL: connections drop, data is gone
 * await redis.restart(); // same port again, empty
 * await redis.stop();
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createConnection, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";

export interface RedisServer {
  /** `redis://127.0.0.1:<port>` */
  url: string;
  port: number;
  /** The server's working directory (logs), removed by stop(). */
  dir: string;
  /** Ends the server (SIGTERM), waits for it, and removes its directory. */
  stop(): Promise<void>;
  /** SIGKILL, the way a crashed host looks to clients: connections reset, state lost. */
  kill(): Promise<void>;
  /** SIGSTOP: connections stay open but nothing answers, the way a hung server looks. */
  pause(): void;
  /** SIGCONT after pause(). */
  resume(): void;
  /** Starts a fresh, empty server on the same port after kill(), and waits until it answers. */
  restart(): Promise<void>;
}

export interface StartRedisOptions {
  /** Path or name of the server binary (default: redis-server on PATH). */
  binary?: string;
  /** How long to wait for the first PONG. */
  readyTimeoutMs?: number;
}

const live = new Set<Subprocess>();
process.on("exit", () => {
  for (const proc of live) proc.kill("SIGKILL");
});

/**
 * Starts redis-server on a free local port and resolves once it answers PING.
 * Throws naming the binary when it is not installed.
 *
 * @example
 * const { url, stop } = await startRedis();
 */
export async function startRedis(options: StartRedisOptions = {}): Promise<RedisServer> {
  const name = options.binary ?? "redis-server";
  const binary = name.includes("/") ? (existsSync(name) ? name : null) : Bun.which(name);
  if (binary === null) {
    throw new Error(`${name} is not installed (not found on PATH): the Redis tests need a real server. Install it with \`sh test/setup/system-packages.sh\` (Debian package redis-server).`);
  }
  const readyTimeoutMs = options.readyTimeoutMs ?? 5000;
  const dir = mkdtempSync(join(tmpdir(), "warden-redis-"));
  const port = await freePort();
  let proc: Subprocess | null = null;

  async function launch(): Promise<void> {
    const log = join(dir, "redis.log");
    const p = Bun.spawn(
      [binary!, "--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir, "--logfile", log, "--daemonize", "no"],
      { stdin: "ignore", stdout: "ignore", stderr: "pipe" },
    );
    proc = p;
    live.add(p);
    const deadline = performance.now() + readyTimeoutMs;
    while (performance.now() < deadline) {
      if (p.exitCode !== null || p.signalCode !== null) break;
      if (await answersPing(port)) return;
      await Bun.sleep(20);
    }
    p.kill("SIGKILL");
    await p.exited;
    live.delete(p);
    const stderr = await new Response(p.stderr as ReadableStream).text();
    const tail = existsSync(log) ? readFileSync(log, "utf8").trim().split("\n").slice(-5).join("\n") : "";
    throw new Error(`redis-server on port ${port} did not answer PING within ${readyTimeoutMs} ms\n${stderr}${tail}`);
  }

  async function end(signal: "SIGTERM" | "SIGKILL"): Promise<void> {
    const p = proc;
    if (p === null) return;
    proc = null;
    p.kill("SIGCONT"); // a paused server cannot act on SIGTERM
    p.kill(signal);
    await p.exited;
    live.delete(p);
  }

  await launch();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    dir,
    async stop() {
      await end("SIGTERM");
      rmSync(dir, { recursive: true, force: true });
    },
    kill: () => end("SIGKILL"),
    pause: () => void proc?.kill("SIGSTOP"),
    resume: () => void proc?.kill("SIGCONT"),
    async restart() {
      await end("SIGKILL");
      await launch();
    },
  };
}

/** A port nobody listens on right now (the kernel picks it; the tiny race is acceptable in tests). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** True once a raw `PING` gets `+PONG` (no client library, so this also works before one exists). */
function answersPing(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: "127.0.0.1", port });
    let reply = "";
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.once("error", () => done(false));
    socket.once("connect", () => socket.write("PING\r\n"));
    socket.on("data", (chunk) => {
      reply += chunk.toString("latin1");
      if (reply.includes("\r\n")) done(reply.startsWith("+PONG"));
    });
  });
}
