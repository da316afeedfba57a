// What token counting costs: encoding load time and memory, counting speed on small chats,
// 100 KiB of prose and 1 MiB adversarial inputs (with the bounded count's error), the tenant
// caches on a 20-turn conversation, and the caches' bytes per entry — in one run on this machine.
//
//   ./node_modules/.bin/bun bench/tokens.ts [--out PATH] [--quick]
//
// Writes bench/results/<YYYY-MM-DD>-tokens.md (or --out) and prints the same report. Load time and
// memory are measured in fresh child processes (one per encoding and implementation), so earlier
// work in this process does not blur them.
import { writeFileSync } from "node:fs";
import { availableParallelism, cpus, totalmem } from "node:os";
import { join, resolve } from "node:path";
import { Tiktoken } from "js-tiktoken/lite";
import { countMergesWith } from "../src/tokens/bpe.ts";
import { walkChatRequest } from "../src/tokens/chat.ts";
import { countTokens, isCountExact, MAX_PIECE_CHARS } from "../src/tokens/count.ts";
import { ENCODING_NAMES, getEncoding, type Encoding, type EncodingName } from "../src/tokens/encodings.ts";
import { countChatPromptTokens, configureTokenCaches, DEFAULT_LIMITS, tokenCacheStats } from "../src/tokens/index.ts";
import { countRequestUncached } from "../src/tokens/request-count.ts";
import { createBoundedMap, boundedSet } from "../src/tokens/bounded-map.ts";
import { BYTES_PER_ENTRY, tenantCounts } from "../src/tokens/tenant-cache.ts";
import { adversarialInputs, seededRandom } from "../src/tokens/test-corpus.ts";
import { benchArgs } from "./args";

const ROOT = resolve(import.meta.dir, "..");
const BUN = process.execPath;

// ---------------------------------------------------------------------------------------------
// Child mode: measure loading one encoding in a fresh process, print one JSON line, exit.

function referenceRanks(name: EncodingName): ConstructorParameters<typeof Tiktoken>[0] {
  switch (name) {
    case "o200k_base":
      return require("js-tiktoken/ranks/o200k_base");
    case "cl100k_base":
      return require("js-tiktoken/ranks/cl100k_base");
    case "p50k_base":
      return require("js-tiktoken/ranks/p50k_base");
  }
}

if (process.argv[2] === "--probe-load") {
  const name = process.argv[3] as EncodingName;
  const which = process.argv[4];
  Bun.gc(true);
  const before = process.memoryUsage();
  const started = performance.now();
  const keep: unknown[] = [];
  if (which === "ours") keep.push(getEncoding(name));
  else keep.push(new Tiktoken(referenceRanks(name)));
  const ms = performance.now() - started;
  Bun.gc(true);
  const after = process.memoryUsage();
  const firstCountStarted = performance.now();
  if (which === "ours") countTokens(keep[0] as Encoding, "hello world");
  else (keep[0] as Tiktoken).encode("hello world");
  console.log(
    JSON.stringify({
      ms,
      firstCountMs: performance.now() - firstCountStarted,
      rssMiB: (after.rss - before.rss) / 2 ** 20,
      heapMiB: (after.heapUsed - before.heapUsed) / 2 ** 20,
    }),
  );
  process.exit(0);
}

if (process.argv[2] === "--probe-cache-entries") {
  const entries = Number(process.argv[3]);
  Bun.gc(true);
  const before = process.memoryUsage().heapUsed;
  const map = createBoundedMap<bigint, number>(entries * 2 + 2);
  for (let i = 0; i < entries; i++) boundedSet(map, Bun.hash(`entry ${i}`) as bigint, i);
  Bun.gc(true);
  console.log(JSON.stringify({ bytesPerEntry: (process.memoryUsage().heapUsed - before) / entries, held: map.young.size }));
  process.exit(0);
}

// ---------------------------------------------------------------------------------------------
// Options

const { out, quick } = benchArgs("tokens");
const REPEATS = quick ? 3 : 7;

// ---------------------------------------------------------------------------------------------
// Helpers

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** Median milliseconds of `repeats` runs of `fn` (each run may loop `inner` times). */
function timeMs(fn: () => unknown, repeats = REPEATS, inner = 1): number {
  fn(); // warm-up (JIT, lazy loads)
  const runs: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const started = Bun.nanoseconds();
    for (let i = 0; i < inner; i++) fn();
    runs.push((Bun.nanoseconds() - started) / 1e6 / inner);
  }
  return median(runs);
}

