/**
 * Quantiles estimated from Prometheus histogram buckets, the way PromQL's
 * `histogram_quantile` does it: find the bucket the rank falls in and interpolate linearly
 * inside it, assuming observations spread evenly between its bounds.
 *
 * The dashboard feeds it the buckets' increase between two scrapes, so p50/p99 describe the
 * last few seconds rather than everything since the gateway started.
 *
 * @example
 * const b = bucketsOf(m, "warden_gateway_duration_seconds");
 * quantile(0.99, increase(b, before)); // seconds, or undefined without observations
 */
import { matches, type Exposition } from "./exposition";

/** One cumulative bucket: how many observations were ≤ `le`. */
export interface Bucket {
  le: number;
  count: number;
}

/**
 * A histogram's cumulative buckets, summed over every label set matching `match`, sorted by
 * bound. Summing cumulative counts per bound is valid because all series of one histogram
 * share the same bounds.
 */
export function bucketsOf(m: Exposition, family: string, match?: Record<string, string>): Bucket[] {
  return [...bucketsBy(m, family, undefined, match).values()][0] ?? [];
}

/** Like {@link bucketsOf}, one bucket list per value of `label`. */
export function bucketsBy(m: Exposition, family: string, label: string | undefined, match?: Record<string, string>): Map<string, Bucket[]> {
  const sums = new Map<string, Map<number, number>>();
  for (const s of m.get(family)?.samples ?? []) {
    if (s.name !== `${family}_bucket` || !matches(s, match)) continue;
    const le = s.labels.le === undefined ? NaN : parseBound(s.labels.le);
    if (Number.isNaN(le)) continue;
    const key = label === undefined ? "" : (s.labels[label] ?? "");
    let byBound = sums.get(key);
    if (byBound === undefined) sums.set(key, (byBound = new Map()));
    byBound.set(le, (byBound.get(le) ?? 0) + s.value);
  }
  const out = new Map<string, Bucket[]>();
  for (const [key, byBound] of sums) {
    out.set(key, [...byBound].map(([le, count]) => ({ le, count })).sort((a, b) => a.le - b.le));
  }
  return out;
}

function parseBound(text: string): number {
  if (text === "+Inf" || text === "Inf") return Infinity;
  const n = Number(text);
  return text.trim() === "" ? NaN : n;
}

/**
 * The increase of cumulative buckets since `before` (an earlier scrape of the same series).
 * A count that went down means the gateway restarted: then everything in `now` is new.
 */
export function increase(now: Bucket[], before: Bucket[] | undefined): Bucket[] {
  if (before === undefined || before.length === 0) return now;
  const old = new Map(before.map((b) => [b.le, b.count]));
  if (now.some((b) => b.count < (old.get(b.le) ?? 0))) return now;
  return now.map((b) => ({ le: b.le, count: b.count - (old.get(b.le) ?? 0) }));
}

/**
 * The q-quantile (0 ≤ q ≤ 1) of the observations in `buckets`, or undefined when there are none
 * or the buckets cannot say (no +Inf bucket, fewer than two buckets).
 *
 * As in Prometheus: a rank in the +Inf bucket yields the highest finite bound (the histogram
 * knows nothing above it), and the lowest bucket's lower bound is 0 when its upper bound is
 * positive (durations are never negative).
 *
 * @example
 * quantile(0.5, [{ le: 0.1, count: 0 }, { le: 0.2, count: 10 }, { le: Infinity, count: 10 }]); // 0.15
 */
export function quantile(q: number, buckets: readonly Bucket[]): number | undefined {
  if (!(q >= 0 && q <= 1)) throw new RangeError(`quantile ${q} is not between 0 and 1`);
  if (buckets.length < 2 || buckets.at(-1)!.le !== Infinity) return undefined;
  // Scrapes of counters that race with increments can be very slightly non-monotonic.
  const counts: number[] = [];
  for (const b of buckets) counts.push(Math.max(b.count, counts.at(-1) ?? 0));
  const observations = counts.at(-1)!;
  if (observations <= 0) return undefined;
  const rank = q * observations;
  const i = counts.findIndex((c) => c >= rank);
  if (i === buckets.length - 1) return buckets[buckets.length - 2]!.le;
  if (i === 0 && buckets[0]!.le <= 0) return buckets[0]!.le;
  const lower = i === 0 ? 0 : buckets[i - 1]!.le;
  const below = i === 0 ? 0 : counts[i - 1]!;
  const inBucket = counts[i]! - below;
  // A zero-count bucket can hold the rank only when q = 0; its lower bound is the answer.
  if (inBucket === 0) return lower;
  return lower + (buckets[i]!.le - lower) * ((rank - below) / inBucket);
}
