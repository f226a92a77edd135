-- Take a round's state (open, paused, ...) only from a newer version than the one held: a caller
-- that read an older state (an upkeep loop, a slow request) never undoes a newer change.
-- ARGV: 1 state, 2 its version, then field, value pairs that came with that version (the closing
--       time, '' for none; the fair-start window's end and seed, set by the first opening), taken
--       in the same step
-- Returns {'ok', 1 when taken | 0 when the held version is as new or newer}
local held = tonumber(redis.call('HGET', K_META, 'state_v') or '-1')
local version = tonumber(ARGV[2])
if redis.call('EXISTS', K_META) == 0 or version <= held then return {'ok', 0} end
redis.call('HSET', K_META, 'state', ARGV[1], 'state_v', ARGV[2])
for i = 3, #ARGV - 1, 2 do redis.call('HSET', K_META, ARGV[i], ARGV[i + 1]) end
return {'ok', 1}
