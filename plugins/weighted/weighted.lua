-- weighted: the n-th call picks the candidate whose slice of the cumulative weights
-- covers n mod total. config = {weights = {session = weight, ...}, default_weight = 1}.
local weights, default_weight = {}, 1

function configure(config)
  weights = config.weights or {}
  if config.default_weight ~= nil then
    default_weight = config.default_weight
  end
end

function route(msg, candidates)
  local total = 0
  for i = 1, #candidates do
    total = total + (weights[candidates[i].session] or default_weight)
  end
  if total == 0 then
    return nil
  end
  local n = tonumber(wagate.kv_get("weighted:next")) or 0
  wagate.kv_set("weighted:next", tostring(n + 1))
  n = n % total
  for i = 1, #candidates do
    local c = candidates[i]
    n = n - (weights[c.session] or default_weight)
    if n < 0 then
      return c
    end
  end
end