const fmt = (value: number, digits = 1) =>
  value.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
const int = (value: number) => Math.round(value).toLocaleString("en-US");
const utf8Bytes = (text: string) => Buffer.byteLength(text, "utf8");

/** Count with no piece ever cut: the exact tiktoken count, for measuring the bound's error. */
function countUnbounded(encoding: Encoding, text: string): number {
  const { pieces, ranks } = encoding;
  pieces.lastIndex = 0;
  let total = 0;
  for (let match = pieces.exec(text); match !== null; match = pieces.exec(text)) {
    const bytes = Buffer.from(match[0], "utf8").toString("latin1");
    total += ranks.has(bytes) ? 1 : countMergesWith("heap", encoding, bytes);
  }
  return total;
}

const WORDS = (
  "the of and to in is that for it as was with be by on not he this are or his from at which but have " +
  "an they you were her she there been one all we their has would when if so no will more can what out " +
  "about up into only other new some could time these two may then do first any now such like our over " +
  "gateway request tenant ledger checkpoint upstream latency throughput governance encryption transparency " +
  "verification configuration deployment observability rate limit quota token budget policy audit record " +
  "Warden OpenAI Kubernetes PostgreSQL internationalization misunderstanding responsibilities"
).split(" ");

/** Seeded English-like prose: sentences, commas, numbers, paragraphs. */
function prose(bytes: number, seed: number): string {
  const random = seededRandom(seed);
  let text = "";
  while (text.length < bytes) {
    const words = 6 + random(18);
    let sentence = "";
    for (let w = 0; w < words; w++) {
      let word = WORDS[random(WORDS.length)]!;
      if (w === 0) word = word[0]!.toUpperCase() + word.slice(1);
      if (random(25) === 0) word = String(random(100_000));
      sentence += (w === 0 ? "" : random(9) === 0 ? ", " : " ") + word;
    }
    text += sentence + (random(6) === 0 ? ".\n\n" : ". ");
  }
  return text.slice(0, bytes);
}

function chatBody(messages: { role: string; content: string }[]) {
  return { model: "gpt-4o", messages };
}

const report: string[] = [];
const line = (text = "") => {
  report.push(text);
  console.log(text);
};

// ---------------------------------------------------------------------------------------------
// Report header

line("# Warden benchmark — token counting (src/tokens)");
line();
line("Command: `./node_modules/.bin/bun bench/tokens.ts" + (quick ? " --quick" : "") + "`");
line();
line(`Date: ${new Date().toISOString()}`);
line();
line("| fact | value |");
line("| :--- | :--- |");
line(`| nproc | ${availableParallelism()} |`);
line(`| CPU | ${cpus()[0]?.model ?? "?"} |`);
line(`| memory | ${fmt(totalmem() / 2 ** 30)} GiB |`);
line(`| Bun | ${Bun.version} |`);
line(`| js-tiktoken | ${require("js-tiktoken/package.json").version} |`);
line(`| MAX_PIECE_CHARS | ${MAX_PIECE_CHARS} |`);
line();
line(`Timings are medians of ${REPEATS} runs after one warm-up run, in one process, on a machine shared with`);
line("other work: between whole runs the same row moved by up to 2×, so compare rows within one run.");
line();

// ---------------------------------------------------------------------------------------------
// 1. Loading encodings

line("## 1. Loading an encoding (fresh process each)");
line();
line("*ours*: `getEncoding(name)` — require js-tiktoken's rank module, parse it into a byte-string → rank");
line("Map plus a two-byte rank table. *js-tiktoken*: the same require + `new Tiktoken(ranks)` (its encoder,");
line("with decode tables). Memory is the growth of RSS and of the JS heap across the load, after a full GC.");
line("First count: `hello world` right after loading.");
line();
const loads: { name: EncodingName; which: string; ms: number; rssMiB: number }[] = [];
line("| encoding | implementation | load ms | first count ms | RSS MiB | heap MiB |");
line("| :--- | :--- | ---: | ---: | ---: | ---: |");
for (const name of ENCODING_NAMES) {
  for (const which of ["ours", "js-tiktoken"] as const) {
    const child = Bun.spawnSync([BUN, import.meta.path, "--probe-load", name, which === "ours" ? "ours" : "lib"], {
      cwd: ROOT,
      stderr: "inherit",
    });
    const probe = JSON.parse(child.stdout.toString().trim().split("\n").at(-1)!);
    loads.push({ name, which, ms: probe.ms, rssMiB: probe.rssMiB });
    line(
      `| ${name} | ${which} | ${fmt(probe.ms, 0)} | ${fmt(probe.firstCountMs, 2)} | ${fmt(probe.rssMiB)} | ${fmt(probe.heapMiB)} |`,
    );
  }
}
line();

