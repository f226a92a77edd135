-- Mark a round's installed state loaded, once PostgreSQL has committed its generation: only if
-- the state in Redis is still that generation's (another rebuild may have replaced it since).
-- ARGV: 1 the generation
-- Returns {'ok', 1 when published | 0 when Redis holds another generation or nothing}
if redis.call('HGET', K_META, 'gen') ~= ARGV[1] then return {'ok', 0} end
redis.call('HSET', K_META, 'loaded', '1')
return {'ok', 1}
