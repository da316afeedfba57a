// Mock OpenAI-compatible upstream for the gateway's e2e tests and benchmarks.
// Speaks the public OpenAI REST wire format; built on Bun.serve directly so it is
// never the bottleneck of a benchmark.
//
// Tool calls: a chat request with `tools` calls the first tool (or the one tool_choice names)
// instead of answering in text when tool_choice is "required" or names a function, when the last
// user text contains the magic word `mock:tool`, or when the behaviour says `tool`. Arguments are
// built from the tool's JSON Schema properties; streamed, they come in two fragments.
//
// `text` replaces the generated reply with given text (what an open model writes: <think> blocks,
// <tool_call> tags), streamed three characters per chunk so tags split across chunks. `errorCode`
// sets the code of an injected error status (context_length_exceeded with 400 also gets OpenAI's
// message for it). `firstEventDelayMs` sends a stream's headers at once and its first event late.

export interface MockBehavior {
  tokens: number;
  delayMs: number;
  firstByteDelayMs: number;
  status: number;
  resetAfterTokens: number;
  pauseAfterTokens: number;
  pauseMs: number;
  gzip: boolean;
  tool: boolean;
  text: string;
  errorCode: string;
  firstEventDelayMs: number;
}
export interface RecordedRequest { method: string; path: string; headers: Record<string, string>; body: string; }
export interface MockUpstream {
  url: string;
  port: number;
  requests: RecordedRequest[];
  aborts: number; // streams the client left, and requests abandoned during firstByteDelayMs
  behavior: MockBehavior;
  reset(): void;
  stop(): Promise<void>;
}

export const DEFAULT_BEHAVIOR: Readonly<MockBehavior> = Object.freeze({
  tokens: 16, delayMs: 0, firstByteDelayMs: 0, status: 0,
  resetAfterTokens: -1, pauseAfterTokens: -1, pauseMs: 0, gzip: false, tool: false,
  text: "", errorCode: "", firstEventDelayMs: 0,
});

