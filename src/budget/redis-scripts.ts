/**
 * The shared budget store's Lua scripts: one round trip each, atomic over every key they touch,
 * so no other instance's reservation or charge can come between a check and its take.
 *
 * Keys per account (prefix `warden:budget:` by default; kind is `key` or `tenant`):
 *
 *     <prefix>spent:<kind>:<id>   string      lifetime spend, integer µUSD; never expires
 *     <prefix>holds:<kind>:<id>   sorted set  live reservations: member = `<holdId>:<µUSD>`,
 *                                             score = expiry (ms, Redis clock)
 *     <prefix>held:<kind>:<id>    string      the sum of the µUSD in `holds`, so a check does
 *                                             not read every member of a busy tenant's set
 *     <prefix>settled:<holdId>    string      "this hold's charge was applied": a retried
 *                                             settle whose first try did run charges nothing;
 *                                             expires after the retries (~42 s by default)
 *
 * Expired holds (their instance died, or stopped renewing) are removed, and taken off the sum,
 * by the next script that reads the account. `holds` and `held` expire together a second after
 * their newest hold; an empty set always means a sum of 0, so the two cannot drift apart for
 * long, and a lost sum (eviction) is counted again from the set.
 *
 * Seeding: every script that reads or charges an account is given a floor (what this instance's
 * key database says the account spent, plus its settled charges not yet written there) and
 * raises `spent` to it first. An empty Redis (restarted, flushed) therefore starts again from
 * the local record rather than from zero, on the first request of every instance.
 *
 * Numbers: µUSD stay below 2^53 (budgets are at most $10^9 = 10^15 µUSD), exact in Lua's
 * doubles, and are written with '%.0f' so Redis never sees "1e+15". Time is the server's
 * `TIME`, one clock for every instance (Redis 5+ replicates scripts by effect, so TIME inside a
 * writing script is allowed).
 */

const COMMON = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function int(x) return string.format('%.0f', x) end
local function sum(members)
  local s = 0
  for _, m in ipairs(members) do s = s + (tonumber(string.match(m, ':(%d+)$')) or 0) end
  return s
end
-- Raises spent to the floor (the local record); returns the spend.
local function seed(sk, floor)
  local s = tonumber(redis.call('GET', sk)) or 0
  if s < floor then
    redis.call('SET', sk, int(floor))
    s = floor
  end
  return s
end
-- Drops expired holds; returns the µUSD the live ones hold.
local function live(hk, ck)
  local gone = redis.call('ZRANGEBYSCORE', hk, '-inf', int(now))
  if #gone > 0 then redis.call('ZREMRANGEBYSCORE', hk, '-inf', int(now)) end
  if redis.call('ZCARD', hk) == 0 then
    redis.call('DEL', ck)
    return 0
  end
  local h = tonumber(redis.call('GET', ck))
  if h == nil then
    h = sum(redis.call('ZRANGE', hk, 0, -1))
    redis.call('SET', ck, int(h))
    local ttl = redis.call('PTTL', hk)
    if ttl > 0 then redis.call('PEXPIRE', ck, ttl) end
  elseif #gone > 0 then
    local g = sum(gone)
    redis.call('DECRBY', ck, int(g))
    h = h - g
  end
  return h
end
-- Removes one hold if it is still there (it may have expired and been dropped already).
local function unhold(hk, ck, member, micros)
  if redis.call('ZREM', hk, member) == 1 then
    if redis.call('ZCARD', hk) == 0 then
      redis.call('DEL', ck)
    elseif redis.call('EXISTS', ck) == 1 then
      -- (a lost sum is counted again from the set by live(), not made negative here)
      redis.call('DECRBY', ck, int(micros))
    end
  end
end
`;

/**
 * All or nothing over the request's budgeted accounts.
 * KEYS: per account i, [3i-2] spent, [3i-1] holds, [3i] held sum.
 * ARGV: [1] µUSD to hold, [2] member `<holdId>:<µUSD>`, [3] hold ttl ms, then per account
 *       [2+2i] budget, [3+2i] floor.
 * Returns {1, 0, spent per account} when held, or {0, i, spent, held} naming the first account
 * that would go over (nothing taken).
 */
export const RESERVE = `${COMMON}
local micros, member, ttl = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3])
local n = #KEYS / 3
local spent = {}
for i = 1, n do
  local s = seed(KEYS[3 * i - 2], tonumber(ARGV[3 + 2 * i]))
  local h = live(KEYS[3 * i - 1], KEYS[3 * i])
  if s + h + micros > tonumber(ARGV[2 + 2 * i]) then return { 0, i, int(s), int(h) } end
  spent[i] = int(s)
end
for i = 1, n do
  redis.call('ZADD', KEYS[3 * i - 1], int(now + ttl), member)
  redis.call('INCRBY', KEYS[3 * i], int(micros))
  redis.call('PEXPIRE', KEYS[3 * i - 1], int(ttl + 1000))
  redis.call('PEXPIRE', KEYS[3 * i], int(ttl + 1000))
end
local out = { 1, 0 }
for i = 1, n do out[#out + 1] = spent[i] end
return out
`;

/**
 * Frees the hold and charges every account, budgeted or not, once per hold.
 * KEYS: [1] settled marker, then per account i, [3i-1] spent, [3i] holds, [3i+1] held sum.
 * ARGV: [1] member ("" = nothing held), [2] µUSD held, [3] µUSD to charge, [4] marker ttl ms,
 *       then per account [4+i] floor.
 * Returns {1, spent per account}, or {0} when the marker says this charge was applied before.
 */
export const SETTLE = `${COMMON}
local member, held, micros = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
if micros > 0 and not redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[4]) then return { 0 } end
local n = (#KEYS - 1) / 3
local out = { 1 }
for i = 1, n do
  if member ~= '' then unhold(KEYS[3 * i], KEYS[3 * i + 1], member, held) end
  local s = seed(KEYS[3 * i - 1], tonumber(ARGV[4 + i]))
  if micros > 0 then s = redis.call('INCRBY', KEYS[3 * i - 1], ARGV[3]) end
  out[#out + 1] = int(s)
end
return out
`;

/**
 * Frees a hold without charging. KEYS: per account i, [2i-1] holds, [2i] held sum.
 * ARGV: [1] member, [2] µUSD held.
 */
export const RELEASE = `${COMMON}
for i = 1, #KEYS / 2 do unhold(KEYS[2 * i - 1], KEYS[2 * i], ARGV[1], tonumber(ARGV[2])) end
return 1
`;

/**
 * Pushes back the expiry of holds whose requests are still running, so only a dead instance's
 * holds run out. KEYS: per hold and account, [2i-1] holds, [2i] held sum.
 * ARGV: [1] ttl ms, then the member per pair.
 * XX: a hold that already expired (Redis was out of reach longer than the ttl) is not added
 * again, since its µUSD may have been reserved by someone else meanwhile.
 */
export const RENEW = `${COMMON}
local ttl = tonumber(ARGV[1])
for i = 1, #KEYS / 2 do
  if redis.call('ZADD', KEYS[2 * i - 1], 'XX', 'CH', int(now + ttl), ARGV[1 + i]) == 1 then
    redis.call('PEXPIRE', KEYS[2 * i - 1], int(ttl + 1000))
    redis.call('PEXPIRE', KEYS[2 * i], int(ttl + 1000))
  end
end
return 1
`;