// ---------------------------------------------------------------------------------------------
// 2. Counting speed on ordinary input

line("## 2. Counting speed, ordinary input (exact counts)");
line();
const o200k = getEncoding("o200k_base");
const cl100k = getEncoding("cl100k_base");
const smallChat = chatBody([
  { role: "system", content: "You are a concise assistant for a logistics company. Answer in two sentences." },
  { role: "user", content: "Which of our warehouses can ship 40 pallets to Rotterdam by Friday?" },
]);
const walkO200k = (body: unknown, sink: Parameters<typeof walkChatRequest>[2]) => walkChatRequest(body, "o200k_base", sink);
const smallTokens = countRequestUncached(o200k, walkO200k, smallChat);
const smallMs = timeMs(() => countRequestUncached(o200k, walkO200k, smallChat), REPEATS, 20_000);
const largeText = prose(100 * 1024, 7);
const referenceO200k = new Tiktoken(referenceRanks("o200k_base"));
const referenceCl100k = new Tiktoken(referenceRanks("cl100k_base"));

line("| input | encoding | tokens | µs / count | tokens / s | MB / s | js-tiktoken µs / count |");
line("| :--- | :--- | ---: | ---: | ---: | ---: | ---: |");
{
  const refMs = timeMs(() => {
    let total = 6; // what the message arithmetic adds is the same for both; time only the encoding
    for (const message of smallChat.messages) total += referenceO200k.encode(message.content, [], []).length;
    return total;
  }, REPEATS, 20_000);
  line(
    `| 2-message chat (uncached, full chat arithmetic) | o200k_base | ${smallTokens} | ${fmt(smallMs * 1000, 2)} | ${int(
      smallTokens / (smallMs / 1000),
    )} | ${fmt(utf8Bytes(JSON.stringify(smallChat.messages)) / (smallMs / 1000) / 1e6)} | ${fmt(refMs * 1000, 2)} |`,
  );
}
for (const [encoding, reference] of [
  [o200k, referenceO200k],
  [cl100k, referenceCl100k],
] as const) {
  const tokens = countTokens(encoding, largeText);
  const exactRef = reference.encode(largeText, [], []).length;
  if (tokens !== exactRef) throw new Error(`count differs from js-tiktoken on prose: ${tokens} vs ${exactRef}`);
  const ms = timeMs(() => countTokens(encoding, largeText));
  const refMs = timeMs(() => reference.encode(largeText, [], []));
  line(
    `| 100 KiB prose | ${encoding.name} | ${int(tokens)} | ${int(ms * 1000)} | ${int(tokens / (ms / 1000))} | ${fmt(
      utf8Bytes(largeText) / (ms / 1000) / 1e6,
    )} | ${int(refMs * 1000)} |`,
  );
}
line();
line("Both prose counts equal js-tiktoken's `encode(...).length` (the bench checks it: relative error 0).");
line("The chat row times the whole chat count (roles, content, arithmetic); its js-tiktoken column times");
line("only `encode` of the two contents, for scale.");
line();

// ---------------------------------------------------------------------------------------------
// 3. Adversarial input