const MAX_RECORDED = 10_000;
const RESET_LINGER_MS = 25;
const MODELS = ["mock-gpt", "mock-gpt-mini", "mock-embed"];
const FINGERPRINT = "fp_mock";
const JSON_HEADERS = { "content-type": "application/json" };
const SSE_HEADERS = { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache" };
const MODELS_BODY = JSON.stringify({
  object: "list",
  data: MODELS.map((id) => ({ id, object: "model", created: 1700000000, owned_by: "mock" })),
});

// Unique-enough ids without crypto per request: random process prefix + counter.
const ID_PREFIX = Math.random().toString(36).slice(2, 10);
let idCounter = 0;
const nextId = (kind: string) => `${kind}-${ID_PREFIX}${(idCounter++).toString(36)}`;
const now = () => Math.floor(Date.now() / 1000);

// Token i as it appears in a stream delta; concatenating deltas yields the full text.
const tokenText = (i: number) => (i === 0 ? "tok0" : ` tok${i}`);
const contentCache = new Map<number, string>();
function contentFor(n: number): string {
  let s = contentCache.get(n);
  if (s === undefined) {
    s = Array.from({ length: n }, (_, i) => `tok${i}`).join(" ");
    if (contentCache.size < 1024) contentCache.set(n, s);
  }
  return s;
}

function errorType(status: number): [type: string, code: string | null] {
  if (status === 429) return ["requests", "rate_limit_exceeded"];
  if (status === 401) return ["invalid_request_error", "invalid_api_key"];
  if (status >= 500) return ["server_error", null];
  return ["invalid_request_error", null];
}

function json(body: string, b: MockBehavior, status = 200, extra?: Record<string, string>): Response {
  const headers: Record<string, string> = extra ? { ...JSON_HEADERS, ...extra } : { ...JSON_HEADERS };
  if (!b.gzip) return new Response(body, { status, headers });
  headers["content-encoding"] = "gzip";
  return new Response(Bun.gzipSync(body), { status, headers });
}

function error(status: number, message: string, b: MockBehavior, code?: string | null): Response {
  const [type, defCode] = errorType(status);
  const body = JSON.stringify({ error: { message, type, param: null, code: code === undefined ? defCode : code } });
  return json(body, b, status, status === 429 ? { "retry-after": "1" } : undefined);
}

// Rough prompt size: ~4 chars per token, like OpenAI's rule of thumb.
function textTokens(v: unknown): number {
  if (typeof v === "string") return Math.ceil(v.length / 4);
  if (typeof v === "number") return 1;
  if (Array.isArray(v)) return v.reduce((s: number, x) => s + textTokens(x), 0);
  if (v && typeof v === "object") {
    const o = v as Record<string, unknown>;
    return textTokens(o.content ?? o.text ?? "");
  }
  return 0;
}

/** A tool call the mock makes: the tool's name and its arguments as a JSON string. */
interface Call { id: string; name: string; args: string }
interface Gen { n: number; finish: "stop" | "length" | "tool_calls"; promptTokens: number; model: string; includeUsage: boolean; call: Call | null; pieces: string[] | null }

/** Given reply text in stream pieces of three code points. */
function piecesOf(text: string): string[] {
  const chars = [...text];
  const out: string[] = [];
  for (let i = 0; i < chars.length; i += 3) out.push(chars.slice(i, i + 3).join(""));
  return out;
}

const TOOL_TOKENS = 8; // what a tool call "costs" in completion tokens

/** A value that satisfies a simple JSON Schema, for tool arguments. */
function sample(schema: any): unknown {
  switch (schema?.type) {
    case "string": return Array.isArray(schema.enum) && schema.enum.length > 0 ? schema.enum[0] : "mock";
    case "number": case "integer": return 1;
    case "boolean": return true;
    case "array": return [];
    case "object": return Object.fromEntries(Object.entries(schema.properties ?? {}).map(([k, v]) => [k, sample(v)]));
    default: return null;
  }
}

function lastUserText(messages: any[]): string {
  for (let i = messages.length - 1; i >= 0; i--) {
    if (messages[i]?.role === "user") return JSON.stringify(messages[i].content ?? "");
  }
  return "";
}

/** The tool call a chat request asks for, if it asks for one (see the header comment). */
function toolCallFor(body: Record<string, any>, b: MockBehavior): Call | null {
  const tools = Array.isArray(body.tools) ? body.tools.filter((t: any) => t?.type === "function" && typeof t.function?.name === "string") : [];
  if (tools.length === 0) return null;
  const choice = body.tool_choice;
  if (choice === "none") return null;
  const named = typeof choice === "object" && choice !== null ? choice.function?.name : undefined;
  const forced = choice === "required" || typeof named === "string";
  if (!forced && !b.tool && !lastUserText(Array.isArray(body.messages) ? body.messages : []).includes("mock:tool")) return null;
  const tool = tools.find((t: any) => t.function.name === named) ?? tools[0];
  return { id: nextId("call"), name: tool.function.name, args: JSON.stringify(sample(tool.function.parameters ?? { type: "object" })) };
}

function plan(body: Record<string, any>, b: MockBehavior, prompt: unknown): Gen {
  const limit = body.max_completion_tokens ?? body.max_tokens;
  const capped = typeof limit === "number" && limit >= 0 && limit < b.tokens;
  const call = toolCallFor(body, b);
  if (b.text !== "" && call === null) {
    const pieces = piecesOf(b.text);
    return { n: pieces.length, finish: "stop", promptTokens: Math.max(1, textTokens(prompt)), model: body.model, includeUsage: body.stream_options?.include_usage === true, call, pieces };
  }
  return {
    pieces: null,
    n: call !== null ? 0 : capped ? Math.floor(limit) : Math.max(0, b.tokens | 0),
    finish: call !== null ? "tool_calls" : capped ? "length" : "stop",
    promptTokens: Math.max(1, textTokens(prompt)),
    model: body.model,
    includeUsage: body.stream_options?.include_usage === true,
    call,
  };
}

const completionTokens = (g: Gen) => (g.call !== null ? TOOL_TOKENS : g.n);
const usageOf = (g: Gen) => ({ prompt_tokens: g.promptTokens, completion_tokens: completionTokens(g), total_tokens: g.promptTokens + completionTokens(g) });

function chatCompletion(g: Gen, b: MockBehavior): Response {
  const message = g.call === null
    ? { role: "assistant", content: g.pieces === null ? contentFor(g.n) : g.pieces.join(""), refusal: null, annotations: [] }
    : { role: "assistant", content: null, refusal: null, annotations: [], tool_calls: [{ id: g.call.id, type: "function", function: { name: g.call.name, arguments: g.call.args } }] };
  return json(JSON.stringify({
    id: nextId("chatcmpl"), object: "chat.completion", created: now(), model: g.model,
    choices: [{ index: 0, message, logprobs: null, finish_reason: g.finish }],
    usage: usageOf(g), service_tier: "default", system_fingerprint: FINGERPRINT,
  }), b);
}

function textCompletion(g: Gen, b: MockBehavior): Response {
  return json(JSON.stringify({
    id: nextId("cmpl"), object: "text_completion", created: now(), model: g.model, system_fingerprint: FINGERPRINT,
    choices: [{ text: contentFor(g.n), index: 0, logprobs: null, finish_reason: g.finish }],
    usage: usageOf(g),
  }), b);
}

// SSE frames are assembled from per-stream prefix/suffix strings so each token costs one concat.
interface Frames { first: string | null; token: (i: number) => string; finish: string; usage: string | null }

/** A tool call's chunks: id and name with no arguments, then the arguments in two fragments. */
function callFrames(head: string, tail: string, call: Call): string {
  const delta = (d: string) => `${head}{"index":0,"delta":{"tool_calls":[${d}]},"logprobs":null,"finish_reason":null}${tail}`;
  const cut = Math.floor(call.args.length / 2);
  return delta(`{"index":0,"id":"${call.id}","type":"function","function":{"name":${JSON.stringify(call.name)},"arguments":""}}`) +
    delta(`{"index":0,"function":{"arguments":${JSON.stringify(call.args.slice(0, cut))}}}`) +
    delta(`{"index":0,"function":{"arguments":${JSON.stringify(call.args.slice(cut))}}}`);
}

function chatFrames(g: Gen): Frames {
  const head = `data: {"id":"${nextId("chatcmpl")}","object":"chat.completion.chunk","created":${now()},"model":${JSON.stringify(g.model)},"service_tier":"default","system_fingerprint":"${FINGERPRINT}","choices":[`;
  const tail = g.includeUsage ? `],"usage":null}\n\n` : `]}\n\n`;
  const role = `${head}{"index":0,"delta":{"role":"assistant","content":${g.call === null ? '""' : "null"},"refusal":null},"logprobs":null,"finish_reason":null}${tail}`;
  return {
    first: g.call === null ? role : role + callFrames(head, tail, g.call),
    token: (i) => `${head}{"index":0,"delta":{"content":${g.pieces === null ? `"${tokenText(i)}"` : JSON.stringify(g.pieces[i])}},"logprobs":null,"finish_reason":null}${tail}`,
    finish: `${head}{"index":0,"delta":{},"logprobs":null,"finish_reason":"${g.finish}"}${tail}`,
    usage: g.includeUsage ? `${head}],"usage":${JSON.stringify(usageOf(g))}}\n\n` : null,
  };
}

function completionFrames(g: Gen): Frames {
  const head = `data: {"id":"${nextId("cmpl")}","object":"text_completion","created":${now()},"model":${JSON.stringify(g.model)},"system_fingerprint":"${FINGERPRINT}","choices":[`;
  const tail = g.includeUsage ? `],"usage":null}\n\n` : `]}\n\n`;
  return {
    first: null,
    token: (i) => `${head}{"text":"${tokenText(i)}","index":0,"logprobs":null,"finish_reason":null}${tail}`,
    finish: `${head}{"text":"","index":0,"logprobs":null,"finish_reason":"${g.finish}"}${tail}`,
    usage: g.includeUsage ? `${head}],"usage":${JSON.stringify(usageOf(g))}}\n\n` : null,
  };
}

function stream(req: Request, f: Frames, g: Gen, b: MockBehavior, onAbort: () => void): Response {
  let ended = false; // finished or deliberately reset: a later disconnect is not a client abort
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
      if (b.firstEventDelayMs > 0) {
        await c.flush();
        await Bun.sleep(b.firstEventDelayMs);
        if (gone) return;
      }
      if (f.first) c.write(f.first);
      // A reset longer than the reply still fires (before the finish chunk): the caller asked for a broken stream.
      const resetAt = b.resetAfterTokens >= 0 ? Math.min(b.resetAfterTokens, g.n) : -1;
      for (let i = 0; i <= g.n; i++) {
        if (i === resetAt) {
          ended = true;
          // Bun resets (RST) the socket, and a client that has not read the last bytes yet
          // loses them; linger briefly so the truncated prefix is reliably observed.
          await c.flush();
          await Bun.sleep(RESET_LINGER_MS);
          // Rejecting with undefined drops the socket without terminating the chunked
          // body, and (unlike an Error) without Bun printing anything.
          return Promise.reject();
        }
        const wait = (i === b.pauseAfterTokens ? b.pauseMs : 0) + (i < g.n ? b.delayMs : 0);
        if (wait > 0) {
          await c.flush();
          await Bun.sleep(wait);
          if (gone) return;
        }
        if (i === g.n) break;
        const w = c.write(f.token(i));
        if (typeof w !== "number") await w; // backpressure from a slow reader
      }
      c.write(f.finish);
      if (f.usage) c.write(f.usage);
      c.write("data: [DONE]\n\n");
      ended = true;
      c.close();
    },
    cancel: clientLeft,
  };
  // Cast: when lib.dom is loaded its ReadableStream typings lack Bun's "direct" overload.
  return new Response(new ReadableStream(source as any), { headers: SSE_HEADERS });
}

