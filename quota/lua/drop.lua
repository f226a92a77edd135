-- Drop a selection: frees the seat (promoting from the waitlist in the same step) or the
-- waitlist place; every change in the redo log.
-- ARGV: 1 student, 2 offering, 3 the caller's sequence floor (common.lua), 4 mode (student | admin),
--       5 actor, 6 role, 7 idempotency used (1/0), 8 request fingerprint, 9 claim TTL (s),
--       10 the Idempotency-Key, 11.. every offering of the round, whose waitlist keys are KEYS[10..]
--       in the same order
-- A drop can also make the dropping student fit an offering they wait for (a freed time slot or
-- limit): each such offering with a free seat runs its promotion too, so that a free seat and a
-- waiting student who satisfies every rule never stand side by side.
-- Returns {'ok', previous status, false, id1, entry1, ...} | {'err', code, detail} | {'replay', fp}
local student, offering, mode = ARGV[1], ARGV[2], ARGV[4]

local meta, unavailable = loaded_meta(tonumber(ARGV[3]))
if not meta then return unavailable end
local replay = claim(ARGV[7], ARGV[8], ARGV[9])
if replay then return replay end
local now = clock_ms()

if mode == 'student' then
  if not round_open(meta, now) then return refuse('round_not_open', {state = meta['state']}) end
  -- A lottery round's places are the draw's: a student changes them in the round that continues it.
  if meta['mode'] ~= 'fcfs' then return refuse('wrong_mode', {mode = meta['mode']}) end
  if meta['allow_drop'] ~= '1' then return refuse('drop_not_allowed', {}) end
end
local holding = load_holding(student)
local held = holding and holding['o'][offering]
if not held then return refuse('not_found', {}) end

holding['o'][offering] = nil
save_holding(student, holding)
local change = {
  seq = int(next_seq()), student = student, offering = offering, status = 'dropped', at = int(now),
  actor = ARGV[5], role = ARGV[6], action = mode == 'student' and 'drop' or 'force_drop',
  was = held == 'e' and 'enrolled' or 'waitlisted'
}
if ARGV[7] == '1' then change['idem'] = ARGV[10]; change['fp'] = ARGV[8] end
local out = {'ok', change['was'], false}
local id, json = log_change(meta, change)
table.insert(out, id)
table.insert(out, json)
if held == 'w' then
  redis.call('ZREM', K_WL, student)
  redis.call('HINCRBY', K_WLC, offering, -1)
else
  redis.call('HINCRBY', K_ENR, offering, -1)
  local entry = catalog_entry(offering)
  if entry then promote(meta, offering, entry, now, out, K_WL) end
end
for i = 11, #ARGV do
  local other = ARGV[i]
  if holding['o'][other] == 'w' then
    local entry = catalog_entry(other)
    if entry then promote(meta, other, entry, now, out, KEYS[i - 1]) end
  end
end
return out
