/**
 * Token-count caches, one private set per tenant (the `cacheScope`).
 *
 * Two levels, both keyed by 64-bit fingerprints (never the text, so a cache holds no prompt):
 * - requests (L0): whole-request fingerprint → total. A retried or repeated request costs its
 *   hashing and one lookup.
 * - items (L1): message (or tool block, or prompt string) fingerprint → its count. A new turn
 *   re-sends every earlier message: only the new ones are encoded, the rest are lookups.
 *
 * Tenants share nothing: each has its own maps and its own entry bounds, so one tenant can
 * neither read another's entries nor evict them, and its hit/miss timing reveals nothing about
 * other tenants' prompts. The one shared bound is the number of tenants with caches: beyond
 * it, the least recently active tenants' caches are dropped whole, which another tenant can
 * only notice as "many tenants were active" — never what they sent.
 */

import { boundedGet, boundedSet, boundedSize, createBoundedMap, type BoundedMap } from "./bounded-map.ts";

export interface TenantCounts {
  readonly requests: BoundedMap<bigint, number>;
  readonly items: BoundedMap<bigint, number>;
}

export interface TokenCacheLimits {
  /** Tenants whose caches are kept (least recently active ones are dropped beyond it). */
  tenants: number;
  /** Whole-request totals kept per tenant (L0). */
  requestsPerTenant: number;
  /** Message / tool-block / prompt-string counts kept per tenant (L1). */
  itemsPerTenant: number;
}

/**
 * Heap cost of one entry (bigint key, number value, Map slot): ~102 bytes measured on 100 000
 * entries (bench/results/2026-11-23-tokens.md), rounded up for the slack of a growing Map.
 * Used for the byte bound reported by tokenCacheStats.
 */
export const BYTES_PER_ENTRY = 128;

/**
 * Defaults: at most 128 × (512 + 2048) entries ≈ 40 MiB. 2048 items hold about 50
 * conversations of 20 turns per tenant.
 */
export const DEFAULT_LIMITS: Readonly<TokenCacheLimits> = {
  tenants: 128,
  requestsPerTenant: 512,
  itemsPerTenant: 2048,
};

let limits: TokenCacheLimits = { ...DEFAULT_LIMITS };
let tenants = createBoundedMap<string, TenantCounts>(limits.tenants);

/** Hit and miss counters for metrics (operator-facing only; never shown to tenants). */
export const cacheCounters = { requestHits: 0, requestMisses: 0, itemHits: 0, itemMisses: 0 };

/**
 * Replaces the limits and empties every cache.
 *
 * @example
 * configureTokenCaches({ tenants: 64, requestsPerTenant: 256, itemsPerTenant: 8192 });
 */
export function configureTokenCaches(next: Partial<TokenCacheLimits>): void {
  const merged = { ...limits, ...next };
  for (const value of Object.values(merged)) {
    if (!Number.isInteger(value) || value < 2) throw new RangeError("token cache limits must be integers ≥ 2");
  }
  limits = merged;
  clearTokenCaches();
}

/**
 * Drops every cached count (all tenants) and resets the counters.
 *
 * @example
 * clearTokenCaches();
 */
export function clearTokenCaches(): void {
  tenants = createBoundedMap(limits.tenants);
  cacheCounters.requestHits = cacheCounters.requestMisses = 0;
  cacheCounters.itemHits = cacheCounters.itemMisses = 0;
}

/**
 * The caches of one tenant, created on first use.
 *
 * @example
 * const { items } = tenantCounts("tenant-a");
 */
export function tenantCounts(scope: string): TenantCounts {
  let counts = boundedGet(tenants, scope);
  if (counts === undefined) {
    counts = {
      requests: createBoundedMap(limits.requestsPerTenant),
      items: createBoundedMap(limits.itemsPerTenant),
    };
    boundedSet(tenants, scope, counts);
  }
  return counts;
}

export interface TokenCacheStats {
  tenants: number;
  entries: number;
  /** Upper estimate of the heap the entries use (entries × BYTES_PER_ENTRY). */
  approxBytes: number;
  /** The most the caches can ever hold with the current limits. */
  maxBytes: number;
  requestHits: number;
  requestMisses: number;
  itemHits: number;
  itemMisses: number;
}

function entriesOf(map: BoundedMap<string, TenantCounts>, seen: Set<TenantCounts>): number {
  let entries = 0;
  for (const generation of [map.young, map.old]) {
    for (const counts of generation.values()) {
      // A tenant promoted from `old` appears in both generations but is one set of caches.
      if (seen.has(counts)) continue;
      seen.add(counts);
      entries += boundedSize(counts.requests) + boundedSize(counts.items);
    }
  }
  return entries;
}

/**
 * Sizes and hit counters, for metrics and the bench.
 *
 * @example
 * tokenCacheStats().itemHits;
 */
export function tokenCacheStats(): TokenCacheStats {
  const seen = new Set<TenantCounts>();
  const entries = entriesOf(tenants, seen);
  return {
    tenants: seen.size,
    entries,
    approxBytes: entries * BYTES_PER_ENTRY,
    maxBytes: limits.tenants * (limits.requestsPerTenant + limits.itemsPerTenant) * BYTES_PER_ENTRY,
    ...cacheCounters,
  };
}