line("## 3. Adversarial input: 1 MiB (UTF-8) runs without spaces");
line();
line(`Pre-tokenizer pieces longer than ${MAX_PIECE_CHARS} UTF-16 units are cut into chunks of that size`);
line("(never inside a surrogate pair) and each chunk is merged on its own. *exact* is the uncut count");
line("(the same heap merge over the whole piece, as slow as it needs to be); *error* = (count − exact) / exact.");
line("*cut?* says whether any piece was cut (otherwise the count is exact by construction).");
line();
const adversarial: { label: string; name: EncodingName; ms: number; error: number }[] = [];
line("| input | encoding | tokens | exact | error | cut? | ms | MB / s |");
line("| :--- | :--- | ---: | ---: | ---: | :---: | ---: | ---: |");
const inputs = adversarialInputs();
for (const name of ENCODING_NAMES) {
  const encoding = getEncoding(name);
  for (const [label, text] of Object.entries(inputs)) {
    const tokens = countTokens(encoding, text);
    const exact = countUnbounded(encoding, text);
    const ms = timeMs(() => countTokens(encoding, text), quick ? 1 : 3);
    const error = (tokens - exact) / exact;
    adversarial.push({ label, name, ms, error });
    line(
      `| ${label} | ${name} | ${int(tokens)} | ${int(exact)} | ${error === 0 ? "0" : (error * 100).toFixed(3) + " %"} | ${
        isCountExact(encoding, text) ? "no" : "yes"
      } | ${int(ms)} | ${fmt(utf8Bytes(text) / (ms / 1000) / 1e6)} |`,
    );
  }
}
line();
{
  line("For scale, js-tiktoken alone on one run of the letter a (quadratic in the run's length):");
  line();
  line("| run length | js-tiktoken ms | ours ms |");
  line("| ---: | ---: | ---: |");
  for (const length of quick ? [500, 1000] : [500, 1000, 2000, 4000]) {
    const text = "a".repeat(length);
    const refMs = timeMs(() => referenceCl100k.encode(text, [], []), 1);
    const ms = timeMs(() => countTokens(cl100k, text), 3);
    line(`| ${int(length)} | ${fmt(refMs)} | ${fmt(ms, 3)} |`);
  }
  line();
}

// ---------------------------------------------------------------------------------------------
// 4. Merge strategy crossover (justifies SCAN_MAX_BYTES in bpe.ts)

line("## 4. Merge strategies by piece length (random lowercase letters, o200k_base)");
line();
line("| bytes | rescan µs | heap µs |");
line("| ---: | ---: | ---: |");
{
  const random = seededRandom(3);
  for (const length of [8, 16, 32, 64, 128, 256, 1024]) {
    const samples = Array.from({ length: 200 }, () =>
      Array.from({ length }, () => String.fromCharCode(97 + random(26))).join(""),
    );
    const per = (strategy: "rescan" | "heap") =>
      (timeMs(() => {
        for (const sample of samples) countMergesWith(strategy, o200k, sample);
      }, 3) * 1000) / samples.length;
    line(`| ${length} | ${fmt(per("rescan"), 2)} | ${fmt(per("heap"), 2)} |`);
  }
}
line();

// ---------------------------------------------------------------------------------------------
// 5. Caches on a 20-turn conversation

line("## 5. Caches: a 20-turn conversation (gpt-4o)");
line();
const conversation: { role: string; content: string }[] = [
  { role: "system", content: prose(600, 100) },
];
const turns: ReturnType<typeof chatBody>[] = [];
for (let turn = 0; turn < 20; turn++) {
  conversation.push({ role: "user", content: prose(400, 200 + turn) });
  turns.push(chatBody([...conversation]));
  conversation.push({ role: "assistant", content: prose(1600, 300 + turn) });
}
const lastTurn = turns[19]!;
const lastTokens = countRequestUncached(o200k, walkO200k, lastTurn);
let scopeSeq = 0;
const freshScope = () => `bench-${scopeSeq++}`;
configureTokenCaches(DEFAULT_LIMITS);

const uncachedLastMs = timeMs(() => countRequestUncached(o200k, walkO200k, lastTurn), REPEATS, 20);
const coldLastMs = timeMs(() => countChatPromptTokens("gpt-4o", lastTurn, freshScope()), REPEATS, 20);
// Turn 20 after turns 1–19 in the same tenant: only the last reply and the new question are encoded.
const warmSamples: number[] = [];
for (let r = 0; r < REPEATS; r++) {
  const scope = freshScope();
  for (let i = 0; i < 19; i++) countChatPromptTokens("gpt-4o", turns[i]!, scope);
  const started = Bun.nanoseconds();
  countChatPromptTokens("gpt-4o", lastTurn, scope);
  warmSamples.push((Bun.nanoseconds() - started) / 1e6);
}
const newTurnMs = median(warmSamples);
// The same request again: an L0 hit.
const repeatScope = freshScope();
countChatPromptTokens("gpt-4o", lastTurn, repeatScope);
const l0HitMs = timeMs(() => countChatPromptTokens("gpt-4o", lastTurn, repeatScope), REPEATS, 2_000);
// The same request again with L0 emptied before each call: all 40 messages are L1 hits.
const l1Scope = freshScope();
countChatPromptTokens("gpt-4o", lastTurn, l1Scope);
const l1Tenant = tenantCounts(l1Scope);
const l1OnlyMs = timeMs(() => {
  l1Tenant.requests.young.clear();
  l1Tenant.requests.old.clear();
  countChatPromptTokens("gpt-4o", lastTurn, l1Scope);
}, REPEATS, 2_000);
// The whole conversation, turn by turn, with and without caches.
const conversationUncachedMs = timeMs(() => {
  for (const body of turns) countRequestUncached(o200k, walkO200k, body);
});
const conversationCachedMs = timeMs(() => {
  const scope = freshScope();
  for (const body of turns) countChatPromptTokens("gpt-4o", body, scope);
});

