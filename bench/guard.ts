// Cost of the smuggling guard (src/guard) on ordinary requests, in ns per call.
//
//   ./node_modules/.bin/bun bench/guard.ts                       (the table)
//   ./node_modules/.bin/bun bench/guard.ts typical serve guard   (one number: 8 headers, Bun.serve)
//
// Each line runs in its own process, so the JIT never sees two request shapes at one call site.
// "Bun.serve" is the production case: the request as Bun parsed it off a real socket (the exact
// head below, sent raw), timed inside the handler; there Headers are backed by the parsed head
// and every name and value string is created on access. "new Request" is the same head built
// in-process. "header walk" is a bare `for (const [name, value] of headers)`: the floor for any
// check that has to look at every header, and most of the guard's cost.
import { guardRequest } from "../src/guard";

const LIMITS = { maxHeaderBytes: 16 * 1024 };
const BODY = JSON.stringify({ model: "mock-gpt", messages: [{ role: "user", content: "Hello, how are you today?" }] });

/** 8 headers: a typical API call. */
const TYPICAL: [string, string][] = [
  ["host", "127.0.0.1:8080"],
  ["content-type", "application/json"],
  ["content-length", String(BODY.length)],
  ["authorization", "Bearer wdn-3q2nY7vJkR8xW4mZpLcT6bHsFgDa9EoU1iK5NwQ0"],
  ["user-agent", "OpenAI/JS 6.49.0"],
  ["accept", "application/json"],
  ["x-stainless-lang", "js"],
  ["x-stainless-retry-count", "0"],
];
/** 16 headers: what the official openai SDK for Node sends through fetch. */
const SDK: [string, string][] = [
  ...TYPICAL,
  ["x-stainless-package-version", "6.49.0"],
  ["x-stainless-os", "Linux"],
  ["x-stainless-arch", "x64"],
  ["x-stainless-runtime", "node"],
  ["x-stainless-runtime-version", "v22.12.0"],
  ["x-stainless-timeout", "600"],
  ["connection", "keep-alive"],
  ["accept-encoding", "gzip, deflate"],
];
const HEADS = { typical: TYPICAL, sdk: SDK };
type Head = keyof typeof HEADS;
type Shape = "serve" | "built";
type Subject = "guard" | "walk";

const WARMUP = 200_000;
const ROUNDS = 7;
const CALLS_PER_ROUND = 300_000;

function walkHeaders(request: Request): number {
  let size = 0;
  for (const [name, value] of request.headers) size += name.length + value.length;
  return size;
}

function nsPerCall(request: Request, subject: Subject): number {
  guardRequest(request, LIMITS); // must pass, or the numbers would time a refusal
  const fn = subject === "guard" ? () => guardRequest(request, LIMITS) : () => walkHeaders(request);
  for (let i = 0; i < WARMUP; i++) fn();
  // The median of several rounds: the machine is shared, and one busy round should not count.
  const rounds: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = Bun.nanoseconds();
    for (let i = 0; i < CALLS_PER_ROUND; i++) fn();
    rounds.push((Bun.nanoseconds() - t0) / CALLS_PER_ROUND);
  }
  return rounds.sort((a, b) => a - b)[ROUNDS >> 1];
}

async function measure(head: Head, shape: Shape, subject: Subject): Promise<number> {
  const fields = HEADS[head];
  if (shape === "built") {
    const request = new Request("http://127.0.0.1:8080/v1/chat/completions", { method: "POST", headers: fields, body: BODY });
    return nsPerCall(request, subject);
  }
  let result = 0;
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(request) {
      result = nsPerCall(request, subject);
      return new Response(null, { status: 204, headers: { connection: "close" } });
    },
  });
  const raw = `POST /v1/chat/completions HTTP/1.1\r\n${fields.map(([n, v]) => `${n}: ${v}\r\n`).join("")}\r\n${BODY}`;
  await new Promise<void>((done) => {
    Bun.connect({
      hostname: "127.0.0.1",
      port: server.port!,
      socket: { open: (s) => void s.write(raw), data() {}, close: () => done(), error: () => done() },
    });
  });
  await server.stop(true);
  return result;
}

if (process.argv.length > 2) {
  const [head, shape, subject] = process.argv.slice(2) as [Head, Shape, Subject];
  console.log((await measure(head, shape, subject)).toFixed(0));
} else {
  for (const head of Object.keys(HEADS) as Head[]) {
    for (const shape of ["serve", "built"] as Shape[]) {
      const run = (subject: Subject) => Bun.spawnSync([process.execPath, import.meta.path, head, shape, subject]).stdout.toString().trim();
      const label = `${HEADS[head].length} headers, ${shape === "serve" ? "Bun.serve  " : "new Request"}`;
      console.log(`${label}  guardRequest ${run("guard").padStart(5)} ns/call   (header walk alone ${run("walk").padStart(5)} ns)`);
    }
  }
}
