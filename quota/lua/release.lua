-- Release Idempotency-Key claims whose change PostgreSQL refused for good (decided by a gate state
-- it no longer accepts): nothing was recorded, so a repeat of the request must be decided afresh,
-- not wait for an answer that will never come. A claim is released only if it is still the one
-- that change made (its fingerprint), never a later one.
-- KEYS: common.lua's, then 10.. the claims; ARGV: the fingerprints, in the same order.
-- Returns {'ok', claims released}
local released = 0
for i = 1, #ARGV do
  local key = KEYS[9 + i]
  local held = redis.call('GET', key)
  if held and (held == ARGV[i] or string.sub(held, 1, #ARGV[i] + 1) == ARGV[i] .. '\n') then
    redis.call('DEL', key)
    released = released + 1
  end
end
return {'ok', released}
