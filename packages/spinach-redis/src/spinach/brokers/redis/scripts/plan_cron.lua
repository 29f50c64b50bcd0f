-- Plan the next tick of cron tasks, each once whatever the number of workers.
-- KEYS[1]: future jobs (zset); KEYS[2]: last tick planned (hash token -> timestamp)
-- ARGV: prefix, now, then (task token, tick timestamp, queue, payload)...
-- A tick later than the task's last one becomes the last and its job is
-- enqueued: kept with the future jobs, or queued if the server's clock says
-- it is due already. An earlier or equal tick is dropped: it was planned
-- (and perhaps run) already. Returns {token, last tick, ...}.
local now = clock()
local pushes = new_pushes()
local planned = {}
for i = 3, #ARGV, 4 do
  local token, tick = ARGV[i], tonumber(ARGV[i + 1])
  local last = tonumber(redis.call('HGET', KEYS[2], token))
  if not last or tick > last then
    redis.call('HSET', KEYS[2], token, ARGV[i + 1])
    last = tick
    if tick > now then
      defer_job(pushes, ARGV[i + 1], ARGV[i + 3])
    else
      queue_job(pushes, ARGV[i + 2], ARGV[i + 3])
    end
  end
  planned[#planned + 1] = token
  planned[#planned + 1] = num(last)
end
push_all(pushes, KEYS[1])
publish()
return planned
