/**
 * Stage 4, rate limit: requests per minute, tokens per minute and requests in flight, per API
 * key and per tenant, checked together and atomically (if the tenant refuses, the key is not
 * charged). See README.md beside this file for semantics, stores and failure modes.
 *
 * @example
 * const limiter = createRateLimiter(config);
 * const key = subject(`key:${record.id}`, record.limits);   // kept with the key record
 * const tenant = subject(`tenant:${record.tenant}`, tenantLimits);
 * const pending = limiter.check([key, tenant], promptTokens);
 * const d = pending instanceof Promise ? await pending : pending; // memory store: no Promise
 * if (!d.allowed) throw rateLimitError(d);
 * // reply headers: { ...rateLimitHeaders(d) }
 * // when the reply has ended (stream included):
 * void limiter.charge([key, tenant], usage.completion_tokens);
 * limiter.release(d);
 */
import type { Config } from "../config";
import { createMemoryLimiter } from "./memory";
import { createRedisLimiter } from "./redis";
import type { RateLimiter } from "./types";

export type { Decision, Limits, RateLimiter, Reason, Subject } from "./types";
export { createMemoryLimiter, type MemoryLimiter, type MemoryLimiterOptions } from "./memory";
export { createRedisLimiter, type RedisLimiter, type RedisLimiterOptions } from "./redis";
export { subject } from "./fingerprint";
export { formatDuration, rateLimitError, rateLimitHeaders, retryAfterSeconds } from "./reply";
export { UNLIMITED, WINDOW_MS } from "./gcra";

/**
 * The limiter the configuration asks for: in-process, or Redis shared by all instances.
 *
 * @example
 * const limiter = createRateLimiter({ rateLimitStore: "redis", redisUrl: "redis://127.0.0.1:6379", redisFailure: "open" });
 */
export function createRateLimiter(config: Pick<Config, "rateLimitStore" | "redisUrl" | "redisFailure">): RateLimiter {
  if (config.rateLimitStore === "memory") return createMemoryLimiter();
  if (config.redisUrl === undefined) throw new Error("rate limiter: the redis store needs WARDEN_REDIS_URL");
  return createRedisLimiter({ url: config.redisUrl, failure: config.redisFailure });
}
