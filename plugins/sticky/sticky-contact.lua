-- sticky-contact: the candidate with the latest contact with the chat (contacts older
-- than config.max_age_ms are ignored); with none, candidates take turns.
local max_age_ms = 0

function configure(config)
  max_age_ms = config.max_age_ms or 0
end

function route(msg, candidates)
  local best, latest = nil, 0
  local now = wagate.now()
  for _, c in ipairs(candidates) do
    local t = c.last_contact_ms
    if t > 0 and (max_age_ms == 0 or now - t <= max_age_ms) and t > latest then
      best, latest = c, t
    end
  end
  if best then
    return best
  end
  local n = tonumber(wagate.kv_get("sticky-contact:next")) or 0
  wagate.kv_set("sticky-contact:next", tostring(n + 1))
  return candidates[n % #candidates + 1]
end
