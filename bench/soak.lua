-- wrk script for the soak (bench/run.py --soak N): non-streaming ARK requests,
-- 90 % without thread_id and 10 % with a thread_id drawn from SOAK_IDS ids
-- (default 50,000), so the mock's thread bound (--max-threads, 10,000 by
-- default) is reached and then exercised by eviction.
--
-- Deterministic: every wrk thread draws from its own Park-Miller generator
-- (x <- x * 16807 mod 2^31-1; exact in doubles), seeded from its index and
-- SOAK_PHASE, so the same N gives the same request sequence per thread.
-- Each thread stops itself after SOAK_PER_THREAD answers and leaves a marker
-- file in SOAK_DONE_DIR (bench/soak.py then SIGINTs wrk, which would otherwise
-- idle until -d), so the run is bounded in count; wrk's -d bounds it in time.
--
--   SOAK_PER_THREAD=50000 wrk -t2 -c16 -d600s -s bench/soak.lua http://127.0.0.1:8080/v1/chat/completions

local PLAIN = '{"model":"ark","messages":[{"role":"user","content":"hi"}]}'
local THREADED = '{"model":"ark","messages":[{"role":"user","content":"hi"}],"thread_id":"soak-%d"}'

local threads = {}

function setup(thread)
  thread:set("tindex", #threads)
  table.insert(threads, thread)
end

function init(args)
  quota = tonumber((assert(os.getenv("SOAK_PER_THREAD"), "SOAK_PER_THREAD not set")))
  ids = tonumber(os.getenv("SOAK_IDS") or "50000")
  local phase = tonumber(os.getenv("SOAK_PHASE") or "0")
  state = ((tindex + 1) * 7919 + phase * 104729) % 2147483647
  answered, threaded = 0, 0
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Accept"] = "application/json"
end

local function draw()
  state = (state * 16807) % 2147483647
  return state
end

function request()
  local body = PLAIN
  if draw() % 10 == 0 then
    threaded = threaded + 1
    body = string.format(THREADED, draw() % ids)
  end
  return wrk.format(nil, nil, nil, body)
end

function response(status, headers, body)
  answered = answered + 1
  if answered == quota then
    -- tell bench/soak.py this thread is through (wrk itself would wait for -d)
    local dir = os.getenv("SOAK_DONE_DIR")
    if dir then
      local mark = io.open(dir .. "/done-" .. tindex, "w")
      if mark then mark:close() end
    end
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  local threaded = 0
  for _, thread in ipairs(threads) do
    threaded = threaded + thread:get("threaded")
  end
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,"p50_us":%d,"p99_us":%d,"max_us":%d,' ..
    '"non_2xx_3xx":%d,"connect_errors":%d,"read_errors":%d,"write_errors":%d,"timeouts":%d,' ..
    '"threaded_sent":%d}\n',
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(99), latency.max,
    e.status, e.connect, e.read, e.write, e.timeout, threaded))
end
