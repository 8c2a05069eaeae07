-- wrk script: POST JSON concerns read from $BENCH_BODIES (one body a line), a random one per request,
-- and at the end print one machine-readable line with the totals and the whole latency histogram
-- (microseconds:count), so that runs of the same side can be merged exactly.

local bodies = {}
local headers = { ["Content-Type"] = "application/json", ["Accept"] = "application/json" }
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
end

function init(args)
  for line in io.lines(os.getenv("BENCH_BODIES")) do
    bodies[#bodies + 1] = line
  end
  math.randomseed(id * 7919 + os.time())
end

function request()
  return wrk.format("POST", nil, headers, bodies[math.random(#bodies)])
end

function done(summary, latency, requests)
  local parts = {}
  for i = 1, #latency do
    local value, count = latency(i)
    parts[#parts + 1] = string.format("%d:%d", value, count)
  end
  local e = summary.errors
  io.write(string.format(
    'BENCHJSON {"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,"hist":"%s"}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout, table.concat(parts, ",")))
end
