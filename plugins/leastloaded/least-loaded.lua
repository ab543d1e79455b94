-- least-loaded: the candidate with the shortest queue; ties: fewest sent in the last
-- minute, then the first.
function route(msg, candidates)
  local best = candidates[1]
  for i = 2, #candidates do
    local c = candidates[i]
    if c.queue_depth < best.queue_depth
      or (c.queue_depth == best.queue_depth and c.sent_minute < best.sent_minute) then
      best = c
    end
  end
  return best
end
