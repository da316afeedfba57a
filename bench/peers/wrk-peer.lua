-- wrk script for bench/peers/run.ts: POST one non-streaming chat completion per request (the reply
-- length is the mock upstream's default: the peers do not all forward bench/wrk-chat.lua's "mock"
-- field), with per-target headers, and print the results as one "WRK_JSON {...}" line from done().
--   WRK_MODEL    model name (default mock-gpt)
--   WRK_HEADERS  extra request headers, one "Name: value" per line (auth, Portkey's routing headers)
--   WRK_RATE     total requests per second to pace to (open-loop schedule; run with -t1); unset or 0 = as fast as possible
-- No response() hook on purpose: defining one makes wrk parse every reply's headers into Lua.

local model = os.getenv("WRK_MODEL") or "mock-gpt"
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
for line in string.gmatch(os.getenv("WRK_HEADERS") or "", "[^\n]+") do
  local name, value = string.match(line, "^%s*([^:]+):%s*(.-)%s*$")
  if name then wrk.headers[name] = value end
end
wrk.body = string.format('{"model":"%s","messages":[{"role":"user","content":"Say hello"}]}', model)

local rate = tonumber(os.getenv("WRK_RATE") or "0") or 0
if rate > 0 then
  -- Pacing: request k of this thread is due at t0 + k/rate. delay() runs before every request
  -- and returns how long (ms) that request waits for its slot; wrk starts its latency clock when
  -- the request is written, after the delay. A stall is caught up at most 1 s worth of slots at
  -- a time (what the connections allow), never as an unbounded burst.
  local ffi = require("ffi")
  ffi.cdef [[
    typedef struct { long tv_sec; long tv_nsec; } warden_timespec;
    int clock_gettime(int clk_id, warden_timespec *tp);
  ]]
  local ts = ffi.new("warden_timespec")
  local function now_ms()
    ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
    return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
  end
  local interval = 1000 / rate
  local due = nil
  function delay()
    local now = now_ms()
    if due == nil or due < now - 1000 then due = now end
    local slot = due
    due = due + interval
    local d = slot - now
    if d <= 0 then return 0 end
    return math.floor(d + 0.5)
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  local secs = summary.duration / 1e6
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_s":%.6f,"rps":%.3f,"bytes":%d,' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"p999_us":%d,"max_us":%d,"mean_us":%.3f,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}}\n',
    summary.requests, secs, summary.requests / secs, summary.bytes,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9), latency.max, latency.mean,
    e.connect, e.read, e.write, e.status, e.timeout
  ))
end
