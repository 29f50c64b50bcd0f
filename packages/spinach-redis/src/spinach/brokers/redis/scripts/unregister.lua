-- A worker leaves cleanly: it is forgotten unless jobs are still recorded as
-- running on it (they are then recovered once it is found dead).
-- KEYS[1]: workers (zset); KEYS[2]: its running jobs (hash); KEYS[3]: its record (hash)
-- ARGV: prefix, now, worker id
-- Returns 1 if it was forgotten, 0 if jobs keep it registered.
if redis.call('HLEN', KEYS[2]) > 0 then return 0 end
redis.call('ZREM', KEYS[1], ARGV[3])
redis.call('DEL', KEYS[3])
return 1
