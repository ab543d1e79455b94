-- redact: phone numbers (runs of at least 7 digits, optionally led by '+', with spaces,
-- dots, dashes or parentheses between) in the payload's text fields are masked, all
-- digits but the last keep_last. config: fields (list), keep_last.
local fields = {body = true, text = true, caption = true}
local keep_last = 2

function configure(config)
  if config.fields then
    fields = {}
    for _, f in ipairs(config.fields) do fields[f] = true end
  end
  keep_last = config.keep_last or keep_last
end

local function mask(num)
  local digits = select(2, num:gsub("%d", ""))
  if digits < 7 then
    return num
  end
  return (num:gsub("%d", function(d)
    digits = digits - 1
    if digits >= keep_last then return "*" end
    return d
  end))
end

local function text(s)
  return (s:gsub("%+?%d[%d %.%-%(%)]*%d", mask))
end

local function walk(v, listed)
  if type(v) == "string" then
    if listed then return text(v) end
    return v
  end
  if type(v) == "table" then
    for k, e in pairs(v) do
      if type(k) == "string" then
        v[k] = walk(e, fields[k] ~= nil)
      else
        v[k] = walk(e, listed)
      end
    end
  end
  return v
end

function transform(event)
  event.payload = walk(event.payload, false)
  return event
end
