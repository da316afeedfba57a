// What streaming output parsing (src/parsers) costs per chunk: a 2000-token reply with a
// reasoning block, prose and tool calls in each supported format, fed token by token to
// the stream parser, as chunk objects to the chunk rewriter, and whole to parseMessage.
//
//   ./node_modules/.bin/bun bench/parsers.ts [--out PATH] [--quick]
//
// Writes bench/results/<YYYY-MM-DD>-parsers.md (or --out) and prints the same report.
import { writeFileSync } from "node:fs";
import { cpus, totalmem, availableParallelism } from "node:os";
import { join, resolve } from "node:path";
import { createChunkRewriter, type ChatCompletionChunk } from "../src/parsers/chunk.ts";
import { parseMessage } from "../src/parsers/message.ts";
import { createStreamParser } from "../src/parsers/stream.ts";
import { seededRandom } from "../src/parsers/test-support.ts";
import { CALL_BEGIN, CALL_END, CALLS_BEGIN, CALLS_END, TOOL_SEP } from "../src/parsers/tools/deepseek.ts";
import type { ParserOptions } from "../src/parsers/types.ts";

const ROOT = resolve(import.meta.dir, "..");

let out: string | undefined;
let quick = false;
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  if (argv[i] === "--out") out = argv[++i];
  else if (argv[i] === "--quick") quick = true;
  else {
    console.error(`unknown argument: ${argv[i]}\nusage: bun bench/parsers.ts [--out PATH] [--quick]`);
    process.exit(2);
  }
}

const RUNS = quick ? 3 : 15;
const REPLIES_PER_RUN = quick ? 10 : 40;
const TARGET_TOKENS = 2000;

// ---------------------------------------------------------------------------------------------
// The reply: 2000 token-like pieces: two thirds thinking, one third answer, then tool calls in
// the model's format.

const WORDS = (
  "the model weighs each option before it answers and then checks the numbers again because " +
  "a gateway must never lose a byte of what was said while it moves thinking out of the content " +
  "Zürich 東京 naïve café 🚀 42 3.14 (see above) [note] {x} a<b"
).split(" ");

function prose(tokens: number, seed: number): string {
  const random = seededRandom(seed);
  const words: string[] = [];
  for (let i = 0; i < tokens; i++) words.push(WORDS[Math.floor(random() * WORDS.length)]);
  return words.join(" ");
}

const ARGS = [
  '{"city": "Zürich", "unit": "celsius", "days": 3}',
  '{"query": "latest release notes of the gateway", "limit": 10, "filters": {"lang": ["en", "de"], "since": "2026-01-01"}}',
];

