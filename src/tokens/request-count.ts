/**
 * Counting a whole request through the tenant's two cache levels.
 *
 * Pass 1 walks the request and fingerprints every item (Bun.hash, ~10 GB/s: cheap next to
 * encoding), then looks the whole request up in L0. On a miss, pass 2 walks it again, takes each
 * item's count from L1 or encodes it, and stores the total in L0.
 *
 * Fingerprints are 64-bit wyhash values over exactly what decides a count — the item's texts in
 * order and its fixed tokens — seeded per encoding and with a per-process random secret, so
 * keys cannot be precomputed to force collisions. A collision (about 2^-64 per pair) gives one
 * request a wrong count; it cannot leak data, because the caches hold only numbers and belong
 * to one tenant.
 */

import { countTokens } from "./count.ts";
import type { Encoding, EncodingName } from "./encodings.ts";
import type { ItemVisitor, RequestSink, TextSink } from "./sink.ts";
import { boundedGet, boundedSet } from "./bounded-map.ts";
import { cacheCounters, type TenantCounts } from "./tenant-cache.ts";

/** Walks one kind of request body (chat.ts, prompts.ts). */
export type RequestWalker = (body: unknown, sink: RequestSink) => void;

const secret = new BigUint64Array(1);
crypto.getRandomValues(secret);
const ENCODING_SEEDS: Record<EncodingName, bigint> = {
  o200k_base: secret[0]! ^ 0x6f323030n,
  cl100k_base: secret[0]! ^ 0x636c3130n,
  p50k_base: secret[0]! ^ 0x7035306bn,
};

// Walks are synchronous and never nest, so the sinks keep their state in module variables
// instead of allocating closures per request.
let seed = 0n;
let hash = 0n;
const fixedTokens = new Float64Array(1);

const hashingSink: TextSink = {
  text(text) {
    hash = Bun.hash(text, hash) as bigint;
  },
  fixed(tokens) {
    fixedTokens[0]! += tokens;
  },
};

function fingerprint<T>(visit: ItemVisitor<T>, value: T): bigint {
  hash = seed;
  fixedTokens[0] = 0;
  visit(value, hashingSink);
  return Bun.hash(fixedTokens, hash) as bigint;
}

let encoding: Encoding;
let itemTokens = 0;

const countingSink: TextSink = {
  text(text) {
    itemTokens += countTokens(encoding, text);
  },
  fixed(tokens) {
    itemTokens += tokens;
  },
};

/**
 * Tokens of one item, encoded now (no cache).
 *
 * @example
 * countItem(getEncoding("cl100k_base"), visitChatMessage, { role: "user", content: "hi" }); // 5
 */
export function countItem<T>(enc: Encoding, visit: ItemVisitor<T>, value: T): number {
  encoding = enc;
  itemTokens = 0;
  visit(value, countingSink);
  return itemTokens;
}

let keys = new BigUint64Array(64);
let itemCount = 0;
let requestFixed = 0;

const fingerprintSink: RequestSink = {
  item(visit, value) {
    if (itemCount === keys.length) {
      const grown = new BigUint64Array(keys.length * 2);
      grown.set(keys);
      keys = grown;
    }
    keys[itemCount++] = fingerprint(visit, value);
  },
  fixed(tokens) {
    requestFixed += tokens;
  },
};

let items: TenantCounts["items"];
let itemIndex = 0;
let requestTokens = 0;

const cachedCountSink: RequestSink = {
  item(visit, value) {
    const key = keys[itemIndex++]!;
    let tokens = boundedGet(items, key);
    if (tokens === undefined) {
      cacheCounters.itemMisses++;
      tokens = countItem(encoding, visit, value);
      boundedSet(items, key, tokens);
    } else {
      cacheCounters.itemHits++;
    }
    requestTokens += tokens;
  },
  fixed() {
    // Request-level tokens were summed in pass 1 (requestFixed).
  },
};

/**
 * Tokens of a request body, through the tenant's L0 and L1 caches.
 *
 * @example
 * countRequest(getEncoding("o200k_base"), (b, s) => walkChatRequest(b, "o200k_base", s), body, tenantCounts("t1"));
 */
export function countRequest(enc: Encoding, walk: RequestWalker, body: unknown, tenant: TenantCounts): number {
  seed = ENCODING_SEEDS[enc.name];
  itemCount = 0;
  requestFixed = 0;
  walk(body, fingerprintSink);
  fixedTokens[0] = requestFixed;
  const requestKey = Bun.hash(fixedTokens, Bun.hash(keys.subarray(0, itemCount), seed) as bigint) as bigint;
  const known = boundedGet(tenant.requests, requestKey);
  if (known !== undefined) {
    cacheCounters.requestHits++;
    return known;
  }
  cacheCounters.requestMisses++;
  encoding = enc;
  items = tenant.items;
  itemIndex = 0;
  requestTokens = requestFixed;
  walk(body, cachedCountSink);
  boundedSet(tenant.requests, requestKey, requestTokens);
  return requestTokens;
}

/**
 * Tokens of a request body with no cache at all (for callers without a tenant, and the bench).
 *
 * @example
 * countRequestUncached(getEncoding("cl100k_base"), walkEmbeddingsRequest, { input: "hi" }); // 1
 */
export function countRequestUncached(enc: Encoding, walk: RequestWalker, body: unknown): number {
  let total = 0;
  walk(body, {
    item(visit, value) {
      total += countItem(enc, visit, value);
    },
    fixed(tokens) {
      total += tokens;
    },
  });
  return total;
}
