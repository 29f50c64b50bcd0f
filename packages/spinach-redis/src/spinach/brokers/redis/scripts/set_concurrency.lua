-- Record concurrency limits; never touch the running counters.
-- KEYS[1]: limits (hash task -> max)
-- ARGV: prefix, now, then (task token, max or '' for no limit)...
for i = 3, #ARGV, 2 do
  if ARGV[i + 1] == '' then
    redis.call('HDEL', KEYS[1], ARGV[i])
  else
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  end
  unpark(ARGV[i])
end
publish()
return 1
