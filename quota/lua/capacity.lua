-- Change an offering's capacity in one round: a cut below the seats taken is refused; every free
-- seat goes to a waiting student at once (after a raise, or when the capacity is set again to
-- the same value to catch up: a state rebuilt from PostgreSQL promotes nobody by itself).
-- ARGV: 1 offering, 2 new capacity, 3 the caller's sequence floor (common.lua), 4 actor,
--       5 dry run (1: only check)
-- Returns {'ok', old capacity, false, id1, entry1, ...} | {'err', code, detail}
local offering, capacity = ARGV[1], tonumber(ARGV[2])

local meta, unavailable = loaded_meta(tonumber(ARGV[3]))
if not meta then return unavailable end
local now = clock_ms()
local entry = catalog_entry(offering)
if not entry then return {'ok', false, false} end
local enrolled = tonumber(redis.call('HGET', K_ENR, offering) or '0')
if capacity < enrolled then
  return refuse('capacity_below_enrolled', {enrolled = enrolled, capacity = capacity})
end
if ARGV[5] == '1' then return {'ok', false, false} end
local old = tonumber(redis.call('HGET', K_CAP, offering) or '0')
redis.call('HSET', K_CAP, offering, capacity)
local out = {'ok', old, false}
promote(meta, offering, entry, now, out, K_WL)
return out
