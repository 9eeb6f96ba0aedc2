-- wrk script for the benchmark: POSTs a JSON body to every target the same way, and prints the results as
-- one JSON line (prefixed BENCH_RESULT) that bench/load.py reads.
--   wrk ... -s bench/post.lua <url> -- file <body> ["Name: value" ...]
--       the same body every time (what a cache hit looks like), read as bytes; each further argument is a header
--       sent with it (the V2 binary body's Content-Type and Inference-Header-Content-Length)
--   wrk ... -s bench/post.lua <url> -- random <rows> <col1,col2,...>
--       a fresh dataframe_split body of random values per request (never in a cache)

local mode, body, rows, columns_json, ncols

local counter = 0
function setup(thread)
  counter = counter + 1
  thread:set("thread_id", counter)
end

function init(args)
  mode = args[1]
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  if mode == "file" then
    local f = assert(io.open(args[2], "rb"))
    body = f:read("*a")
    f:close()
    wrk.body = body
    for i = 3, #args do
      local name, value = string.match(args[i], "^([^:]+):%s*(.*)$")
      if name == nil then error("a header must read 'Name: value', got " .. args[i]) end
      wrk.headers[name] = value
    end
  elseif mode == "random" then
    rows = tonumber(args[2])
    local names = {}
    for name in string.gmatch(args[3], "[^,]+") do names[#names + 1] = '"' .. name .. '"' end
    ncols = #names
    columns_json = "[" .. table.concat(names, ",") .. "]"
    math.randomseed(os.time() * 1000 + (thread_id or 0) * 7919)
  else
    error("mode must be 'file' or 'random', got " .. tostring(mode))
  end
end

local function random_body()
  local data = {}
  for r = 1, rows do
    local values = {}
    for c = 1, ncols do values[c] = string.format("%.6f", math.random() * 0.2 - 0.1) end
    data[r] = "[" .. table.concat(values, ",") .. "]"
  end
  return '{"dataframe_split":{"columns":' .. columns_json .. ',"data":[' .. table.concat(data, ",") .. "]}}"
end

function request()
  if mode == "random" then
    return wrk.format(nil, nil, nil, random_body())
  end
  return wrk.format()
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"p50":%d,"p90":%d,"p95":%d,"p99":%d,"max":%d,"mean":%.1f}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(95), latency:percentile(99),
    latency.max, latency.mean))
end
