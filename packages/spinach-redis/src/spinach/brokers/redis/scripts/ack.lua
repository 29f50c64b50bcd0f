-- Record the outcome of finished jobs; idempotent.
-- KEYS[1]: this broker's running jobs (hash); KEYS[2]: future jobs (zset)
-- ARGV: prefix, then (job id, outcome, target, payload)...
--   outcome 'd': done (succeeded or failed), forget it
--   outcome 'q': enqueue payload again in queue <target>
--   outcome 'f': enqueue payload again for timestamp <target>
-- A job no longer running here (recovered meanwhile as if this worker were
-- dead) is left alone.
local ids = {}
for i = 2, #ARGV, 4 do ids[#ids + 1] = ARGV[i] end
if #ids == 0 then return 0 end
local held = redis.call('HMGET', KEYS[1], unpack(ids))
redis.call('HDEL', KEYS[1], unpack(ids))
local queues, order, future = {}, {}, {}
local n = 0
for i = 2, #ARGV, 4 do
  n = n + 1
  local entry = held[n]
  if entry then
    if string.sub(entry, 1, 1) == '1' then
      local _, task = parse_head(string.sub(entry, 2))
      release(task)
    end
    local outcome, target, payload = ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
    if outcome == 'q' then
      local list = queues[target]
      if not list then
        list = {}
        queues[target] = list
        order[#order + 1] = target
      end
      list[#list + 1] = payload
    elseif outcome == 'f' then
      future[#future + 1] = target
      future[#future + 1] = payload
    end
  end
end
for _, name in ipairs(order) do
  chunked('RPUSH', P .. 'queue:' .. name, queues[name])
  note('q:' .. name)
end
if #future > 0 then
  chunked('ZADD', KEYS[2], future)
  note('f')
end
publish()
return n
