-- wrk script of the load script (bench/run.sh): sends one fixed request
-- and counts responses by status, so a run reports only the responses it
-- expected as throughput and the rest as failures.
--
-- Configured from the environment:
--   BENCH_METHOD   request method (default GET)
--   BENCH_COOKIE   Cookie header value, if any
--   BENCH_BODY     form body (sent as application/x-www-form-urlencoded)
--   BENCH_EXPECT   the one status counted as success (default 200)
--
-- Every route runs with this same script, so wrk spends the same work per
-- response on each and the ratios compare the servers only. The request
-- is set up here, in the global scope, rather than in a request()
-- function: wrk then builds it once instead of calling Lua per request.

local expect = tonumber(os.getenv("BENCH_EXPECT") or "200")

wrk.method = os.getenv("BENCH_METHOD") or "GET"
local cookie = os.getenv("BENCH_COOKIE") or ""
if cookie ~= "" then
  wrk.headers["Cookie"] = cookie
end
local body = os.getenv("BENCH_BODY") or ""
if body ~= "" then
  wrk.body = body
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
end

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  ok = 0
  other = 0
  other_status = 0
end

function response(status, headers, body)
  if status == expect then
    ok = ok + 1
  else
    other = other + 1
    other_status = status
  end
end

-- done prints one machine-readable line for run.sh.
function done(summary, latency, requests)
  local total_ok, total_other, seen = 0, 0, 0
  for _, t in ipairs(threads) do
    total_ok = total_ok + t:get("ok")
    total_other = total_other + t:get("other")
    local s = t:get("other_status")
    if s ~= 0 then
      seen = s
    end
  end
  local e = summary.errors
  io.write(string.format(
    "BENCH ok=%d other=%d other_status=%d requests=%d duration_us=%d " ..
    "p50_us=%d p99_us=%d max_us=%d err_connect=%d err_read=%d err_write=%d err_timeout=%d\n",
    total_ok, total_other, seen, summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99), latency.max,
    e.connect, e.read, e.write, e.timeout))
end
