-- Plan the next tick of cron tasks, each once whatever the number of workers.
-- KEYS[1]: future jobs (zset); KEYS[2]: last tick planned (hash token -> timestamp)
-- ARGV: prefix, now, the time the ticks were computed from, then (task
-- token, tick timestamp, queue, payload)...
-- Ticks computed from a time later than the server's are all refused: the
-- worker's clock runs ahead, and a tick after a time still to come could
-- skip the ticks before it. Otherwise a tick later than the task's last one
-- becomes the last and its job is enqueued: kept with the future jobs, or
-- queued if due already; an earlier or equal tick is dropped (it was
-- planned, and perhaps run, already).
-- Returns {server time, token, last tick ('' if refused), ...}.
local now = clock()
local ahead = tonumber(ARGV[3]) > now
local pushes = new_pushes()
local reply = {num(now)}
for i = 4, #ARGV, 4 do
  local token, tick, queue, payload = ARGV[i], tonumber(ARGV[i + 1]), ARGV[i + 2], ARGV[i + 3]
  local last = ''
  if not ahead then
    last = tonumber(redis.call('HGET', KEYS[2], token))
    if not last or tick > last then
      redis.call('HSET', KEYS[2], token, num(tick))
      last = tick
      if tick > now then
        defer_job(pushes, num(tick), payload)
        if track_of(payload) then record_stored(payload, 1, now, nil, tick - now) end
      else
        queue_job(pushes, queue, payload)
        if track_of(payload) then record_stored(payload, 2, now) end
      end
    end
    last = num(last)
  end
  reply[#reply + 1] = token
  reply[#reply + 1] = last
end
push_all(pushes, KEYS[1])
publish()
return reply
