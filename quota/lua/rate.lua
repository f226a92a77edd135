-- Count one request against a student's rate limit (routes that do not reach another script).
-- KEYS: 1 the student's rate key; ARGV: 1 rate per second, 2 burst.
-- Returns {'ok'} | {'err', 'rate_limited', detail}
return over_rate(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2])) or {'ok'}
