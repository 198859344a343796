-- TCC barrier, Try of one branch: barrier check, guards, business changes and
-- barrier record in one atomic step.
--   KEYS[1]        barrier record of the branch (hash: try, phase2)
--   KEYS[2..n]     the business keys the change set touches
--   ARGV[1]        TTL of a finished record, ms (unused here: a tried-only record
--                  never expires, or a Cancel arriving days later would find no Try
--                  and leave the reservation frozen forever)
--   ARGV[2..]      the change set (layout in apply-changes.lua)
-- Returns:
--   {'applied'}               changes applied, try = 'try'
--   {'duplicate'}             Try already ran (the branch may be confirmed by now)
--   {'suspended'}             the branch was cancelled first: refused, nothing written
--   {'refused', i, 'min'|'max'}  guard of change i failed: nothing written, not even the
--                             record, so the same Try may run again later

-- @include apply-changes

local barrier = KEYS[1]
local tried, phase2 = read_barrier(barrier)
if tried then
  if tried == 'cancel' or phase2 == 'cancel' then
    return { 'suspended' }
  end
  return { 'duplicate' }
end

local changes = read_changes()
local refused = check_changes(changes)
if refused then
  return refused
end
apply_changes(changes)
redis.call('HSET', barrier, 'try', 'try')
return { 'applied' }
