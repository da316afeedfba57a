// What the budget step costs per request, and why reservations live in memory (src/budget/book.ts):
//   - the in-memory book: reserve + settle of a key and its tenant, and the budget step's
//     arithmetic (price look-up, completion cap, cost);
//   - the batched write: one flush transaction for 1, 100 and 1000 accounts (synchronous=FULL,
//     the key database's setting), divided by the requests an interval carries;
//   - the alternative measured against: a reservation as a SQLite transaction on the key
//     database (UPDATE … WHERE spent + reserved + ? <= budget, key and tenant), FULL and NORMAL.
//
//   ./node_modules/.bin/bun bench/budget.ts [--out PATH]
//
// Writes bench/results/<YYYY-MM-DD>-budget.md (or --out) and prints it. Files go to a temporary
// directory on the same file system as bench/ (fsync cost is the disk's, not tmpfs's).
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, release } from "node:os";
import { join, resolve } from "node:path";
import { Database } from "bun:sqlite";
import { openKeyStore } from "../src/keys/store";
import { completionCap, costMicros, createBudgetBook, parsePrices, priceOf, type Hold } from "../src/budget";

const ROOT = resolve(import.meta.dir, "..");
const args = process.argv.slice(2);
const out = args.includes("--out") ? args[args.indexOf("--out") + 1] : join(ROOT, "bench/results", `${new Date().toISOString().slice(0, 10)}-budget.md`);
const dir = mkdtempSync(join(ROOT, "bench", ".budget-"));

/** ns per call of `f`, best of 5 runs of `n` calls after a warm-up. */
function time(n: number, f: (i: number) => void): number {
  for (let i = 0; i < Math.min(n, 10_000); i++) f(i);
  let best = Infinity;
  for (let run = 0; run < 5; run++) {
    const t0 = Bun.nanoseconds();
    for (let i = 0; i < n; i++) f(i);
    best = Math.min(best, (Bun.nanoseconds() - t0) / n);
  }
  return best;
}

const rows: [string, string][] = [];
const us = (ns: number) => `${(ns / 1000).toFixed(2)} µs`;
try {
  const store = openKeyStore(join(dir, "keys.db"));
  const book = createBudgetBook(store, { flushMs: 0 });
  const prices = parsePrices("gpt-4o-mini=0.15/0.60");
  const price = priceOf(prices, "gpt-4o-mini")!;
  const body = { model: "gpt-4o-mini", max_tokens: 256 };
  const accounts = Array.from({ length: 1000 }, (_, i) => [book.account("key", `key_${i}`, 10 ** 12), book.account("tenant", `t${i % 50}`, 10 ** 12)]);

  const step = time(1_000_000, (i) => {
    const p = priceOf(prices, "gpt-4o-mini")!;
    const h = book.reserve(accounts[i % 1000], costMicros(p, 800, completionCap("chat/completions", body, 4096)), p) as Hold;
    book.settle(h, costMicros(h.price, 800, 200));
  });
  rows.push(["budget step in memory: price, cap, cost, reserve + settle (key and tenant)", us(step)]);
  book.flush();

  for (const n of [1, 100, 1000]) {
    const flush = time(200, (i) => {
      for (let k = 0; k < n; k++) book.settle(book.reserve(accounts[(i + k) % 1000], 0, price) as Hold, 5);
      book.flush();
    });
    rows.push([`flush of ${n} key(s) with their tenants (one transaction, synchronous=FULL)`, us(flush)]);
  }

  // The alternative: reservations as SQLite transactions on the key database.
  for (const sync of ["FULL", "NORMAL"]) {
    const db = new Database(join(dir, `alt-${sync}.db`), { create: true, strict: true });
    db.run("PRAGMA journal_mode = WAL");
    db.run(`PRAGMA synchronous = ${sync}`);
    db.run("CREATE TABLE spend (id TEXT PRIMARY KEY, spent INTEGER NOT NULL DEFAULT 0, reserved INTEGER NOT NULL DEFAULT 0, budget INTEGER) STRICT");
    for (let i = 0; i < 1000; i++) db.run("INSERT INTO spend (id, budget) VALUES (?1, ?2), (?3, ?2)", [`key:${i}`, 10 ** 12, `tenant:${i}`]);
    const take = db.query("UPDATE spend SET reserved = reserved + ?1 WHERE id = ?2 AND spent + reserved + ?1 <= budget");
    const settle = db.query("UPDATE spend SET reserved = reserved - ?1, spent = spent + ?2 WHERE id = ?3");
    const reserveTx = db.transaction((i: number) => take.run(100, `key:${i}`).changes === 1 && take.run(100, `tenant:${i}`).changes === 1);
    const settleTx = db.transaction((i: number) => {
      settle.run(100, 50, `key:${i}`);
      settle.run(100, 50, `tenant:${i}`);
    });
    const n = sync === "FULL" ? 2000 : 20_000;
    rows.push([`alternative, SQLite reservation transaction (key and tenant), synchronous=${sync}`, us(time(n, (i) => reserveTx.immediate(i % 1000)))]);
    rows.push([`alternative, SQLite settle transaction (key and tenant), synchronous=${sync}`, us(time(n, (i) => settleTx.immediate(i % 1000)))]);
    db.close();
  }
  book.close();
  store.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}

const report = [
  `# Budget step (${new Date().toISOString().slice(0, 10)})`,
  "",
  `Bun ${Bun.version}, ${availableParallelism()} cores, Linux ${release()}. \`bun bench/budget.ts\`.`,
  "",
  "| what | time per call |",
  "| :--- | ---: |",
  ...rows.map(([what, t]) => `| ${what} | ${t} |`),
  "",
  "A flush writes every account that spent during WARDEN_SPEND_FLUSH_MS (default 1 s) in one",
  "transaction; divided by the requests of that interval it is well under a microsecond each.",
  "",
].join("\n");
writeFileSync(out, report);
console.log(report);
