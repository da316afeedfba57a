// Per-stage cost of the hot path, in µs per call, for the request bench/wrk-chat.lua sends (a
// one-message chat completion) and its 16-token reply, with a virtual key that has request,
// token and concurrency limits: what each stage of src/app.ts's proxy() spends on it.
//
//   ./node_modules/.bin/bun bench/stages.ts [--out PATH]
//
// Writes bench/results/<date>-stages.md. Every stage runs on real parts: a key in a SQLite file,
// the Rust core's entropy through bun:ffi, the in-memory rate limiter. Requests here are built
// in-process (new Request); in the server, Bun creates header strings lazily on access, which
// makes the guard's header walk ~0.6 µs dearer (bench/guard.ts measures both).
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { guardRequest } from "../src/guard";
import { createAuthenticator } from "../src/auth";
import { openKeyStore } from "../src/keys";
import { createWaf, mergePolicies, DEFAULT_POLICY, parseBody, validateBody } from "../src/waf";
import { countPromptTokens } from "../src/tokens";
import { createMemoryLimiter, rateLimitHeaders, subject } from "../src/ratelimit";
import { routeRequest } from "../src/adapter";
import { loadConfig } from "../src/config";
import { buildRoutes } from "../src/router";
import { extract, type HandOff } from "../src/audit/record";
import { HandOffWriter } from "../src/audit/handoff";
import { loadCore } from "../src/native";

const outArg = process.argv.indexOf("--out");
const dir = mkdtempSync(join(tmpdir(), "warden-bench-stages-"));
const core = await loadCore(dir);
const store = openKeyStore(join(dir, "keys.db"));
const { record, secret } = store.createKey({ tenant: "bench", rpm: 1e9, tpm: 1e12, maxConcurrent: 1e5 });

const BODY = new TextEncoder().encode('{"model":"mock-gpt","messages":[{"role":"user","content":"Say hello"}],"mock":{"tokens":16}}');
const REPLY = new TextEncoder().encode(
  JSON.stringify({
    id: "chatcmpl-1",
    object: "chat.completion",
    created: 1,
    model: "mock-gpt",
    choices: [{ index: 0, message: { role: "assistant", content: Array.from({ length: 16 }, (_, i) => `tok${i}`).join(" ") }, finish_reason: "stop" }],
    usage: { prompt_tokens: 9, completion_tokens: 16, total_tokens: 25 },
  }),
);
const request = () =>
  new Request("http://127.0.0.1:8080/v1/chat/completions", {
    method: "POST",
    headers: { host: "127.0.0.1:8080", "content-type": "application/json", "content-length": String(BODY.length), authorization: `Bearer ${secret}`, "user-agent": "wrk" },
    body: BODY,
  });

const authenticate = createAuthenticator({ masterKey: "bench-master-key-0123456789", store });
const waf = createWaf((spans) => core.byteEntropy(spans));
const policy = mergePolicies(DEFAULT_POLICY, undefined, record.wafPolicy);
const limiter = createMemoryLimiter();
const subjects = [subject(`key:${record.id}`, { rpm: record.rpm, tpm: record.tpm, maxConcurrent: record.maxConcurrent })];
const models = buildRoutes(loadConfig({ WARDEN_UPSTREAM_MOCK_URL: "http://127.0.0.1:9/v1", WARDEN_UPSTREAM_MOCK_MODELS: "mock-gpt" }));
const writer = new HandOffWriter();
const json = parseBody(BODY, 64);
const req = request();

/** Median of 7 rounds of `n` calls, in µs per call. */
function time(n: number, fn: () => void): number {
  for (let i = 0; i < n; i++) fn(); // warm-up: let the JIT settle
  const rounds: number[] = [];
  for (let r = 0; r < 7; r++) {
    const t0 = Bun.nanoseconds();
    for (let i = 0; i < n; i++) fn();
    rounds.push((Bun.nanoseconds() - t0) / n / 1000);
  }
  return rounds.sort((a, b) => a - b)[3];
}

const handOff: HandOff = {
  time: Date.now(), requestId: "req_0123456789abcdef0123456789abcdef", keyId: record.id, tenant: "bench", route: "/v1/chat/completions",
  model: "mock-gpt", upstream: "mock", status: 200, refusal: null, totalUs: 1000, upstreamFirstByteUs: 900,
  request: [BODY], response: [REPLY], streamed: false, waf: [], rateLimit: { outcome: "allowed", reason: null, subject: null },
};

const rows: [string, string, number][] = [
  ["guard", "guardRequest: Host, framing, path and header checks", time(100_000, () => guardRequest(req, { maxHeaderBytes: 16384 }))],
  ["auth", "key format + SHA-256 + cached look-up (PRAGMA data_version)", time(100_000, () => authenticate(req.headers))],
  ["WAF", "parseBody (depth scan + JSON.parse)", time(100_000, () => parseBody(BODY, 64))],
  ["WAF", "validateBody (compiled TypeBox schema)", time(100_000, () => validateBody("chat/completions", json))],
  ["WAF", "inspect (normalise, 22 rules, entropy batch)", time(100_000, () => waf.inspect("chat/completions", json, policy))],
  ["rate limit", "countPromptTokens (o200k/cl100k, L0 cache hit)", time(100_000, () => countPromptTokens("chat/completions", "mock-gpt", json, "bench"))],
  ["rate limit", "check + release (GCRA, rpm+tpm+concurrency)", time(100_000, () => limiter.release(limiter.check(subjects, 9) as never))],
  ["rate limit", "rateLimitHeaders (x-ratelimit-* strings)", time(100_000, () => rateLimitHeaders(limiter.check(subjects, 0) as never))],
  ["adapter", "routeRequest (model → upstream)", time(100_000, () => routeRequest(json, models))],
  ["after reply", "extract usage from the reply + charge completion tokens", time(100_000, () => limiter.charge(subjects, extract([REPLY], false).usage!.completion_tokens))],
  ["audit", "hand-off: pack the record into the batch buffer", time(100_000, () => (writer.write(handOff), writer.count >= 256 && writer.take()))],
];
const total = rows.reduce((s, r) => s + r[2], 0);

const table = [
  "| stage | what | µs per request |",
  "| :--- | :--- | ---: |",
  ...rows.map(([stage, what, us]) => `| ${stage} | ${what} | ${us.toFixed(2)} |`),
  `| **all** | sum of the above | **${total.toFixed(2)}** |`,
].join("\n");
const md = `# Hot-path cost per stage

Command: \`./node_modules/.bin/bun bench/stages.ts\` (Bun ${Bun.version}, ${new Date().toISOString()})

One request as \`bench/wrk-chat.lua\` sends it (${BODY.length}-byte chat body, a 16-token JSON reply), with a
virtual key that has rpm, tpm and concurrency limits. Median of 7 rounds of 100 000 calls per line,
in-process on this shared 2-core machine (runs vary by up to ~30 %). The Request is built with
\`new Request\`; in the server Bun creates header strings on access, which adds ~0.6 µs to the guard
(bench/guard.ts).

${table}
`;
console.log(table);
const out = resolve(outArg > 0 ? process.argv[outArg + 1] : join(import.meta.dir, "results", `${new Date().toISOString().slice(0, 10)}-stages.md`));
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, md);
console.log(`wrote ${out}`);
store.close();
core.close();
rmSync(dir, { recursive: true, force: true });
