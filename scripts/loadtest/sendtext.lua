-- wrk script for scripts/loadtest.sh: POST /api/sendText with the tenant key from the
-- environment (API_KEY), counting non-2xx responses across all threads.
--   API_KEY=... wrk -t2 -c64 -d10s --latency -s scripts/loadtest/sendtext.lua http://127.0.0.1:PORT/api/sendText

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-Api-Key"] = os.getenv("API_KEY") or ""
wrk.body = '{"session":"main","chatId":"15551234567","text":"load test"}'

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  non2xx = 0
  responses = 0
  statuses = {}
end

function response(status, headers, body)
  responses = responses + 1
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
    statuses[status] = (statuses[status] or 0) + 1
    if non2xx == 1 then
      first_error = tostring(status) .. " " .. string.sub(body or "", 1, 300)
    end
  end
end

function done(summary, latency, requests)
  local total, bad = 0, 0
  local bystatus = {}
  local sample = nil
  for _, t in ipairs(threads) do
    total = total + (t:get("responses") or 0)
    bad = bad + (t:get("non2xx") or 0)
    local s = t:get("statuses")
    if s then
      for k, v in pairs(s) do bystatus[k] = (bystatus[k] or 0) + v end
    end
    sample = sample or t:get("first_error")
  end
  io.write(string.format("lua-responses: %d\n", total))
  io.write(string.format("lua-non2xx: %d\n", bad))
  for k, v in pairs(bystatus) do
    io.write(string.format("lua-status %d: %d\n", k, v))
  end
  if sample then
    io.write("lua-first-error: " .. sample .. "\n")
  end
end