// Deterministic unit vector seeded by a hash of the input (mulberry32 PRNG).
function vectorFor(input: unknown, dims: number): Float32Array {
  let seed = Number(BigInt.asUintN(32, BigInt(Bun.hash(typeof input === "string" ? input : JSON.stringify(input)))));
  const v = new Float32Array(dims);
  let norm = 0;
  for (let i = 0; i < dims; i++) {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    v[i] = ((t ^ (t >>> 14)) >>> 0) / 4294967296 - 0.5;
    norm += v[i] * v[i];
  }
  norm = Math.sqrt(norm) || 1;
  for (let i = 0; i < dims; i++) v[i] /= norm;
  return v;
}

function embeddings(body: Record<string, any>, b: MockBehavior): Response {
  const input = body.input;
  // A flat array of numbers is a single tokenized input; any other array is a batch.
  const items: unknown[] = Array.isArray(input) && input.length > 0 && typeof input[0] !== "number" ? input : [input];
  if (input == null || items.length === 0 || (Array.isArray(input) && input.length === 0)) {
    return error(400, "'input' must be a non-empty string or array", b);
  }
  const dims = Number.isInteger(body.dimensions) && body.dimensions > 0 ? Math.min(body.dimensions, 4096) : 8;
  const base64 = body.encoding_format === "base64";
  let tokens = 0;
  const data = items.map((item, index) => {
    tokens += Math.max(1, textTokens(item));
    const vec = vectorFor(item, dims);
    // Float32Array bytes are platform order, i.e. little-endian on every target we run on.
    const embedding = base64 ? Buffer.from(vec.buffer).toString("base64") : Array.from(vec);
    return { object: "embedding", index, embedding };
  });
  return json(JSON.stringify({ object: "list", data, model: body.model, usage: { prompt_tokens: tokens, total_tokens: tokens } }), b);
}

