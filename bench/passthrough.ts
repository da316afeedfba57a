// The floor for our runtime: a bare Bun pass-through proxy with no gateway logic at all.
// It forwards method, path (and query), body and content-type to the target and streams the
// upstream's reply body back untouched. Whatever Warden costs on top of this is Warden's own cost.
//
// Run: BUN_CONFIG_MAX_HTTP_REQUESTS=65336 bun bench/passthrough.ts --port 9100 --target http://127.0.0.1:9000
//   --target is an origin (scheme://host:port, optionally with a path prefix); the request's path
//   is appended to it as is, so a client asks the proxy for /v1/chat/completions.
// Without BUN_CONFIG_MAX_HTTP_REQUESTS, Bun's fetch runs at most 256 requests at once and
// queues the rest silently: a streaming benchmark would measure that queue, not the proxy.

export {}; // a module, not a global script (top-level await, private names)

function parseArgs(argv: string[]): { port: number; hostname: string; target: string } {
  const o = { port: 9100, hostname: "127.0.0.1", target: "" };
  for (let i = 0; i < argv.length; i++) {
    switch (argv[i]) {
      case "--port": o.port = Number(argv[++i]); break;
      case "--host": o.hostname = argv[++i]; break;
      case "--target": o.target = argv[++i]; break;
      default: throw new Error(`unknown argument: ${argv[i]}`);
    }
  }
  if (!o.target) throw new Error("--target URL is required");
  o.target = o.target.replace(/\/+$/, "");
  return o;
}

const opts = parseArgs(process.argv.slice(2));
const target = opts.target;

const server = Bun.serve({
  port: opts.port,
  hostname: opts.hostname,
  idleTimeout: 0, // streams may be quiet for a while; only the client decides when to give up
  async fetch(req) {
    const url = req.url;
    const path = url.slice(url.indexOf("/", url.indexOf("//") + 2));
    const method = req.method;
    const headers: Record<string, string> = {};
    const ct = req.headers.get("content-type");
    if (ct !== null) headers["content-type"] = ct;
    let res: Response;
    try {
      res = await fetch(target + path, {
        method,
        headers,
        body: method === "GET" || method === "HEAD" ? undefined : await req.arrayBuffer(),
        signal: req.signal, // client gone: stop the upstream request too
        decompress: false, // pass bytes through; content-encoding is passed back below
      });
    } catch (e) {
      return new Response(`upstream fetch failed: ${(e as Error).message}\n`, { status: 502 });
    }
    const out: Record<string, string> = {};
    const rct = res.headers.get("content-type");
    if (rct !== null) out["content-type"] = rct;
    const enc = res.headers.get("content-encoding");
    if (enc !== null) out["content-encoding"] = enc;
    return new Response(res.body, { status: res.status, headers: out });
  },
});

console.log(`passthrough listening on http://${opts.hostname}:${server.port} -> ${target}`);
const shutdown = () => { server.stop(true).finally(() => process.exit(0)); };
process.on("SIGINT", shutdown);
process.on("SIGTERM", shutdown);
