-- wrk script: POST one non-streaming chat completion per request, and print the results as one
-- JSON line ("WRK_JSON {...}") from the done() hook so bench/run.ts can parse them exactly.
--   wrk -t2 -c32 -d10s -s bench/wrk-chat.lua http://127.0.0.1:PORT/v1/chat/completions
-- WRK_TOKENS (env, default 16) sets the mock upstream's reply length via the "mock" override.
-- No response() hook on purpose: defining one makes wrk parse every reply's headers into Lua.

local tokens = tonumber(os.getenv("WRK_TOKENS") or "16") or 16

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
-- WRK_AUTH (env): an Authorization header value, e.g. "Bearer wdn-...", sent with every request.
local auth = os.getenv("WRK_AUTH")
if auth and auth ~= "" then wrk.headers["Authorization"] = auth end
wrk.body = string.format(
  '{"model":"mock-gpt","messages":[{"role":"user","content":"Say hello"}],"mock":{"tokens":%d}}',
  tokens
)

function done(summary, latency, requests)
  local e = summary.errors
  local secs = summary.duration / 1e6
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_s":%.6f,"rps":%.3f,"bytes":%d,' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.3f,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}}\n',
    summary.requests, secs, summary.requests / secs, summary.bytes,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean,
    e.connect, e.read, e.write, e.status, e.timeout
  ))
end
