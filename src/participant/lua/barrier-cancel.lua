-- TCC barrier, Cancel of one branch: barrier check, guards, business changes
-- and barrier record in one atomic step.
--   KEYS[1]        barrier record of the branch (hash: try, phase2)
--   KEYS[2..n]     the business keys the change set touches
--   ARGV[1]        TTL of the record once phase two is written, ms: the branch is
--                  finished, the record only has to outlive late duplicates (and,
--                  after an empty rollback, the latest a delayed Try may arrive)
--   ARGV[2..]      the change set (layout in apply-changes.lua)
-- Returns:
--   {'applied'}                changes applied, phase2 = 'cancel', record expires in ARGV[1] ms
--   {'duplicate'}              already cancelled
--   {'empty-rollback'}         no Try here: nothing applied; try = phase2 = 'cancel' so
--                              that a late Try is refused; record expires in ARGV[1] ms
--   {'violation', 'confirmed'} the branch was confirmed
--   {'refused', i, 'min'|'max'}  guard of change i failed: nothing written

-- @include apply-changes

local barrier = KEYS[1]
local tried, phase2 = read_barrier(barrier)
if phase2 == 'cancel' then
  return { 'duplicate' }
end
if phase2 == 'confirm' then
  return { 'violation', 'confirmed' }
end
if not tried then
  redis.call('HSET', barrier, 'try', 'cancel', 'phase2', 'cancel')
  redis.call('PEXPIRE', barrier, ARGV[1])
  return { 'empty-rollback' }
end

local changes = read_changes()
local refused = check_changes(changes)
if refused then
  return refused
end
apply_changes(changes)
redis.call('HSET', barrier, 'phase2', 'cancel')
redis.call('PEXPIRE', barrier, ARGV[1])
return { 'applied' }
