-- Select an offering: every rule and the seat in one atomic step, the change in the redo log.
-- ARGV: 1 student, 2 offering, 3 profile JSON [cohort, degree, campus], 4 waitlist wanted (1/0),
--       5 mode (student | admin | override), 6 actor, 7 role, 8 idempotency used (1/0),
--       9 request fingerprint, 10 claim TTL (s), 11 the Idempotency-Key, 12 the student's rate
--       limit per second (0: none), 13 its burst, 14 the caller's sequence floor (common.lua),
--       15 the ticket to hold it under in a fair-start window (fair_start.lua), or the held
--       request the decider decides, 16 the decider's lease ('': a request as it arrives)
-- KEYS: common.lua's, then 10 the student's rate key in this round, 11-14 the fair-start
--       window's (quota/keys.py), 15 the round's attempts, 16 the round's category index
-- Returns {'ok', status, position, id1, entry1, id2, entry2, ...} | {'err', code, detail} |
--         {'replay', fingerprint} | {'held', ticket, window end} | {'gone'}
local student, offering = ARGV[1], ARGV[2]
local profile = cjson.decode(ARGV[3])
local want_waitlist, mode = ARGV[4] == '1', ARGV[5]

-- The rate limit first, in this same round trip: a request over it is not an answer to keep
-- under its Idempotency-Key, nor a decision.
local limited = over_rate(KEYS[10], tonumber(ARGV[12]), tonumber(ARGV[13]))
if limited then return limited end
local now = clock_ms()
local gone = take_held(KEYS[11], KEYS[12], KEYS[13], ARGV[15], ARGV[16], now)
if gone then return gone end

local meta, unavailable = loaded_meta(tonumber(ARGV[14]))
if not meta then return unavailable end
local replay = claim(ARGV[8], ARGV[9], ARGV[10])
if replay then return replay end

-- Rules in the contract's order: round_not_open, wrong_mode, offering_not_in_round,
-- not_eligible, already_selected, time_conflict, category_limit, total_limit, course_full.
if mode == 'student' then
  if not round_open(meta, now) then return refuse('round_not_open', {state = meta['state']}) end
  if meta['mode'] ~= 'fcfs' then return refuse('wrong_mode', {mode = meta['mode']}) end
  if ARGV[16] == '' then
    local held = hold(meta, now, KEYS[11], KEYS[12], KEYS[14], ARGV[15], {
      student = student, offering = offering, profile = ARGV[3], waitlist = ARGV[4], actor = ARGV[6],
      role = ARGV[7], idem = ARGV[8], fp = ARGV[9], key = ARGV[11]
    })
    if held then return held end
  end
end
local entry = catalog_entry(offering)
if not entry then return refuse('offering_not_in_round', {}) end
if mode ~= 'override' then
  if not admits(cjson.decode(meta['elig'] or '{}'), profile) then return refuse('not_eligible', {scope = 'round'}) end
  if not admits(entry['e'], profile) then return refuse('not_eligible', {scope = 'offering'}) end
end
-- A held request was tried when it arrived, not when the window decided it.
if mode == 'student' then note_attempt(KEYS[15], student, offering, HELD and HELD.at or now) end

local holding = load_holding(student) or {p = profile, o = {}}
holding['p'] = profile
local held = holding['o'][offering]
-- An administrator's enrolment of a waiting student moves them off the waitlist.
if held == 'e' or (held == 'w' and mode == 'student') then
  return refuse('already_selected', {status = held == 'e' and 'enrolled' or 'waitlisted'})
end
if mode ~= 'override' then
  local broken = holding_rules(holding, offering, entry, meta_limits(meta))
  if broken then return broken end
end

local capacity = tonumber(redis.call('HGET', K_CAP, offering) or '0')
local enrolled = tonumber(redis.call('HGET', K_ENR, offering) or '0')
local seq = next_seq()
local change = {
  seq = int(seq), student = student, offering = offering, at = int(now), actor = ARGV[6], role = ARGV[7],
  action = mode == 'student' and 'select' or (mode == 'override' and 'force_enroll_override' or 'force_enroll')
}
if ARGV[8] ~= '0' then change['idem'] = ARGV[11]; change['fp'] = ARGV[9] end
local status, position = 'enrolled', false
if enrolled < capacity or mode == 'override' then
  if held == 'w' then
    redis.call('ZREM', K_WL, student)
    redis.call('HINCRBY', K_WLC, offering, -1)
  end
  redis.call('HINCRBY', K_ENR, offering, 1)
  holding['o'][offering] = 'e'
elseif want_waitlist and meta['waitlist'] == '1' and held == nil then
  redis.call('ZADD', K_WL, seq, student)
  redis.call('HINCRBY', K_WLC, offering, 1)
  holding['o'][offering] = 'w'
  status = 'waitlisted'
  change['wait_seq'] = int(seq)
  position = redis.call('ZRANK', K_WL, student) + 1
  change['position'] = position
else
  return refuse('course_full', {
    capacity = capacity, waitlist = meta['waitlist'] == '1',
    alternatives = alternatives(KEYS[16], holding, offering, entry, profile)
  })
end
change['status'] = status
save_holding(student, holding)
local id, json = log_change(meta, change)
return {'ok', status, position, id, json}
