-- Waitlist promotion, shared by the scripts that free a seat (drop.lua, capacity.lua).
-- Read after common.lua, whose helpers it uses.

-- Enrol waiting students while seats are free: the earliest who still satisfies every rule
-- first; one who does not keeps their place and is passed over.
local function promote(meta, offering, entry, now, out, waitlist_key)
  local limits = meta_limits(meta)
  local round_elig = cjson.decode(meta['elig'] or '{}')
  local capacity = tonumber(redis.call('HGET', K_CAP, offering) or '0')
  local enrolled = tonumber(redis.call('HGET', K_ENR, offering) or '0')
  if enrolled >= capacity then return end
  local waiting = redis.call('ZRANGE', waitlist_key, 0, -1)
  for _, student in ipairs(waiting) do
    if enrolled >= capacity then break end
    local holding = load_holding(student)
    if holding and holding['o'][offering] == 'w'
        and admits(round_elig, holding['p']) and admits(entry['e'], holding['p'])
        and holding_rules(holding, offering, entry, limits) == nil then
      redis.call('ZREM', waitlist_key, student)
      redis.call('HINCRBY', K_WLC, offering, -1)
      redis.call('HINCRBY', K_ENR, offering, 1)
      enrolled = enrolled + 1
      holding['o'][offering] = 'e'
      save_holding(student, holding)
      local id, json = log_change(meta, {
        seq = int(next_seq()), student = student, offering = offering, status = 'enrolled',
        at = int(now), actor = 'system', role = 'system', action = 'promote'
      })
      table.insert(out, id)
      table.insert(out, json)
    end
  end
end
