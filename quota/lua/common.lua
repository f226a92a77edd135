-- Shared by every gate script (prepended when the script is registered).
-- KEYS: 1 meta, 2 catalog, 3 capacity, 4 enrolled, 5 waiting (waitlist lengths), 6 holdings,
--       7 redo stream, 8 the offering's waitlist, 9 the Idempotency-Key claim.
local K_META, K_CAT, K_CAP, K_ENR, K_WLC, K_HOLD, K_REDO, K_WL, K_IDEM =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[9]

-- Integers go into entries as strings: cjson prints numbers with 14 significant digits.
local function int(n)
  return string.format('%d', n)
end

local function refuse(code, detail)
  return {'err', code, cjson.encode(detail or {})}
end

local function contains(list, value)
  for _, v in ipairs(list) do
    if v == value then return true end
  end
  return false
end

-- Empty lists admit everyone.
local function admits(elig, profile)
  if elig == nil then return true end
  local cohorts, degrees, campuses = elig['co'] or {}, elig['de'] or {}, elig['ca'] or {}
  if #cohorts > 0 and not contains(cohorts, profile[1]) then return false end
  if #degrees > 0 and not contains(degrees, profile[2]) then return false end
  if #campuses > 0 and not contains(campuses, profile[3]) then return false end
  return true
end

-- Schedule entries are {weekday, date or '', start minute, end minute}. Two entries clash when
-- their [start, end) overlap on the same day: weekly/weekly on the weekday, one-off/one-off on
-- the date, weekly/one-off when the date falls on the weekday.
local function clash(a, b)
  if a[3] >= b[4] or b[3] >= a[4] then return false end
  if a[2] ~= '' and b[2] ~= '' then return a[2] == b[2] end
  return a[1] == b[1]
end

local function schedules_clash(sa, sb)
  for _, a in ipairs(sa) do
    for _, b in ipairs(sb) do
      if clash(a, b) then return true end
    end
  end
  return false
end

local function load_holding(student)
  local raw = redis.call('HGET', K_HOLD, student)
  if not raw then return nil end
  return cjson.decode(raw)
end

local function save_holding(student, holding)
  -- cjson encodes an empty table as an object, which is what `o` is.
  redis.call('HSET', K_HOLD, student, cjson.encode(holding))
end

local function catalog_entry(offering)
  local raw = redis.call('HGET', K_CAT, offering)
  if not raw then return nil end
  return cjson.decode(raw)
end

local function meta_limits(meta)
  return {
    pe = tonumber(meta['lim_pe']), arts = tonumber(meta['lim_arts']),
    labor = tonumber(meta['lim_labor']), total = tonumber(meta['lim_total'])
  }
end

-- The rules that depend on what the student already holds (enrolled selections only):
-- time conflict, category limit, total limit. Returns nil, or a refusal naming what it counted:
-- the held offering in conflict, or the held offerings that make up the limit (sorted ids).
local function holding_rules(holding, offering, entry, limits)
  local in_category, total = {}, {}
  for held, status in pairs(holding['o']) do
    if status == 'e' and held ~= offering then
      local other = catalog_entry(held)
      if other then
        if schedules_clash(entry['s'], other['s']) then
          return refuse('time_conflict', {with = held})
        end
        if other['c'] == entry['c'] then in_category[#in_category + 1] = held end
      end
      total[#total + 1] = held
    end
  end
  local cat_limit = limits[entry['c']]
  if cat_limit ~= nil and #in_category >= cat_limit then
    table.sort(in_category)
    return refuse('category_limit', {category = entry['c'], limit = cat_limit, held = in_category})
  end
  if limits['total'] ~= nil and #total >= limits['total'] then
    table.sort(total)
    return refuse('total_limit', {limit = limits['total'], held = total})
  end
  return nil
end

local function next_seq()
  return redis.call('HINCRBY', K_META, 'seq', 1)
end

-- Append one change to the redo log; returns the entry's JSON (what the writer commits).
local function log_change(meta, change)
  change['gen'] = meta['gen']
  local json = cjson.encode(change)
  local id = redis.call('XADD', K_REDO, '*', 'e', json)
  return id, json
end

-- The gate's clock, in milliseconds: the round's window and every change's `at` are read on it,
-- whatever the clocks of the workers say.
local function clock_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- The round's meta, or a refusal when its state is not loaded. `floor` is the highest sequence
-- number the calling worker has seen for this round: a state whose sequence is below it went
-- back in time (Redis came back with old data), so it stops deciding until recovery rebuilds it.
local function loaded_meta(floor)
  local flat = redis.call('HGETALL', K_META)
  local meta = {}
  for i = 1, #flat, 2 do meta[flat[i]] = flat[i + 1] end
  if meta['loaded'] ~= '1' then return nil, {'err', 'unavailable', '{}'} end
  if floor ~= nil and floor > 0 and tonumber(meta['seq'] or '0') < floor then
    redis.call('HSET', K_META, 'loaded', '0')
    return nil, {'err', 'unavailable', cjson.encode({behind = int(floor)})}
  end
  return meta, nil
end

local function round_open(meta, now)
  if meta['state'] ~= 'open' then return false end
  local opens, closes = tonumber(meta['opens'] or ''), tonumber(meta['closes'] or '')
  if opens ~= nil and now < opens then return false end
  if closes ~= nil and now >= closes then return false end
  return true
end

-- The per-student rate limit (GCRA): `key` holds the time (µs, Redis's clock) at which the
-- student's bucket is empty again. `rate` requests a second on average, up to `burst` at once.
-- Returns nil when the request is admitted (and counted), else the refusal with the wait (µs).
local function over_rate(key, rate, burst)
  if rate <= 0 then return nil end
  local clock = redis.call('TIME')
  local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
  local interval = 1000000 / rate
  local empty_at = tonumber(redis.call('GET', key) or '0')
  if empty_at < now then empty_at = now end
  local after = empty_at + interval
  local excess = after - now - burst * interval
  if excess > 0 then
    return {'err', 'rate_limited', cjson.encode({wait_us = int(excess)})}
  end
  redis.call('SET', key, int(after), 'PX', int(math.ceil((after - now) / 1000)))
  return nil
end

-- The fingerprint this call claimed its Idempotency-Key with, if it did.
local CLAIMED = nil

-- An Idempotency-Key seen before answers with its claim (the fingerprint, and the refusal if
-- the request was refused) instead of acting again.
-- `idem_used` '2': the key was claimed when the request was held in a fair-start window.
local function claim(idem_used, fingerprint, ttl)
  if idem_used == '2' then CLAIMED = fingerprint end
  if idem_used ~= '1' then return nil end
  local seen = redis.call('GET', K_IDEM)
  if seen then return {'replay', seen} end
  redis.call('SET', K_IDEM, fingerprint, 'EX', ttl)
  CLAIMED = fingerprint
  return nil
end

-- Every script's reply passes through here (quota/scripts.py). A refusal leaves nothing in the
-- redo log, so if the process that met it died before recording its answer, nothing else would
-- ever settle the claim: the claim keeps the refusal itself.
local function settle(reply)
  if CLAIMED and reply[1] == 'err' then
    redis.call('SET', K_IDEM, CLAIMED .. '\n' .. reply[2] .. '\n' .. reply[3], 'KEEPTTL')
  end
  return reply
end