line(`Turn 20 carries ${lastTurn.messages.length} messages, ${int(utf8Bytes(JSON.stringify(lastTurn.messages)))} bytes,`);
line(`${int(lastTokens)} prompt tokens. Each turn adds the previous ~1600-byte reply and a new ~400-byte question.`);
line();
line("| case | µs / request | vs uncached |");
line("| :--- | ---: | ---: |");
const row = (label: string, ms: number) =>
  line(`| ${label} | ${fmt(ms * 1000)} | ${fmt(uncachedLastMs / ms, 1)}× |`);
row("turn 20, no cache (encode all 40 messages)", uncachedLastMs);
row("turn 20, cold tenant (fingerprint + encode all + fill caches)", coldLastMs);
row("turn 20 after turns 1–19 (L0 miss, 38 L1 hits, 2 new messages encoded)", newTurnMs);
row("turn 20 repeated, L0 emptied (40 L1 hits)", l1OnlyMs);
row("turn 20 repeated (L0 hit: fingerprint + 1 lookup)", l0HitMs);
line();
line(`Whole conversation (20 requests): ${fmt(conversationUncachedMs, 2)} ms without caches,`);
line(`${fmt(conversationCachedMs, 2)} ms with (${fmt(conversationUncachedMs / conversationCachedMs)}× faster).`);
line();

// ---------------------------------------------------------------------------------------------
// 6. Cache memory

line("## 6. Cache memory per entry");
line();
{
  const entries = 100_000;
  const child = Bun.spawnSync([BUN, import.meta.path, "--probe-cache-entries", String(entries)], { cwd: ROOT, stderr: "inherit" });
  const probe = JSON.parse(child.stdout.toString().trim().split("\n").at(-1)!);
  line(`${int(entries)} entries (64-bit hash key, count value) in a fresh process grew the JS heap by`);
  line(`${fmt(probe.bytesPerEntry)} bytes per entry. tenant-cache.ts budgets ${BYTES_PER_ENTRY} bytes per entry; with the default`);
  line(`limits (${DEFAULT_LIMITS.tenants} tenants × (${DEFAULT_LIMITS.requestsPerTenant} requests + ${DEFAULT_LIMITS.itemsPerTenant} items)) the caches hold`);
  line(`at most ${fmt(tokenCacheStats().maxBytes / 2 ** 20)} MiB.`);
}
line();

// ---------------------------------------------------------------------------------------------
// Summary

line("## Summary");
line();
{
  const slowest = adversarial.reduce((a, b) => (b.ms > a.ms ? b : a));
  const worstError = adversarial.reduce((a, b) => (Math.abs(b.error) > Math.abs(a.error) ? b : a));
  const load = (name: EncodingName, which: string) => loads.find((l) => l.name === name && l.which === which)!;
  const ours = load("o200k_base", "ours");
  const theirs = load("o200k_base", "js-tiktoken");
  line(`- Slowest 1 MiB adversarial input: ${slowest.label} (${slowest.name}), ${int(slowest.ms)} ms.`);
  line(
    `- Largest error of a bounded count: ${(worstError.error * 100).toFixed(3)} % (${worstError.label}, ${worstError.name}); ordinary text: 0.`,
  );
  line(
    `- o200k_base load: ${int(ours.ms)} ms / ${fmt(ours.rssMiB)} MiB RSS (js-tiktoken's encoder: ${int(theirs.ms)} ms / ${fmt(theirs.rssMiB)} MiB).`,
  );
  line(
    `- A new turn of a 20-turn conversation costs ${fmt(newTurnMs * 1000)} µs instead of ${fmt(uncachedLastMs * 1000)} µs (L1).`,
  );
  line(
    `- L0 on top of L1 saves ${fmt((l1OnlyMs - l0HitMs) * 1000)} µs of ${fmt(l1OnlyMs * 1000)} µs on an exact repeat: fingerprinting, which L0 cannot skip, is most of what is left.`,
  );
}
line();

writeFileSync(out, report.join("\n") + "\n");
console.error(`\nwrote ${out}`);
