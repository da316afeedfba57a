import { describe, expect, test } from "bun:test";
import { newHealth } from "./health";
import { EXPLORE, pick, type Candidate } from "./strategies";

const deployment = (name: string, weight = 1, patch: Partial<ReturnType<typeof newHealth>> = {}) => ({ name, weight, health: { ...newHealth(), ...patch } });
const names = (list: { name: string }[]) => list.map((d) => d.name).join("");

/** A deterministic stand-in for Math.random: the given draws, in a loop. */
function draws(...values: number[]): () => number {
  let i = 0;
  return () => values[i++ % values.length];
}

describe("weighted (smooth weighted round-robin)", () => {
  test("weights 5,1,1 interleave as nginx does, and each cycle gives every deployment its share", () => {
    const ds = [deployment("a", 5), deployment("b"), deployment("c")];
    const order = Array.from({ length: 14 }, () => pick(ds, "weighted"));
    expect(names(order)).toBe("aabacaa".repeat(2));
  });

  test("equal weights alternate", () => {
    const ds = [deployment("a"), deployment("b")];
    expect(names(Array.from({ length: 6 }, () => pick(ds, "weighted")))).toBe("ababab");
  });
});

describe("least-inflight", () => {
  test("fewest in flight per unit of weight wins", () => {
    const a = deployment("a", 1, { inflight: 3 });
    const b = deployment("b", 1, { inflight: 1 });
    const c = deployment("c", 4, { inflight: 6 }); // 1.5 per unit of weight
    expect(pick([a, b, c], "least-inflight").name).toBe("b");
    b.health.inflight = 2;
    expect(pick([a, b, c], "least-inflight").name).toBe("c");
  });

  test("ties are broken by weighted chance, not always the first", () => {
    const ds = [deployment("a", 1), deployment("b", 3)];
    expect(pick(ds, "least-inflight", draws(0.1)).name).toBe("a");
    expect(pick(ds, "least-inflight", draws(0.5)).name).toBe("b");
  });
});

describe("latency", () => {
  test("untried deployments first, then the lowest EWMA", () => {
    const fast = deployment("f", 1, { ewmaMs: 20 });
    const slow = deployment("s", 1, { ewmaMs: 300 });
    const fresh = deployment("n");
    const noExplore = draws(0.99);
    expect(pick([fast, slow, fresh], "latency", noExplore).name).toBe("n");
    expect(pick([fast, slow], "latency", noExplore).name).toBe("f");
  });

  test(`one pick in ${1 / EXPLORE} explores by weight, so a slow deployment gets measured again`, () => {
    const fast = deployment("f", 1, { ewmaMs: 20 });
    const slow = deployment("s", 1, { ewmaMs: 300 });
    expect(pick([fast, slow], "latency", draws(EXPLORE / 2, 0.9)).name).toBe("s");
  });
});

describe("p2c", () => {
  test("of two drawn, the one with fewer in flight wins; then the faster one", () => {
    const a = deployment("a", 1, { inflight: 5, ewmaMs: 10 });
    const b = deployment("b", 1, { inflight: 1, ewmaMs: 90 });
    const c = deployment("c", 1, { inflight: 0, ewmaMs: 50 });
    // draws pick a then b: b has fewer in flight
    expect(pick([a, b, c], "p2c", draws(0.1, 0.5)).name).toBe("b");
    b.health.inflight = 5;
    expect(pick([a, b, c], "p2c", draws(0.1, 0.5)).name).toBe("a"); // equal load: lower EWMA
  });

  test("the same draw twice still compares two different deployments", () => {
    const a = deployment("a", 1, { inflight: 9 });
    const b = deployment("b", 1, { inflight: 0 });
    expect(pick([a, b], "p2c", draws(0.1)).name).toBe("b");
  });

  test("over many picks, load stays balanced between equal deployments", () => {
    const ds = [deployment("a"), deployment("b"), deployment("c")];
    const counts = { a: 0, b: 0, c: 0 } as Record<string, number>;
    for (let i = 0; i < 3000; i++) {
      const d = pick(ds, "p2c");
      counts[d.name]++;
      d.health.inflight++;
      if (i % 2 === 1) for (const x of ds) x.health.inflight = Math.max(0, x.health.inflight - 1);
    }
    for (const n of ["a", "b", "c"]) expect(counts[n]).toBeGreaterThan(800);
  });
});

test("a single candidate is returned whatever the strategy", () => {
  const only: Candidate = deployment("x");
  for (const s of ["weighted", "least-inflight", "latency", "p2c"] as const) expect(pick([only], s)).toBe(only);
});
