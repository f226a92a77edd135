-- The fair-start window's decider: its lease, and the window's end (fair_start.lua).
-- KEYS: 1 the round's meta, 2 the window's hash, 3 the held requests, 4 the outcomes,
--       5 the students' held counts
-- ARGV: 1 acquire | renew | release | finish, 2 the lease's token, 3 its time to live (ms)
-- Returns {'ok', 1 | 0, what}: acquire answers what the window is ('none': no window or no
-- state; 'running' with the ms left; 'done'; 'busy': another decider holds it; 'taken').
local k_meta, k_fs, k_req, k_out, k_count = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local op, token, ttl = ARGV[1], ARGV[2], tonumber(ARGV[3])
local now = clock_ms()
local fs = redis.call('HMGET', k_fs, 'done', 'lease', 'until')
if op == 'acquire' then
  local ends = tonumber(redis.call('HGET', k_meta, 'fs_end') or '')
  if ends == nil then return {'ok', 0, 'none'} end
  if now < ends then return {'ok', 0, 'running', int(ends - now)} end
  if fs[1] == '1' or redis.call('EXISTS', k_fs) == 0 then return {'ok', 0, 'done'} end
  if fs[2] and fs[2] ~= token and tonumber(fs[3] or '0') > now then return {'ok', 0, 'busy'} end
  redis.call('HSET', k_fs, 'lease', token, 'until', int(now + ttl))
  return {'ok', 1, 'taken'}
end
-- Whoever acquires overwrites the lease: a token still there means nobody else has decided.
if fs[2] ~= token then return {'ok', 0, 'lost'} end
if op == 'renew' then
  redis.call('HSET', k_fs, 'until', int(now + ttl))
  return {'ok', 1, 'renewed'}
end
if op == 'release' then
  redis.call('HDEL', k_fs, 'lease', 'until')
  return {'ok', 1, 'released'}
end
if op == 'finish' then
  -- A request held since the decider last looked keeps the window open.
  if redis.call('HLEN', k_req) > 0 then return {'ok', 0, 'more'} end
  redis.call('HSET', k_fs, 'done', '1')
  redis.call('HDEL', k_fs, 'lease', 'until')
  redis.call('DEL', k_count)
  -- Kept for the requests still waiting, then left to expire.
  redis.call('EXPIRE', k_out, 3600)
  return {'ok', 1, 'done'}
end
return {'err', 'bad_op', '{}'}
