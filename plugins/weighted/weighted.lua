-- weighted: the n-th call picks the candidate whose slice of the cumulative weights
-- covers n mod total. config = {weights = {session = weight, ...}, default_weight = 1}.
local weights, default_weight = {}, 1

function configure(config)
  weights = config.weights or {}
  if config.default_weight ~= nil then
    default_weight = config.default_weight
  end
end

local function weight(session)
  local w = weights[session]
  if w == nil then
    return default_weight
  end
  return w
end

function route(msg, candidates)
  local total = 0
  for _, c in ipairs(candidates) do
    total = total + weight(c.session)
  end
  if total == 0 then
    return nil
  end
  local n = tonumber(wagate.kv_get("weighted:next")) or 0
  wagate.kv_set("weighted:next", tostring(n + 1))
  n = n % total
  for _, c in ipairs(candidates) do
    n = n - weight(c.session)
    if n < 0 then
      return c
    end
  end
end
