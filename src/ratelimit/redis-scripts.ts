/**
 * The Redis store's Lua scripts: one round trip each, atomic over every key they touch.
 *
 * Keys per subject (prefix `warden:rl:` by default):
 *
 *     <prefix>g:<id>  hash        r = requests TAT, t = tokens TAT (ms, "%.17g" so doubles round-trip)
 *     <prefix>c:<id>  sorted set  in-flight leases: member = request lease id, score = expiry ms
 *
 * Both expire when idle: the hash when its TATs have passed (an expired hash and a hash whose
 * TATs are in the past mean the same thing), the set when its newest lease has run out.
 *
 * Time: the scripts read the Redis server's `TIME` unless the caller passes one (tests do, to
 * drive a virtual clock). One clock for every gateway instance matters more than the round
 * trip's age: TATs written by one instance are compared with "now" by all the others, and hosts'
 * clocks differ by milliseconds to seconds, which would hand a skewed instance free bursts or
 * stall it. Redis 5+ replicates scripts by effect, so TIME inside a writing script is allowed.
 *
 * Admission in CHECK mirrors `evaluate()` in gcra.ts expression for expression (same operations
 * in the same order, so the same doubles). The script returns the state it decided on, and
 * evaluate() computes the report from it, so both stores describe a decision identically.
 */

const NOW = `
local now = tonumber(ARGV[1])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
end
local function num(x) return string.format('%.17g', x) end
`;

/**
 * KEYS: per subject i, KEYS[2i-1] = GCRA hash, KEYS[2i] = in-flight set.
 * ARGV: [1] now ("" = TIME), [2] prompt tokens, [3] lease member ("" = take no slot),
 *       [4] lease ms, then per subject rpm, tpm, max concurrent ("-1" = unlimited).
 * Returns { allowed 0|1, now, held bit mask, then per subject: requests TAT, tokens TAT, in flight }
 * with TATs as they were before this request.
 */
export const CHECK = `${NOW}
local W = 60000
local EPS = 1e-6
local cost = tonumber(ARGV[2])
local member = ARGV[3]
local lease = tonumber(ARGV[4])
local n = #KEYS / 2
local tr, tt, fl = {}, {}, {}
local ok = true
for i = 1, n do
  local rpm, tpm, maxc = tonumber(ARGV[2 + 3 * i]), tonumber(ARGV[3 + 3 * i]), tonumber(ARGV[4 + 3 * i])
  local v = redis.call('HMGET', KEYS[2 * i - 1], 'r', 't')
  local r, t, f = tonumber(v[1]) or 0, tonumber(v[2]) or 0, 0
  if maxc >= 0 then
    redis.call('ZREMRANGEBYSCORE', KEYS[2 * i], '-inf', now)
    f = redis.call('ZCARD', KEYS[2 * i])
  end
  tr[i], tt[i], fl[i] = r, t, f
  if rpm >= 0 then
    if rpm <= 0 then ok = false else
      local base = now
      if r > now then base = r end
      if base + (1 * W) / rpm - now - W > EPS then ok = false end
    end
  end
  if tpm >= 0 then
    if tpm <= 0 or cost > tpm then ok = false else
      local base = now
      if t > now then base = t end
      if base + (cost * W) / tpm - now - W > EPS then ok = false end
    end
  end
  if maxc >= 0 and f >= maxc then ok = false end
end
local held = 0
if ok then
  for i = 1, n do
    local rpm, tpm, maxc = tonumber(ARGV[2 + 3 * i]), tonumber(ARGV[3 + 3 * i]), tonumber(ARGV[4 + 3 * i])
    local g = KEYS[2 * i - 1]
    local r, t = tr[i], tt[i]
    local wrote = false
    if rpm > 0 then
      local base = now
      if r > now then base = r end
      r = base + (1 * W) / rpm
      redis.call('HSET', g, 'r', num(r))
      wrote = true
    end
    if tpm > 0 and cost > 0 then
      local base = now
      if t > now then base = t end
      t = base + (cost * W) / tpm
      redis.call('HSET', g, 't', num(t))
      wrote = true
    end
    if wrote then redis.call('PEXPIRE', g, math.ceil(math.max(r, t) - now) + 1000) end
    if maxc >= 0 and member ~= '' then
      redis.call('ZADD', KEYS[2 * i], num(now + lease), member)
      redis.call('PEXPIRE', KEYS[2 * i], lease + 1000)
      held = held + 2 ^ (i - 1)
    end
  end
end
local out = { ok and 1 or 0, num(now), held }
for i = 1, n do
  out[#out + 1] = num(tr[i])
  out[#out + 1] = num(tt[i])
  out[#out + 1] = fl[i]
end
return out
`;

/**
 * Completion tokens, charged without an admission test (may create debt).
 * KEYS: GCRA hashes. ARGV: [1] now ("" = TIME), [2] tokens, then tpm per key.
 */
export const CHARGE = `${NOW}
local W = 60000
local cost = tonumber(ARGV[2])
for i = 1, #KEYS do
  local tpm = tonumber(ARGV[2 + i])
  local v = redis.call('HMGET', KEYS[i], 'r', 't')
  local r, t = tonumber(v[1]) or 0, tonumber(v[2]) or 0
  local base = now
  if t > now then base = t end
  t = base + (cost * W) / tpm
  redis.call('HSET', KEYS[i], 't', num(t))
  redis.call('PEXPIRE', KEYS[i], math.ceil(math.max(r, t) - now) + 1000)
end
return 1
`;

/** Frees one request's slots. KEYS: in-flight sets. ARGV: [1] lease member. */
export const RELEASE = `
for i = 1, #KEYS do redis.call('ZREM', KEYS[i], ARGV[1]) end
return 1
`;

/**
 * Extends the leases of requests still running, so only a dead instance's leases run out.
 * KEYS: in-flight sets. ARGV: [1] now ("" = TIME), [2] lease ms, then the member per key.
 * XX: a lease that already expired (Redis was down longer than a lease) is not re-added, since
 * its slot may have been given to someone else meanwhile.
 */
export const RENEW = `${NOW}
local lease = tonumber(ARGV[2])
for i = 1, #KEYS do
  redis.call('ZADD', KEYS[i], 'XX', num(now + lease), ARGV[2 + i])
  redis.call('PEXPIRE', KEYS[i], lease + 1000)
end
return 1
`;
