/**
 * Precision and recall of the WAF rules over the corpora in this folder (see README.md).
 *
 * Every line is sent as the user message of a chat request with every rule set to `flag`, so
 * each rule reports whatever it finds. A positive line counts as found when a rule of its
 * category reports it; a finding of category C on a line that is not a C positive (a benign line
 * or another category's positive) is a false positive for C.
 *
 * The rule-labelled positives, the round-2 injection lines and benign.jsonl were used while
 * writing the rules (in-sample). injection-heldout.jsonl and benign-heldout.jsonl were written
 * afterwards and never used to change a rule: their numbers are the honest estimate for phrasing
 * the rules have not seen. The floors are what the rules meet today; lowering one needs a reason.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadCore, type NativeCore } from "../../src/native";
import { createWaf, type Waf } from "../../src/waf";

interface Line {
  text: string;
  /** A rule id (`pii.email`) or, for category-labelled sets, a category (`injection`). */
  rule?: string;
}

function load(file: string): Line[] {
  return readFileSync(join(import.meta.dir, file), "utf8")
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => JSON.parse(l) as Line);
}

const CATEGORIES = ["injection", "pii", "secret"] as const;
type Cat = (typeof CATEGORIES)[number];
const categoryOf = (line: Line): Cat | undefined => line.rule?.split(".")[0] as Cat | undefined;

const labelled = ["positives/injection.jsonl", "positives/pii.jsonl", "positives/secret.jsonl"].flatMap(load);
const round2 = load("positives/injection-round2.jsonl");
const heldout = load("positives/injection-heldout.jsonl");
const benign = load("benign.jsonl");
const benignHeldout = load("benign-heldout.jsonl");

/** Recall floors per set and category; precision floor over the in-sample sets. */
const RECALL_FLOOR: Record<Cat, number> = { injection: 0.97, pii: 0.97, secret: 0.97 };
const ROUND2_RECALL_FLOOR = 0.75;
const HELDOUT_RECALL_FLOOR = 0.45;
const PRECISION_FLOOR = 0.99;
const BENIGN_HELDOUT_MAX_FLAGGED = 1;

let root: string;
let core: NativeCore;
let waf: Waf;
const FLAG_ALL = { "*": "flag" } as const;

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), "warden-waf-corpus-"));
  core = await loadCore(root);
  waf = createWaf((spans) => core.byteEntropy(spans));
});

afterAll(() => {
  core.close();
  rmSync(root, { recursive: true, force: true });
});

function rulesFound(text: string): string[] {
  const verdict = waf.inspect("chat/completions", { model: "m", messages: [{ role: "user", content: text }] }, FLAG_ALL);
  return verdict.findings.map((f) => f.rule);
}

interface Score {
  set: string;
  category: Cat;
  lines: number;
  tp: number;
  fn: number;
  fp: number;
}

/** Category-level counts for one set of lines (benign lines only add false positives). */
function score(set: string, lines: Line[], category: Cat): Score {
  const s: Score = { set, category, lines: 0, tp: 0, fn: 0, fp: 0 };
  for (const line of lines) {
    const hit = rulesFound(line.text).some((r) => r.startsWith(`${category}.`));
    if (categoryOf(line) === category) {
      s.lines++;
      hit ? s.tp++ : s.fn++;
    } else if (hit) s.fp++;
  }
  return s;
}

const ratio = (a: number, b: number): string => (b === 0 ? "-" : (a / b).toFixed(3));

describe("WAF corpora", () => {
  test("the corpora are big enough to mean something", () => {
    expect(benign.length).toBeGreaterThanOrEqual(200);
    const perRule = new Map<string, number>();
    for (const p of labelled) perRule.set(p.rule!, (perRule.get(p.rule!) ?? 0) + 1);
    expect(perRule.size).toBe(22);
    for (const [rule, n] of perRule) expect({ rule, atLeast10: n >= 10 }).toEqual({ rule, atLeast10: true });
  });

  test("no line of the benign corpus produces a finding", () => {
    const flagged = benign.flatMap((b) => {
      const found = rulesFound(b.text);
      return found.length > 0 ? [{ text: b.text, found }] : [];
    });
    expect(flagged).toEqual([]);
  });

  test("every labelled positive is found by its own rule", () => {
    const missed = labelled.filter((line) => !rulesFound(line.text).includes(line.rule!)).map((l) => `${l.rule}: ${l.text}`);
    expect(missed).toEqual([]);
  });

  test("precision and recall per category meet the floors", () => {
    const inSample = [...labelled, ...round2, ...benign];
    const rows: Score[] = [
      ...CATEGORIES.map((c) => score("labelled + benign", [...labelled, ...benign], c)),
      score("injection round 2", round2, "injection"),
      score("injection held-out", heldout, "injection"),
    ];
    const precision = CATEGORIES.map((c) => score("all in-sample", inSample, c));
    const benignHeldoutFlagged = benignHeldout.filter((b) => rulesFound(b.text).length > 0);
    console.log(`\nWAF corpora: ${labelled.length} labelled positives, ${round2.length} round-2 and ${heldout.length} held-out injection lines, ${benign.length} + ${benignHeldout.length} (held-out) benign lines`);
    console.table(rows.map((r) => ({ set: r.set, category: r.category, positives: r.lines, found: r.tp, missed: r.fn, recall: ratio(r.tp, r.tp + r.fn) })));
    console.table(precision.map((r) => ({ category: r.category, "true positives": r.tp, "false positives": r.fp, precision: ratio(r.tp, r.tp + r.fp) })));
    console.log(`benign held-out: ${benignHeldoutFlagged.length} of ${benignHeldout.length} flagged${benignHeldoutFlagged.map((b) => `\n  ${b.text}`).join("")}`);
    const missedHeldout = heldout.filter((l) => !rulesFound(l.text).some((r) => r.startsWith("injection.")));
    console.log(`held-out injections missed (${missedHeldout.length}):${missedHeldout.map((l) => `\n  ${l.text}`).join("")}`);

    for (const r of rows.slice(0, 3)) expect({ category: r.category, recall: r.tp / r.lines >= RECALL_FLOOR[r.category] }).toEqual({ category: r.category, recall: true });
    expect(rows[3]!.tp / rows[3]!.lines).toBeGreaterThanOrEqual(ROUND2_RECALL_FLOOR);
    expect(rows[4]!.tp / rows[4]!.lines).toBeGreaterThanOrEqual(HELDOUT_RECALL_FLOOR);
    for (const p of precision) expect({ category: p.category, precision: p.tp / (p.tp + p.fp) >= PRECISION_FLOOR }).toEqual({ category: p.category, precision: true });
    expect(benignHeldoutFlagged.length).toBeLessThanOrEqual(BENIGN_HELDOUT_MAX_FLAGGED);
  });
});
