/**
 * Rates from counters: the page keeps its recent scrapes of /metrics and compares the newest
 * with the oldest one still inside the window, as PromQL's `rate()` would over that range.
 *
 * @example
 * const w = new ScrapeWindow(10_000);
 * w.add(Date.now(), parseExposition(text));
 * w.rate((m) => total(m, "warden_requests_total")); // per second, or undefined after one scrape
 */
import type { Exposition } from "./exposition";

export interface Scrape {
  /** When it was taken, in milliseconds. */
  at: number;
  metrics: Exposition;
}

/**
 * Increase of a counter from `before` to `now`. A counter that went down was reset (the gateway
 * restarted), so everything it counts now is new.
 */
export function counterIncrease(now: number, before: number): number {
  return now >= before ? now - before : now;
}

export class ScrapeWindow {
  private scrapes: Scrape[] = [];

  /** @param spanMs how far back rates look; the page scrapes every ~2 s, so 10 s smooths over ~5. */
  constructor(readonly spanMs: number) {}

  add(at: number, metrics: Exposition): void {
    this.scrapes.push({ at, metrics });
    // Keep the newest scrape at or beyond the span, so the window is full once history allows.
    while (this.scrapes.length > 2 && this.scrapes[1]!.at <= at - this.spanMs) this.scrapes.shift();
  }

  get latest(): Scrape | undefined {
    return this.scrapes.at(-1);
  }

  /** The scrape rates are measured against; undefined until there are two. */
  get baseline(): Scrape | undefined {
    return this.scrapes.length < 2 ? undefined : this.scrapes[0];
  }

  /** Per-second increase of the counter that `read` picks out, over the window. */
  rate(read: (m: Exposition) => number): number | undefined {
    const now = this.latest;
    const then = this.baseline;
    if (now === undefined || then === undefined || now.at <= then.at) return undefined;
    return counterIncrease(read(now.metrics), read(then.metrics)) / ((now.at - then.at) / 1000);
  }

  clear(): void {
    this.scrapes = [];
  }
}
