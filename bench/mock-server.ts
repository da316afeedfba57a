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

/** What a mock stream does on its way: cut the connection, end in an error event, or pause between tokens. */
export interface StreamFaults {
  resetAfterTokens: number;
  errorAfterTokens: number;
  delayMs: number;
}

// A reset drops the socket; linger first so the client reliably reads the prefix before the RST.
const RESET_LINGER_MS = 25;

/**
 * An SSE reply from whole events, with the injected faults of `b`: `tokenAt[i]` is the token
 * index event i carries (-1 for events around the tokens). `errorEvent` ends the stream at
 * `errorAfterTokens`; `onAbort` hears of a client that left before the end.
 *
 * @example
 * return streamWithFaults(req, events, tokenAt, b, OVERLOADED_EVENT, onAbort, SSE_HEADERS);
 */
export function streamWithFaults(
  req: Request,
  events: readonly string[],
  tokenAt: readonly number[],
  b: StreamFaults,
  errorEvent: string,
  onAbort: () => void,
  headers: Record<string, string>,
): Response {
  let ended = false; // finished or deliberately cut: a later disconnect is not a client abort
  let gone = false;
  const clientLeft = () => {
    if (ended || gone) return;
    gone = true;
    onAbort();
  };
  req.signal.addEventListener("abort", clientLeft, { once: true });
  const source: Bun.DirectUnderlyingSource = {
    type: "direct",
    async pull(c: ReadableStreamDirectController) {
      for (let i = 0; i < events.length; i++) {
        const token = tokenAt[i];
        if (token >= 0) {
          if (token === b.resetAfterTokens) {
            ended = true;
            await c.flush();
            await Bun.sleep(RESET_LINGER_MS);
            return Promise.reject(); // drops the socket without ending the chunked body
          }
          if (token === b.errorAfterTokens) {
            c.write(errorEvent);
            ended = true;
            c.close();
            return;
          }
          if (token > 0 && b.delayMs > 0) {
            await c.flush();
            await Bun.sleep(b.delayMs);
            if (gone) return;
          }
        }
        const w = c.write(events[i]);
        if (typeof w !== "number") await w;
      }
      ended = true;
      c.close();
    },
    cancel: clientLeft,
  };
  // Cast: when lib.dom is loaded its ReadableStream typings lack Bun's "direct" overload.
  return new Response(new ReadableStream(source as any), { headers });
}
