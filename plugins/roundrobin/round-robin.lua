-- round-robin: candidates take turns. The turn lives in the tenant's key-value store so
-- that every interpreter state of the policy shares it.
function route(msg, candidates)
  local n = tonumber(wagate.kv_get("round-robin:next")) or 0
  wagate.kv_set("round-robin:next", tostring(n + 1))
  return candidates[n % #candidates + 1]
end
