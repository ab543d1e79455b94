-- identity: events pass unchanged.
function transform(event)
  return event
end
