-- wrk script: signed GitHub push deliveries, each with its own X-GitHub-Delivery and its own
-- head commit (so relay's worker never claims a commit a cluster already runs).
-- Arguments (after --): TEMPLATE_FILE POOL_FILE RUN_TAG
-- TEMPLATE_FILE: the push body with the holes @@SHA@@ and @@BRANCH@@;
-- POOL_FILE: one "commit branch signature" line per request (bench/ingest.py signs them),
-- used in order (wrapping around if the run outlasts the pool).
local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("tid", counter)
  table.insert(threads, thread)
end

function init(args)
  local f = assert(io.open(args[1], "rb"))
  template = f:read("*a")
  f:close()
  pool = {}
  for line in io.lines(args[2]) do
    local c, b, s = line:match("^(%S+) (%S+) (%S+)$")
    table.insert(pool, {c, b, s})
  end
  tag = args[3]
  sent = 0
  codes = {}
end

function request()
  sent = sent + 1
  local entry = pool[((sent - 1) % #pool) + 1]
  local body = template:gsub("@@SHA@@", entry[1]):gsub("@@BRANCH@@", entry[2])
  return wrk.format("POST", nil, {
    ["Content-Type"] = "application/json",
    ["X-GitHub-Event"] = "push",
    ["X-GitHub-Delivery"] = string.format("%s-%d-%d", tag, tid, sent),
    ["X-Hub-Signature-256"] = entry[3],
  }, body)
end

function response(status, headers, body)
  codes[status] = (codes[status] or 0) + 1
end

function done(summary, latency, requests)
  local total = {}
  for _, t in ipairs(threads) do
    for status, n in pairs(t:get("codes")) do
      total[status] = (total[status] or 0) + n
    end
  end
  local parts = {}
  for status, n in pairs(total) do
    table.insert(parts, string.format('"%d": %d', status, n))
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, ' ..
    '"max_us": %d, "errors": %d, "timeouts": %d, "codes": {%s}}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    latency.max, e.connect + e.read + e.write, e.timeout, table.concat(parts, ", ")))
end
