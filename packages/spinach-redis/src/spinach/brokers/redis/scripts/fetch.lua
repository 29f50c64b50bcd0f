-- Take up to N runnable jobs from a queue and record them as running here.
-- KEYS[1]: the queue (list); KEYS[2]: this broker's running jobs (hash)
-- ARGV: prefix, max jobs, queue name, most payloads to look at
-- Jobs over their task's concurrency limit are parked, not skipped over, so
-- the next call does not look at them again. Unreadable payloads are set
-- aside in the rejected list. Returns {rejected count, payloads...}.
local want, budget = tonumber(ARGV[2]), tonumber(ARGV[4])
local limited = redis.call('EXISTS', P .. 'max_concurrency') == 1
local maxes, currents, changed = {}, {}, {}
local out, fields, rejected = {}, {}, 0
while #out < want and budget > 0 do
  local batch = redis.call('LPOP', KEYS[1], math.min(want - #out, budget))
  if not batch then break end
  budget = budget - #batch
  for _, payload in ipairs(batch) do
    local id, task = parse_head(payload)
    if not id then
      redis.call('RPUSH', P .. 'rejected', payload)
      rejected = rejected + 1
    else
      local flag = '0'
      if limited then
        local max = maxes[task]
        if max == nil then
          max = tonumber(redis.call('HGET', P .. 'max_concurrency', task)) or false
          maxes[task] = max
        end
        if max then
          local current = currents[task]
          if current == nil then
            current = tonumber(redis.call('HGET', P .. 'current_concurrency', task) or '0')
          end
          if current >= max then
            redis.call('RPUSH', P .. 'parked:' .. task, payload)
            redis.call('HINCRBY', P .. 'parked_count', ARGV[3], 1)
            flag = nil
          else
            current = current + 1
            changed[task] = true
            flag = '1'
          end
          currents[task] = current
        end
      end
      if flag then
        fields[#fields + 1] = id
        fields[#fields + 1] = flag .. payload
        out[#out + 1] = payload
      end
    end
  end
end
for task in pairs(changed) do
  redis.call('HSET', P .. 'current_concurrency', task, currents[task])
end
if #fields > 0 then chunked('HSET', KEYS[2], fields) end
if budget <= 0 and redis.call('LLEN', KEYS[1]) > 0 then
  note('q:' .. ARGV[3])  -- looked at enough for one call: wake workers for more
  publish()
end
table.insert(out, 1, rejected)
return out
