-- Declare the concurrency limits of the tasks a worker knows; never touch the
-- running counters.
-- KEYS[1]: limits (hash task -> max); KEYS[2]: when a live worker last
-- declared each limit (hash)
-- ARGV: prefix, now, then (task token, max or '' for no limit)...
-- A worker that knows a task without a limit does not lift the limit another
-- worker declares (during a rolling deploy, versions disagree); a limit no
-- live worker declares any more is retired by heartbeat.lua.
local now = num(clock())
for i = 3, #ARGV, 2 do
  if ARGV[i + 1] ~= '' then
    safe_call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
    safe_call('HSET', KEYS[2], ARGV[i], now)
  end
  unpark(ARGV[i])
end
publish()
return 1
