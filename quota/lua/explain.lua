-- What a refusal tells the student besides its code, and what a select leaves for the fairness
-- report. Read after common.lua, whose helpers it uses.

-- How many alternatives a course_full names at most.
local ALTERNATIVES = 3

-- course_full's alternatives: other offerings of the requested one's category in the round, with
-- a seat left, that the student could take now. Only the course_full path calls this, after every
-- other rule has passed for the requested offering; so the round's eligibility holds, and an
-- offering of the same category that the student neither holds nor waits for counts against the
-- category and total limits exactly as the requested one did (held enrolled selections only):
-- what is left to check is the offering's own eligibility, a time conflict with what the
-- student holds enrolled, and the seat. Order: most seats left first, then the round's offering
-- order. The candidates come from the round's category index (`index_key`), so only the
-- category's seat counts are read, and catalog entries are decoded only until three pass.
local function alternatives(index_key, holding, offering, entry, profile)
  local raw = redis.call('HGET', index_key, entry['c'])
  if not raw then return {} end
  local ids = cjson.decode(raw)
  if #ids == 0 then return {} end
  local caps = redis.call('HMGET', K_CAP, unpack(ids))
  local enrolled = redis.call('HMGET', K_ENR, unpack(ids))
  local open = {}
  for k, id in ipairs(ids) do
    local left = (tonumber(caps[k]) or 0) - (tonumber(enrolled[k]) or 0)
    if left > 0 and id ~= offering and holding['o'][id] == nil then open[#open + 1] = {id, left, k} end
  end
  if #open == 0 then return {} end
  table.sort(open, function(a, b)
    if a[2] ~= b[2] then return a[2] > b[2] end
    return a[3] < b[3]
  end)
  local held = {}
  for other, status in pairs(holding['o']) do
    if status == 'e' then
      local other_entry = catalog_entry(other)
      if other_entry then held[#held + 1] = other_entry['s'] end
    end
  end
  local found = {}
  for _, candidate in ipairs(open) do
    local e = catalog_entry(candidate[1])
    if e and admits(e['e'], profile) then
      local free = true
      for _, schedule in ipairs(held) do
        if schedules_clash(e['s'], schedule) then free = false; break end
      end
      if free then
        found[#found + 1] = candidate[1]
        if #found == ALTERNATIVES then break end
      end
    end
  end
  return found
end

-- A student's select that reached the offering's rules is an attempt: the fairness report reads
-- the offerings each student tried, and when they first tried each (`now`, the gate's clock in
-- ms, already read for the decision: no second clock read on every select). The first time
-- stays (HSETNX); a field copied to PostgreSQL is deleted from the hash, and a later attempt
-- that sets it again keeps the earlier time there.
local function note_attempt(key, student, offering, now)
  redis.call('HSETNX', key, student .. '\t' .. offering, int(now))
end
