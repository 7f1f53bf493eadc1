-- wrk script: POST the JSON file named by $BENCH_BODY to the URL given to wrk,
-- and print one machine-readable line at the end, so bench/run.py does not
-- have to parse wrk's human summary (whose units change with magnitude).
--
--   BENCH_BODY=bench/bodies/ark.json wrk -t2 -c16 -d10s -s bench/post.lua \
--       http://127.0.0.1:8080/v1/chat/completions

local file = assert(io.open(assert(os.getenv("BENCH_BODY"), "BENCH_BODY not set"), "rb"))
wrk.method = "POST"
wrk.body = file:read("*a")
file:close()
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = os.getenv("BENCH_ACCEPT") or "application/json"

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,"p50_us":%d,"p99_us":%d,"max_us":%d,' ..
    '"non_2xx_3xx":%d,"connect_errors":%d,"read_errors":%d,"write_errors":%d,"timeouts":%d}\n',
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(99), latency.max,
    e.status, e.connect, e.read, e.write, e.timeout))
end
