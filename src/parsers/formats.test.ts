// Every reply of ./test-cases.ts, whole and cut into pieces every way we can afford: the merged
// result must be the expected one, byte for byte, however the reply arrives.
import { describe, expect, test } from "bun:test";
import { ALL_CASES, type Case } from "./test-cases.ts";
import { cutAt, randomCuttings, runPieces, type Run } from "./test-support.ts";
import type { ParsedMessage } from "./types.ts";

function expected(c: Case): ParsedMessage {
  return {
    content: c.content,
    reasoning_content: c.reasoning,
    tool_calls: (c.calls ?? []).map(([name, args, id], i) => ({
      id: id ?? `call_${i - (c.calls ?? []).slice(0, i).filter((x) => x[2] !== undefined).length}`,
      type: "function" as const,
      function: { name, arguments: args },
    })),
  };
}

/** What must hold of any run's deltas, beyond the merged result. */
function checkDeltas(run: Run): void {
  let nextIndex = 0;
  for (const d of run.deltas) {
    const fields = [d.content, d.reasoning_content, d.tool_calls].filter((f) => f !== undefined);
    expect(fields.length).toBe(1);
    if (d.content !== undefined) expect(d.content.length).toBeGreaterThan(0);
    if (d.reasoning_content !== undefined) expect(d.reasoning_content.length).toBeGreaterThan(0);
    for (const t of d.tool_calls ?? []) {
      expect(t.index).toBe(nextIndex++);
      expect(t.type).toBe("function");
      expect(typeof t.id).toBe("string");
      expect(t.function.name!.length).toBeGreaterThan(0);
      expect(() => JSON.parse(t.function.arguments!)).not.toThrow();
    }
  }
}

function sameAsWhole(c: Case, whole: ParsedMessage, cuttings: Iterable<number[]>): void {
  for (const cuts of cuttings) {
    const run = runPieces(cutAt(c.text, cuts), c.options);
    if (!Bun.deepEquals(run.merged, whole)) {
      // Name the cutting that broke, so it can be replayed.
      expect({ cuts, merged: run.merged }).toEqual({ cuts, merged: whole });
    }
    checkDeltas(run);
  }
}

function* everySingleCut(n: number): Generator<number[]> {
  for (let i = 1; i < n; i++) yield [i];
}

function* everyPairOfCuts(n: number): Generator<number[]> {
  for (let i = 1; i < n; i++) for (let j = i + 1; j < n; j++) yield [i, j];
}

function* everyCharacter(n: number): Generator<number[]> {
  yield Array.from({ length: Math.max(0, n - 1) }, (_, i) => i + 1);
}

for (const [group, cases] of ALL_CASES) {
  describe(`${group} replies`, () => {
    for (const c of cases) {
      test(`${c.name}: whole`, () => {
        const run = runPieces([c.text], c.options);
        expect(run.merged).toEqual(expected(c));
        checkDeltas(run);
      });
      test(`${c.name}: cut at every position, char by char, at random`, () => {
        const whole = expected(c);
        sameAsWhole(c, whole, everySingleCut(c.text.length));
        sameAsWhole(c, whole, everyCharacter(c.text.length));
        sameAsWhole(c, whole, randomCuttings(c.text, 40, c.text.length * 7919));
        // Two cuts at once catch a marker split in three; affordable for short replies.
        if (c.text.length <= 90) sameAsWhole(c, whole, everyPairOfCuts(c.text.length));
      });
    }
  });
}

test("the table covers every format", () => {
  const formats = new Set(ALL_CASES.flatMap(([, cases]) => cases.map((c) => c.options.toolCalls ?? "none")));
  expect([...formats].sort()).toEqual(["deepseek", "hermes", "llama3", "mistral", "none"]);
});
