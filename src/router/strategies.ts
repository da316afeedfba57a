/**
 * How the router picks one deployment among those available for a model:
 *
 * - `weighted`: smooth weighted round-robin (nginx's): each deployment gets its weight's share,
 *   interleaved (weights 5,1,1 give a a b a c a a, not a a a a a b c);
 * - `least-inflight`: fewest requests in flight per unit of weight; ties by weighted chance;
 * - `latency`: lowest EWMA of time to first byte, untried deployments first; one pick in twenty
 *   is a weighted random one, so a deployment that was slow once gets measured again;
 * - `p2c`: power of two choices: two deployments drawn by weight, the one with fewer requests in
 *   flight wins (then the faster one). Near least-inflight's balance without its herding on
 *   a deployment that just freed up.
 *
 * `random` is injectable so tests can pin the draws.
 */
import type { Strategy } from "../config";
import type { Health } from "./health";

export interface Candidate {
  weight: number;
  health: Health;
}

/** Fraction of latency-strategy picks spent exploring. */
export const EXPLORE = 0.05;

/**
 * @example
 * const d = pick([a, b, c], "p2c");
 */
export function pick<T extends Candidate>(candidates: readonly T[], strategy: Strategy, random: () => number = Math.random): T {
  if (candidates.length === 1) return candidates[0];
  switch (strategy) {
    case "weighted":
      return smoothWeighted(candidates);
    case "least-inflight":
      return fewest(candidates, (c) => c.health.inflight / c.weight, random);
    case "latency":
      if (random() < EXPLORE) return byWeight(candidates, random);
      return fewest(candidates, (c) => (c.health.ewmaMs !== c.health.ewmaMs ? -1 : c.health.ewmaMs), random);
    case "p2c": {
      const a = byWeight(candidates, random);
      let b = byWeight(candidates, random);
      for (let i = 0; b === a && i < 4; i++) b = byWeight(candidates, random);
      if (b === a) b = candidates[(candidates.indexOf(a) + 1) % candidates.length];
      const da = a.health.inflight / a.weight;
      const db = b.health.inflight / b.weight;
      if (da !== db) return da < db ? a : b;
      const la = a.health.ewmaMs;
      const lb = b.health.ewmaMs;
      return lb < la || (la !== la && lb === lb) ? b : a;
    }
  }
}

function smoothWeighted<T extends Candidate>(candidates: readonly T[]): T {
  let total = 0;
  let best = candidates[0];
  for (const c of candidates) {
    c.health.current += c.weight;
    total += c.weight;
    if (c.health.current > best.health.current) best = c;
  }
  best.health.current -= total;
  return best;
}

function byWeight<T extends Candidate>(candidates: readonly T[], random: () => number): T {
  let total = 0;
  for (const c of candidates) total += c.weight;
  let r = random() * total;
  for (const c of candidates) {
    r -= c.weight;
    if (r < 0) return c;
  }
  return candidates[candidates.length - 1];
}

/** The candidate with the lowest score; ties broken by weighted chance among the tied. */
function fewest<T extends Candidate>(candidates: readonly T[], score: (c: T) => number, random: () => number): T {
  let best = Infinity;
  let tied: T[] = [];
  for (const c of candidates) {
    const s = score(c);
    if (s < best) {
      best = s;
      tied = [c];
    } else if (s === best) tied.push(c);
  }
  return tied.length === 1 ? tied[0] : byWeight(tied, random);
}
