-- rate-limit: per minute/hour/day limits, a minimum interval, a lower daily limit for
-- young numbers. config: per_minute, per_hour, per_day, min_interval_ms,
-- warmup_age_ms, warmup_per_day, over_daily ("delay" or "reject").
local c = {}

function configure(config)
  c = config
end

local function daily(now, s)
  local d = c.per_day or 0
  local wd, wa = c.warmup_per_day or 0, c.warmup_age_ms or 0
  if wd > 0 and wa > 0 and s.linked_ms > 0 and now - s.linked_ms < wa then
    if d == 0 or wd < d then d = wd end
  end
  return d
end

function rate(msg, s)
  local now = wagate.now()
  local delay = 0
  local d = daily(now, s)
  if d > 0 and s.sent_day >= d then
    if c.over_daily == "reject" then
      return {action = "reject", reason = "daily_limit"}
    end
    delay = math.max(delay, math.floor(86400000 / d))
  end
  if (c.per_hour or 0) > 0 and s.sent_hour >= c.per_hour then
    delay = math.max(delay, math.floor(3600000 / c.per_hour))
  end
  if (c.per_minute or 0) > 0 and s.sent_minute >= c.per_minute then
    delay = math.max(delay, math.floor(60000 / c.per_minute))
  end
  if (c.min_interval_ms or 0) > 0 and s.last_sent_ms > 0 then
    delay = math.max(delay, s.last_sent_ms + c.min_interval_ms - now)
  end
  if delay <= 0 then
    return nil
  end
  return {action = "delay", delay_ms = math.max(delay, 1)}
end
