-- wrk script for `make bench`: cycles through the request paths listed one
-- per line in the file given after `--`, each thread from its own offset,
-- with Accept-Encoding: gzip; prints one JSON line (prefixed WRKJSON) at the end.
local requests = {}
local idx = 0

function init(args)
  local paths = {}
  for line in io.lines(args[1]) do
    if #line > 0 then paths[#paths + 1] = line end
  end
  for i, path in ipairs(paths) do
    requests[i] = wrk.format("GET", path, { ["Accept-Encoding"] = "gzip" })
  end
  idx = math.random(#requests) - 1
end

function request()
  idx = idx % #requests + 1
  return requests[idx]
end

function done(summary, latency, _)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,"errors":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
