/**
 * What the provider mocks (mock-anthropic.ts, mock-gemini.ts) share: the server with its
 * recorded requests and abort count, and the command line. Each mock brings its own wire format.
 */

/** A running provider mock; `Rec` is the shape of one recorded request, `B` its behaviour knobs. */
export interface ProviderMock<Rec, B> {
  /** Base URL as the provider's SDK takes it. */
  url: string;
  port: number;
  requests: Rec[];
  aborts: number;
  behavior: B;
  /** Back to the behaviour it started with; forgets recorded requests and aborts. */
  reset(): void;
  stop(): Promise<void>;
}

/**
 * Serves `handle` on loopback and wraps it as a {@link ProviderMock}. `handle` receives the mock
 * itself, to record requests, count aborts and read the current behaviour.
 *
 * @example
 * const mock = serveMock<Rec, B>({ port: 0 }, initial, (req, mock) => new Response("ok"), (e) => new Response(String(e), { status: 500 }));
 */
export function serveMock<Rec, B extends object>(
  opts: { port?: number; hostname?: string },
  initial: B,
  handle: (req: Request, mock: ProviderMock<Rec, B>) => Response | Promise<Response>,
  onError: (e: Error) => Response,
): ProviderMock<Rec, B> {
  const server = Bun.serve({
    port: opts.port ?? 0,
    hostname: opts.hostname ?? "127.0.0.1",
    idleTimeout: 0, // the mocks stream slowly on purpose
    fetch: (req) => handle(req, mock),
    error: onError,
  });
  const host = server.hostname?.includes(":") ? `[${server.hostname}]` : server.hostname;
  const mock: ProviderMock<Rec, B> = {
    url: `http://${host}:${server.port}`,
    port: server.port!,
    requests: [],
    aborts: 0,
    behavior: { ...initial },
    reset() {
      Object.assign(mock.behavior, initial);
      mock.requests.length = 0;
      mock.aborts = 0;
    },
    async stop() {
      await server.stop(true);
    },
  };
  return mock;
}

/** Options every provider mock takes on its command line. */
export interface MockCliOptions<B> {
  port: number;
  hostname: string;
  record: boolean;
  apiKey: string | undefined;
  behavior: Partial<B>;
}

/**
 * `bun bench/mock-<provider>.ts [--port N] [--host H] [--tokens N] [--delay-ms N] [--api-key K] [--record]`:
 * starts the mock and stops it on SIGINT/SIGTERM.
 */
export async function runMockCli<B extends { tokens: number; delayMs: number }>(
  name: string,
  defaultPort: number,
  start: (opts: MockCliOptions<B>) => Promise<{ url: string; stop(): Promise<void> }>,
): Promise<void> {
  const opts: MockCliOptions<B> = { port: defaultPort, hostname: "127.0.0.1", record: false, apiKey: undefined, behavior: {} };
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    const num = () => Number(argv[++i]);
    switch (argv[i]) {
      case "--port": opts.port = num(); break;
      case "--host": opts.hostname = argv[++i]; break;
      case "--tokens": opts.behavior.tokens = num(); break;
      case "--delay-ms": opts.behavior.delayMs = num(); break;
      case "--api-key": opts.apiKey = argv[++i]; break;
      case "--record": opts.record = true; break;
      default: throw new Error(`unknown argument: ${argv[i]}`);
    }
  }
  const mock = await start(opts);
  console.log(`mock ${name} listening on ${mock.url}`);
  const shutdown = () => {
    void mock.stop();
    process.exit(0);
  };
  process.on("SIGINT", shutdown);
  process.on("SIGTERM", shutdown);
}

/**
 * A value that fits a JSON Schema well enough for a mock's tool-call arguments: the first enum
 * value, "mock", 1, true, and objects and arrays filled the same way, at most 5 levels deep.
 * Type names are read case-insensitively (Gemini writes STRING, JSON Schema string).
 *
 * @example
 * sampleFromSchema({ type: "object", properties: { city: { type: "string" } } }); // { city: "mock" }
 */
export function sampleFromSchema(schema: any, depth = 0): unknown {
  if (depth > 4 || schema === null || typeof schema !== "object") return null;
  if (Array.isArray(schema.enum) && schema.enum.length > 0) return schema.enum[0];
  const type = String(Array.isArray(schema.type) ? schema.type[0] : schema.type).toLowerCase();
  switch (type) {
    case "string": return "mock";
    case "integer":
    case "number": return 1;
    case "boolean": return true;
    case "array": return [sampleFromSchema(schema.items ?? {}, depth + 1)].filter((x) => x !== null);
    case "object": {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(schema.properties ?? {})) out[k] = sampleFromSchema(v, depth + 1);
      return out;
    }
    default: return null;
  }
}
