-- web-then-cloud: retry a web number a few times, then reroute to the cloud number with
-- the shortest queue; no opinion for failures on other numbers or without a cloud number.
local web = {whatsmeow = true}
local cloud = {cloudapi = true}
local web_attempts, backoff_ms, max_backoff_ms = 2, 2000, 60000

local function set(list)
  local s = {}
  for _, v in ipairs(list) do
    s[v] = true
  end
  return s
end

function configure(config)
  if config.web_providers then web = set(config.web_providers) end
  if config.cloud_providers then cloud = set(config.cloud_providers) end
  web_attempts = config.web_attempts or web_attempts
  backoff_ms = config.backoff_ms or backoff_ms
  max_backoff_ms = config.max_backoff_ms or max_backoff_ms
end

function failover(msg, err, attempt, candidates, session)
  if not web[session.provider] then
    return nil
  end
  if err.retryable and attempt < web_attempts then
    local d = backoff_ms
    for _ = 2, attempt do
      if d >= max_backoff_ms then break end
      d = d * 2
    end
    return {action = "retry", delay_ms = math.min(d, max_backoff_ms)}
  end
  local best
  for _, c in ipairs(candidates) do
    if cloud[c.provider] and (best == nil or c.queue_depth < best.queue_depth) then
      best = c
    end
  end
  if best == nil then
    return nil
  end
  return {action = "reroute", session = best.session}
end
