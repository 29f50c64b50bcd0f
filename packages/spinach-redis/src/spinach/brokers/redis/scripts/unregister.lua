-- A worker leaves cleanly: it is forgotten unless jobs are still recorded as
-- running on it, or adopted by it and not settled (they are then recovered
-- once it is found dead).
-- KEYS[1]: workers (zset); KEYS[2]: its running jobs (hash); KEYS[3]: its record
-- (hash); KEYS[4]: the jobs it adopted and did not settle (hash)
-- ARGV: prefix, now, worker id
-- Returns 1 if it was forgotten, 0 if jobs keep it registered.
if redis.call('HLEN', KEYS[2]) > 0 or redis.call('HLEN', KEYS[4]) > 0 then return 0 end
redis.call('ZREM', KEYS[1], ARGV[3])
redis.call('DEL', KEYS[3])
return 1