const ROUTES = new Set(["POST /v1/chat/completions", "POST /v1/completions", "POST /v1/embeddings", "GET /v1/models"]);

export async function startMockUpstream(opts: { port?: number; hostname?: string; behavior?: Partial<MockBehavior>; record?: boolean } = {}): Promise<MockUpstream> {
  const initial: MockBehavior = { ...DEFAULT_BEHAVIOR, ...opts.behavior };
  const record = opts.record ?? true;

  async function handle(req: Request): Promise<Response> {
    const url = req.url;
    const pathStart = url.indexOf("/", url.indexOf("//") + 2);
    const q = url.indexOf("?", pathStart);
    let path = q < 0 ? url.slice(pathStart) : url.slice(pathStart, q);
    const target = url.slice(pathStart); // as sent, query included: what requests[] records
    const method = req.method;
    // Azure OpenAI's deployment URLs (…/openai/deployments/{name}/chat/completions?api-version=…):
    // the same API, the deployment standing for the model. Azure refuses a call without api-version.
    const azure = /^\/openai\/deployments\/([^/]+)\/(chat\/completions|completions|embeddings)$/.exec(path);
    let deployment: string | undefined;
    if (azure) {
      if (q < 0 || !new URLSearchParams(url.slice(q + 1)).get("api-version")) {
        return new Response(JSON.stringify({ error: { code: "404", message: "Resource not found" } }), { status: 404, headers: JSON_HEADERS });
      }
      deployment = decodeURIComponent(azure[1]);
      path = `/v1/${azure[2]}`;
    }
    const text = method === "GET" || method === "HEAD" ? "" : await req.text();
    if (record) {
      mock.requests.push({ method, path: target, headers: (req.headers as any).toJSON(), body: text });
      if (mock.requests.length > MAX_RECORDED) mock.requests.shift();
    }

    let body: Record<string, any> | null = null;
    let badJson = false;
    if (text) {
      try { body = JSON.parse(text); } catch { badJson = true; }
      if (body === null || typeof body !== "object" || Array.isArray(body)) { badJson = true; body = null; }
    }
    const b: MockBehavior = body?.mock && typeof body.mock === "object" ? { ...mock.behavior, ...body.mock } : mock.behavior;
    if (b.firstByteDelayMs > 0) {
      await Bun.sleep(b.firstByteDelayMs);
      // A caller that gave up while we "thought" counts as an abort too (gateways must cancel).
      if (req.signal.aborted) {
        mock.aborts++;
        return new Response(null, { status: 499 });
      }
    }

    const route = `${method} ${path}`;
    const modelMatch = method === "GET" && path.startsWith("/v1/models/") ? path.slice(11) : null;
    if (!ROUTES.has(route) && !modelMatch) return error(404, `Unknown request URL: ${route}`, b, "unknown_url");
    if (b.status && b.status !== 200) {
      if (b.errorCode === "context_length_exceeded") {
        return error(b.status, "This model's maximum context length is 8192 tokens. However, your messages resulted in 9000 tokens. Please reduce the length of the messages.", b, b.errorCode);
      }
      return error(b.status, `Mock upstream injected error (status ${b.status})`, b, b.errorCode || undefined);
    }
    if (route === "GET /v1/models") return json(MODELS_BODY, b);
    if (modelMatch) {
      return json(JSON.stringify({ id: decodeURIComponent(modelMatch), object: "model", created: 1700000000, owned_by: "mock" }), b);
    }
    if (badJson || !body) return error(400, "We could not parse the JSON body of your request.", b);
    if (deployment !== undefined) body.model = deployment;
    if (typeof body.model !== "string" || !body.model) return error(400, "you must provide a model parameter", b);

    const onAbort = () => { mock.aborts++; };
    if (route === "POST /v1/embeddings") return embeddings(body, b);
    if (route === "POST /v1/chat/completions") {
      if (!Array.isArray(body.messages)) return error(400, "'messages' is a required property", b);
      const g = plan(body, b, body.messages);
      return body.stream === true ? stream(req, chatFrames(g), g, b, onAbort) : chatCompletion(g, b);
    }
    const g = plan(body, b, body.prompt ?? "");
    return body.stream === true ? stream(req, completionFrames(g), g, b, onAbort) : textCompletion(g, b);
  }

  const server = Bun.serve({
    port: opts.port ?? 0,
    hostname: opts.hostname ?? "127.0.0.1",
    idleTimeout: 0, // long pauses/delays must only be cut by the client under test
    fetch: handle,
    error: (e) => new Response(JSON.stringify({ error: { message: String(e), type: "server_error", param: null, code: null } }), { status: 500, headers: JSON_HEADERS }),
  });

  const host = server.hostname?.includes(":") ? `[${server.hostname}]` : server.hostname;
  const mock: MockUpstream = {
    url: `http://${host}:${server.port}/v1`,
    port: server.port!,
    requests: [],
    aborts: 0,
    behavior: { ...initial },
    reset() {
      Object.assign(mock.behavior, initial);
      mock.requests.length = 0;
      mock.aborts = 0;
    },
    async stop() { await server.stop(true); },
  };
  return mock;
}

function parseArgs(argv: string[]) {
  const opts = { port: 9000, hostname: "127.0.0.1", record: false, behavior: {} as Partial<MockBehavior> };
  for (let i = 0; i < argv.length; i++) {
    const num = () => Number(argv[++i]);
    switch (argv[i]) {
      case "--port": opts.port = num(); break;
      case "--host": opts.hostname = argv[++i]; break;
      case "--tokens": opts.behavior.tokens = num(); break;
      case "--delay-ms": opts.behavior.delayMs = num(); break;
      case "--no-record": opts.record = false; break;
      case "--record": opts.record = true; break;
      default: throw new Error(`unknown argument: ${argv[i]}`);
    }
  }
  return opts;
}

if (import.meta.main) {
  const opts = parseArgs(process.argv.slice(2));
  const mock = await startMockUpstream(opts);
  console.log(`mock upstream listening on ${mock.url}`);
  // Exit right away: stop(true) drops open sockets anyway, and waiting on it must never keep us alive.
  const shutdown = () => { void mock.stop(); process.exit(0); };
  process.on("SIGINT", shutdown);
  process.on("SIGTERM", shutdown);
}
