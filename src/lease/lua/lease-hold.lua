--[[
  Takes the lease, or renews it when the caller already holds it.

  KEYS[1]  the lease key
  ARGV[1]  the caller's owner token (unique per coordinator process)
  ARGV[2]  time to live, ms

  Returns: 1 when the caller holds the lease now (taken or renewed),
           0 when another owner holds it.
]]
local current = redis.call('GET', KEYS[1])
if current == false then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
if current == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
