/**
 * How the dashboard writes numbers. Missing values (no data yet, nothing in the window) are
 * an em dash, never 0, so "no traffic" and "no information" look different.
 *
 * @example
 * fmtSeconds(0.0123); // "12.3 ms"
 */

export const NONE = "—";

/** Whole counts with thousands separators. */
export function fmtCount(n: number | undefined): string {
  return n === undefined || !Number.isFinite(n) ? NONE : Math.round(n).toLocaleString("en-US");
}

/** Rates per second: one decimal below 100, whole above. */
export function fmtRate(n: number | undefined): string {
  if (n === undefined || !Number.isFinite(n)) return NONE;
  return n < 100 ? n.toFixed(1) : Math.round(n).toLocaleString("en-US");
}

/** Durations from seconds: µs, ms or s with three significant digits. */
export function fmtSeconds(s: number | undefined): string {
  if (s === undefined || !Number.isFinite(s)) return NONE;
  if (s < 0.001) return `${(s * 1e6).toPrecision(3)} µs`;
  if (s < 1) return `${(s * 1000).toPrecision(3)} ms`;
  return `${s.toPrecision(3)} s`;
}

/** Ages: "4 s", "3 min 20 s", "2 h 5 min". */
export function fmtAge(s: number | undefined): string {
  if (s === undefined || !Number.isFinite(s) || s < 0) return NONE;
  const whole = Math.floor(s);
  if (whole < 60) return `${whole} s`;
  if (whole < 3600) return `${Math.floor(whole / 60)} min ${whole % 60} s`;
  return `${Math.floor(whole / 3600)} h ${Math.floor((whole % 3600) / 60)} min`;
}