function callsIn(format: string): string {
  const names = ["get_weather", "search"];
  switch (format) {
    case "hermes":
      return names.map((n, i) => `<tool_call>\n{"name": "${n}", "arguments": ${ARGS[i]}}\n</tool_call>`).join("\n");
    case "llama3":
      return names.map((n, i) => `{"name": "${n}", "parameters": ${ARGS[i]}}`).join("; ");
    case "mistral":
      return names.map((n, i) => `[TOOL_CALLS]${n}[ARGS]${ARGS[i]}`).join("");
    case "deepseek":
      return `${CALLS_BEGIN}${names.map((n, i) => `${CALL_BEGIN}function${TOOL_SEP}${n}\n\`\`\`json\n${ARGS[i]}\n\`\`\`${CALL_END}`).join("\n")}${CALLS_END}`;
    default:
      return "";
  }
}

// Llama 3 calls are the whole reply, so its answer text is left out (the thinking stays).
function replyFor(format: string, thinkingWords: number, answerWords: number): string {
  const thinking = `<think>\n${prose(thinkingWords, 1)}\n</think>\n\n`;
  const answer = format === "llama3" ? "" : `${prose(answerWords, 2)}\n`;
  return `${thinking}${answer}${callsIn(format)}`;
}

// Word counts (two thirds thinking, one third answer) that make a reply of TARGET_TOKENS pieces.
function sizedReply(format: string): string {
  let words = TARGET_TOKENS;
  for (let round = 0; round < 4; round++) {
    const pieces = tokenize(replyFor(format, Math.round((words * 2) / 3), Math.round(words / 3))).length;
    words = Math.max(1, Math.round((words * TARGET_TOKENS) / pieces));
  }
  return replyFor(format, Math.round((words * 2) / 3), Math.round(words / 3));
}

// Token-like pieces: words with their leading space, digits and symbols one by one, so tags
// arrive split ("<", "think", ">") as real tokenizers often split them.
function tokenize(text: string): string[] {
  return text.match(/\s*[A-Za-z]+|\s*\d|\s*[^\sA-Za-z\d]|\s+/gu) ?? [];
}

interface Scenario {
  name: string;
  options: ParserOptions;
  reply: string;
  pieces: string[];
  calls: number;
}

const scenario = (name: string, options: ParserOptions, format: string, calls: number): Scenario => {
  const reply = sizedReply(format);
  return { name, options, reply, pieces: tokenize(reply), calls };
};

const SCENARIOS: Scenario[] = [
  scenario("pass-through (reasoning off, no tool format)", { reasoning: false }, "hermes", 0),
  scenario("`<think>` only (toolCalls `none`)", {}, "none", 0),
  scenario("hermes + `<think>`", { toolCalls: "hermes" }, "hermes", 2),
  scenario("llama3 + `<think>`", { toolCalls: "llama3" }, "llama3", 2),
  scenario("mistral + `<think>`", { toolCalls: "mistral" }, "mistral", 2),
  scenario("deepseek + `<think>`", { toolCalls: "deepseek" }, "deepseek", 2),
];

// The benchmark measures the right thing only if each parse is correct.
for (const s of SCENARIOS) {
  const whole = parseMessage(s.reply, s.options);
  if (whole.tool_calls.length !== s.calls) throw new Error(`${s.name}: ${whole.tool_calls.length} calls, expected ${s.calls}`);
  const p = createStreamParser(s.options);
  let content = "";
  for (const piece of s.pieces) for (const d of p.push(piece)) content += d.content ?? "";
  for (const d of p.end()) content += d.content ?? "";
  if (content !== (whole.content ?? "")) throw new Error(`${s.name}: streamed content differs from the whole parse`);
}

// ---------------------------------------------------------------------------------------------
// Timing

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

/**
 * Median ms of one call of each function, over RUNS rounds of `inner` calls after a warm-up
 * round. Rounds visit every function in turn, so load from other work on the machine falls on
 * all of them alike instead of on whichever ran at that moment.
 */
function timeAllMs(fns: (() => void)[], inner: number): number[] {
  const runs: number[][] = fns.map(() => []);
  for (let r = -1; r < RUNS; r++) {
    for (let f = 0; f < fns.length; f++) {
      const started = performance.now();
      for (let i = 0; i < inner; i++) fns[f]();
      if (r >= 0) runs[f].push((performance.now() - started) / inner);
    }
  }
  return runs.map(median);
}

let sink = 0;

function streamOnce(s: Scenario): void {
  const p = createStreamParser(s.options);
  for (let i = 0; i < s.pieces.length; i++) sink += p.push(s.pieces[i]).length;
  sink += p.end().length;
}

function chunkFrames(s: Scenario): string[] {
  const head = { id: "chatcmpl-bench", object: "chat.completion.chunk", created: 1700000000, model: "bench" };
  return s.pieces.map((content) => JSON.stringify({ ...head, choices: [{ index: 0, delta: { content }, logprobs: null, finish_reason: null }] }));
}

function rewriteOnce(s: Scenario, chunks: ChatCompletionChunk[]): void {
  const rw = createChunkRewriter(s.options);
  for (let i = 0; i < chunks.length; i++) {
    const delta = chunks[i].choices![0].delta!;
    delta.content = s.pieces[i]; // restore what the previous run rewrote
    delta.reasoning_content = undefined;
    delta.tool_calls = undefined;
    rw.rewrite(chunks[i]);
  }
  sink += rw.end() === null ? 0 : 1;
}

function jsonRoundTrip(frames: string[], rewrite: ((c: ChatCompletionChunk) => void) | null): void {
  for (let i = 0; i < frames.length; i++) {
    const chunk = JSON.parse(frames[i]) as ChatCompletionChunk;
    rewrite?.(chunk);
    sink += JSON.stringify(chunk).length;
  }
}

const utf8Bytes = (s: string) => Buffer.byteLength(s, "utf8");

interface Row {
  name: string;
  pieces: number;
  bytes: number;
  streamMs: number;
  rewriteMs: number;
  jsonMs: number;
  jsonRewriteMs: number;
  wholeMs: number;
}

const KINDS = 5;
const measured: (() => void)[] = [];
for (const s of SCENARIOS) {
  const frames = chunkFrames(s);
  const chunks = frames.map((f) => JSON.parse(f) as ChatCompletionChunk);
  measured.push(
    () => streamOnce(s),
    () => rewriteOnce(s, chunks),
    () => jsonRoundTrip(frames, null),
    () => {
      const rw = createChunkRewriter(s.options);
      jsonRoundTrip(frames, (c) => rw.rewrite(c));
    },
    () => {
      sink += parseMessage(s.reply, s.options).tool_calls.length;
    },
  );
}
const times = timeAllMs(measured, REPLIES_PER_RUN);
const rows: Row[] = SCENARIOS.map((s, i) => {
  const [streamMs, rewriteMs, jsonMs, jsonRewriteMs, wholeMs] = times.slice(i * KINDS, (i + 1) * KINDS);
  return { name: s.name, pieces: s.pieces.length, bytes: utf8Bytes(s.reply), streamMs, rewriteMs, jsonMs, jsonRewriteMs, wholeMs };
});

// ---------------------------------------------------------------------------------------------
// Report

const lines: string[] = [];
const line = (s = "") => lines.push(s);
const fmt = (n: number, digits = 2) => n.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
const mbps = (bytes: number, ms: number) => fmt(bytes / 1e6 / (ms / 1e3), 1);

line("# Warden benchmark — streaming output parsing (src/parsers)");
line();
line(`Command: \`./node_modules/.bin/bun bench/parsers.ts${quick ? " --quick" : ""}\``);
line();
line(`Date: ${new Date().toISOString()}`);
line();
line("| fact | value |");
line("| :--- | :--- |");
line(`| nproc | ${availableParallelism()} |`);
line(`| CPU | ${cpus()[0]?.model ?? "?"} |`);
line(`| memory | ${fmt(totalmem() / 2 ** 30, 1)} GiB |`);
line(`| Bun | ${Bun.version} |`);
line();
line(`The reply: ${TARGET_TOKENS} token-like pieces (±1 %): a \`<think>\` block of thinking, about half as`);
line("much answer (none for Llama 3, whose calls are the whole reply), then two tool calls in the");
line("format named; mixed ASCII, accented, CJK and emoji text. Pieces are a word with its leading");
line("space, or one digit or symbol, so tags arrive split as `<`, `think`, `>`. MB/s counts the reply's UTF-8");
line(`bytes. Medians of ${RUNS} rounds of ${REPLIES_PER_RUN} replies each after a warm-up round; each round`);
line("times every cell in turn, in one process on a machine shared with other work: compare rows");
line("within one run.");
line();
line("## 1. Stream parser: `push(delta.content)` per token, `end()`");
line();
line("| scenario | chunks | bytes | µs / reply | µs / chunk | MB / s |");
line("| :--- | ---: | ---: | ---: | ---: | ---: |");
for (const r of rows) {
  line(`| ${r.name} | ${r.pieces} | ${r.bytes.toLocaleString("en-US")} | ${fmt(r.streamMs * 1e3, 1)} | ${fmt((r.streamMs * 1e3) / r.pieces, 3)} | ${mbps(r.bytes, r.streamMs)} |`);
}
line();
line("## 2. Chunk rewriter on parsed `chat.completion.chunk` objects");
line();
line("*rewrite*: `rewrite(chunk)` alone, on objects already parsed. *JSON*: `JSON.parse` and");
line("`JSON.stringify` of each SSE event's data with no rewriting, the floor of any forwarder that looks");
line("inside events. *JSON + rewrite*: both, what the forwarder would pay per event.");
line();
line("| scenario | rewrite µs / chunk | JSON µs / chunk | JSON + rewrite µs / chunk | rewrite MB / s |");
line("| :--- | ---: | ---: | ---: | ---: |");
for (const r of rows) {
  const per = (ms: number) => fmt((ms * 1e3) / r.pieces, 3);
  line(`| ${r.name} | ${per(r.rewriteMs)} | ${per(r.jsonMs)} | ${per(r.jsonRewriteMs)} | ${mbps(r.bytes, r.rewriteMs)} |`);
}
line();
line("## 3. Whole replies: `parseMessage(text)`");
line();
line("| scenario | bytes | µs / reply | MB / s |");
line("| :--- | ---: | ---: | ---: |");
for (const r of rows) line(`| ${r.name} | ${r.bytes.toLocaleString("en-US")} | ${fmt(r.wholeMs * 1e3, 1)} | ${mbps(r.bytes, r.wholeMs)} |`);
line();
const worst = rows.reduce((a, b) => ((b.streamMs / b.pieces > a.streamMs / a.pieces) ? b : a));
line("## Summary");
line();
line(`- Slowest stream parse: ${worst.name}, ${fmt((worst.streamMs * 1e3) / worst.pieces, 3)} µs per chunk (${mbps(worst.bytes, worst.streamMs)} MB/s).`);
line(`- Pass-through floor: ${fmt((rows[0].streamMs * 1e3) / rows[0].pieces, 3)} µs per chunk.`);
line(`- Per SSE event, JSON parse + stringify costs ${fmt((worst.jsonMs * 1e3) / worst.pieces, 3)} µs; the rewrite adds ${fmt(((worst.jsonRewriteMs - worst.jsonMs) * 1e3) / worst.pieces, 3)} µs on top (${worst.name}).`);
const perEventUs = (worst.jsonRewriteMs * 1e3) / worst.pieces;
line(`- For scale: 2000 streams at 50 tokens/s are 100,000 events/s; parsing, rewriting and re-serialising`);
line(`  them at ${fmt(perEventUs, 3)} µs each takes ${fmt(perEventUs * 10, 1)} % of one core.`);

const report = lines.join("\n") + "\n";
const path = out ?? join(ROOT, "bench", "results", `${new Date().toISOString().slice(0, 10)}-parsers.md`);
writeFileSync(path, report);
console.log(report);
console.log(`written to ${path} (checksum ${sink % 7})`);
