// In-process cost of one forwarded request through proxy() (every stage, the forwarder, the reply
// read to the end) with fetch replaced by a canned upstream reply: Warden's own CPU time per
// request without sockets or a second process. Compares the routes and provider paths:
//
//   ./node_modules/.bin/bun bench/proxy-path.ts
//
// Prints µs per request, the fastest and the median of 9 rounds of 3000. Noisy on a shared 2-core
// machine: compare runs made back to back (NO_PROVIDERS=1 runs the OpenAI cases alone, so a tree
// without the provider dispatch can run the same file).
import { createGateway } from "../src/app";
import { loadConfig } from "../src/config";
import { loadCore } from "../src/native";
import { setLogLevel } from "../src/log";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const dir = mkdtempSync(join(tmpdir(), "warden-bench-proxy-"));
const core = await loadCore(dir);
const enc = new TextEncoder();

const TOKENS = Array.from({ length: 16 }, (_, i) => (i === 0 ? "tok0" : ` tok${i}`));
const OPENAI_JSON = enc.encode(JSON.stringify({
  id: "chatcmpl-1", object: "chat.completion", created: 1, model: "m",
  choices: [{ index: 0, message: { role: "assistant", content: TOKENS.join("") }, finish_reason: "stop" }],
  usage: { prompt_tokens: 9, completion_tokens: 16, total_tokens: 25 },
}));
const OPENAI_SSE = [
  ...TOKENS.map((t) => enc.encode(`data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":${JSON.stringify(t)}},"finish_reason":null}]}\n\n`)),
  enc.encode(`data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n`),
];
const ANTHROPIC_JSON = enc.encode(JSON.stringify({
  id: "msg_1", type: "message", role: "assistant", model: "m", content: [{ type: "text", text: TOKENS.join("") }],
  stop_reason: "end_turn", stop_sequence: null, usage: { input_tokens: 9, output_tokens: 16 },
}));
const ANTHROPIC_SSE = [
  enc.encode(`event: message_start\ndata: {"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"m","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":9,"output_tokens":1}}}\n\nevent: content_block_start\ndata: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}\n\n`),
  ...TOKENS.map((t) => enc.encode(`event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":${JSON.stringify(t)}}}\n\n`)),
  enc.encode(`event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\nevent: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":16}}\n\nevent: message_stop\ndata: {"type":"message_stop"}\n\n`),
];

/** The canned reply for a URL: OpenAI-shaped unless the URL is an Anthropic one. */
function reply(url: string, stream: boolean): Response {
  const anthropic = url.endsWith("/v1/messages");
  if (!stream) return new Response(anthropic ? ANTHROPIC_JSON : OPENAI_JSON, { headers: { "content-type": "application/json" } });
  const chunks = anthropic ? ANTHROPIC_SSE : OPENAI_SSE;
  let i = 0;
  const body = new ReadableStream<Uint8Array>({ pull(c) { if (i < chunks.length) c.enqueue(chunks[i++]); else c.close(); } });
  return new Response(body, { headers: { "content-type": "text/event-stream" } });
}
const decoder = new TextDecoder();
/** Whether the upstream request asks for a stream: translated bodies are strings, passed-through ones bytes. */
const streams = (body: unknown) => (typeof body === "string" ? body : decoder.decode(body as Uint8Array)).includes('"stream":true');
globalThis.fetch = (async (url: string, init: RequestInit) => reply(url, streams(init.body))) as typeof fetch;

const config = loadConfig({
  WARDEN_UPSTREAM_OAI_URL: "http://127.0.0.1:9/v1",
  WARDEN_UPSTREAM_OAI_MODELS: "mock-gpt",
  ...(process.env.NO_PROVIDERS ? {} : { WARDEN_UPSTREAM_ANT_URL: "http://127.0.0.1:9", WARDEN_UPSTREAM_ANT_MODELS: "mock-claude", WARDEN_UPSTREAM_ANT_PROVIDER: "anthropic" }),
});
setLogLevel("warn"); // the request log line is not what this measures
const gateway = createGateway(config, { coreVersion: "bench", auditAlive: async () => true, entropy: (s) => core.byteEntropy(s) });

function request(path: string, body: string): Request {
  return new Request(`http://127.0.0.1:8080${path}`, { method: "POST", headers: { host: "127.0.0.1:8080", "content-type": "application/json", "content-length": String(body.length) }, body });
}

async function time(n: number, make: () => Request, path: string): Promise<[min: number, median: number]> {
  const post = (gateway.routes as Record<string, { POST: (r: Request, s: null) => Promise<Response> }>)[path].POST;
  const once = async () => {
    const res = await post(make(), null);
    if (res.status !== 200) throw new Error(`${path}: ${res.status} ${await res.text()}`);
    await res.arrayBuffer();
  };
  for (let i = 0; i < n; i++) await once();
  const rounds: number[] = [];
  for (let r = 0; r < 9; r++) {
    const t0 = Bun.nanoseconds();
    for (let i = 0; i < n; i++) await once();
    rounds.push((Bun.nanoseconds() - t0) / n / 1000);
  }
  rounds.sort((a, b) => a - b);
  // The minimum is the least disturbed round (the machine is shared); the median shows the spread.
  return [rounds[0], rounds[4]];
}

const chat = (model: string, stream: boolean) => JSON.stringify({ model, messages: [{ role: "user", content: "Say hello" }], ...(stream ? { stream: true } : {}) });
const messages = (model: string, stream: boolean) => JSON.stringify({ model, max_tokens: 64, messages: [{ role: "user", content: "Say hello" }], ...(stream ? { stream: true } : {}) });
const cases: [string, string, string][] = [
  ["openai client → openai upstream, JSON", "/v1/chat/completions", chat("mock-gpt", false)],
  ["openai client → openai upstream, stream", "/v1/chat/completions", chat("mock-gpt", true)],
];
if (!process.env.NO_PROVIDERS) {
  cases.push(
    ["openai client → anthropic upstream, JSON", "/v1/chat/completions", chat("mock-claude", false)],
    ["openai client → anthropic upstream, stream", "/v1/chat/completions", chat("mock-claude", true)],
    ["anthropic client → openai upstream, JSON", "/v1/messages", messages("mock-gpt", false)],
    ["anthropic client → openai upstream, stream", "/v1/messages", messages("mock-gpt", true)],
    ["anthropic client → anthropic upstream, JSON", "/v1/messages", messages("mock-claude", false)],
    ["anthropic client → anthropic upstream, stream", "/v1/messages", messages("mock-claude", true)],
  );
}
console.log("| path | µs per request (min) | (median) |\n| :--- | ---: | ---: |");
for (const [label, path, body] of cases) {
  const [min, median] = await time(3000, () => request(path, body), path);
  console.log(`| ${label} | ${min.toFixed(1)} | ${median.toFixed(1)} |`);
}
core.close();
rmSync(dir, { recursive: true, force: true });
process.exit(0);
