-- wrk script: POST /api/v1/ask with the questions of a file (one JSON body per line), in turn.
-- Usage: wrk -t1 -c4 -d5s -s benchmarks/ask.lua http://127.0.0.1:PORT -- bodies.jsonl
-- At the end it prints one line, "JSON {...}", with counts, errors and latency percentiles (microseconds).

local bodies = {}
local next_body = 0

function init(args)
  local path = args[1]
  for line in io.lines(path) do
    if #line > 0 then bodies[#bodies + 1] = line end
  end
  if #bodies == 0 then error("no request bodies in " .. path) end
end

function request()
  next_body = next_body % #bodies + 1
  return wrk.format("POST", "/api/v1/ask", { ["Content-Type"] = "application/json" }, bodies[next_body])
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'JSON {"requests": %d, "duration_us": %d, "bytes": %d, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
    '"latency_us": {"p50": %d, "p90": %d, "p95": %d, "p99": %d, "max": %d, "mean": %.1f}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(95), latency:percentile(99),
    latency.max, latency.mean))
end
