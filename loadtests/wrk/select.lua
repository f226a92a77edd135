-- Durable selects under wrk: every request is a distinct (student, offering) pair, so every
-- select is real work, not a repeat refused as already_selected.
--
--   wrk -t1 -c64 -d10s -s select.lua http://127.0.0.1:8031 -- PATH TOKENS_FILE OFFERINGS THREADS KEYED
--
-- PATH: the select route; TOKENS_FILE: one student bearer token per line; OFFERINGS: offering
-- ids joined by commas; THREADS: wrk's -t (threads take every THREADS-th pair); KEYED: "1" to
-- send an Idempotency-Key. done() prints one JSON line, prefixed "RESULT ".

local threads = {}
local next_id = 0

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  path = args[1]
  tokens = {}
  for line in io.lines(args[2]) do
    if #line > 0 then
      tokens[#tokens + 1] = "Bearer " .. line
    end
  end
  offerings = {}
  for offering in string.gmatch(args[3], "[^,]+") do
    offerings[#offerings + 1] = offering
  end
  stride = tonumber(args[4])
  keyed = args[5] == "1"
  k = id
  statuses = {}
end

function request()
  local student = k % #tokens
  local offering = math.floor(k / #tokens) % #offerings
  local headers = {
    ["Authorization"] = tokens[student + 1],
    ["Content-Type"] = "application/json",
  }
  if keyed then
    headers["Idempotency-Key"] = "wrk-" .. k
  end
  k = k + stride
  return wrk.format("POST", path, headers, '{"offering_id":"' .. offerings[offering + 1] .. '","waitlist":false}')
end

function response(status, headers, body)
  local key = tostring(status)
  statuses[key] = (statuses[key] or 0) + 1
end

function done(summary, latency, requests)
  local merged = {}
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses")) do
      merged[status] = (merged[status] or 0) + count
    end
  end
  local parts = {}
  for status, count in pairs(merged) do
    parts[#parts + 1] = string.format('"%s":%d', status, count)
  end
  local e = summary.errors
  io.write(string.format(
    'RESULT {"requests":%d,"duration_us":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,'
      .. '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},"statuses":{%s}}\n',
    summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    e.connect, e.read, e.write, e.status, e.timeout, table.concat(parts, ",")
  ))
end
