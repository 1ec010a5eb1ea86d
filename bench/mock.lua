-- wrk script for bench/mock.sh: a mix of the mock agent API's endpoints, per wrk thread:
-- 1/8 POST /session/start, 3/8 POST /session/continue, 2/8 GET /session/status/{id},
-- 2/8 GET /health. Continue and status name the thread id of the latest start this wrk
-- thread saw answered (a start is sent until one is known). done() prints one JSON line.

local n = 0
local last_id = nil
local start_body = '{"student_id":"bench","topic":"photosynthesis"}'
local headers = { ["Content-Type"] = "application/json" }

request = function()
  n = n + 1
  local k = n % 8
  if last_id == nil or k == 0 then
    return wrk.format("POST", "/session/start", headers, start_body)
  elseif k <= 3 then
    local body = '{"thread_id":"' .. last_id .. '","user_response":"I think it is B"}'
    return wrk.format("POST", "/session/continue", headers, body)
  elseif k <= 5 then
    return wrk.format("GET", "/session/status/" .. last_id)
  else
    return wrk.format("GET", "/health")
  end
end

response = function(status, hdrs, body)
  if status ~= 200 then
    return
  end
  -- Only a start response has turn 0 at APK; the others keep the id we already have.
  if string.find(body, '"turn":0}', 1, true) then
    local id = string.match(body, '"thread_id":"([%x%-]+)"')
    if id then
      last_id = id
    end
  end
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'JSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"p50":%d,"p90":%d,"p99":%d,"max":%d,"mean":%.1f}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean))
end
