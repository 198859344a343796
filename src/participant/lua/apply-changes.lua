-- Fragment shared by barrier-try.lua, barrier-confirm.lua and barrier-cancel.lua:
-- redis-scripts.ts puts it in place of their "-- @include apply-changes" line.
-- It only defines local functions; it reads KEYS and ARGV as laid out by the
-- scripts' headers:
--   ARGV[2]           number of changes n
--   ARGV[3..2+6n]     the changes, 6 values each:
--                     kind ('hincrby' | 'incrby' | 'hset'),
--                     index in KEYS of the key (>= 2; KEYS[1] is the barrier),
--                     field ('' for incrby),
--                     delta (hincrby, incrby: an integer) or value (hset),
--                     min ('' = none), max ('' = none)
--
-- Redis does not undo a script's earlier writes when a later command fails, so
-- check_changes() runs every check that a write could fail on (wrong key type,
-- a stored value that is not an integer) before apply_changes() writes
-- anything: a failing call leaves the business keys and the barrier untouched.

-- Largest integer a double (Lua's number, and JavaScript's) holds exactly:
-- guards compare in doubles, so counters they watch must stay within it.
local SAFE_INTEGER = 9007199254740991

local KINDS = { hincrby = 'hash', incrby = 'string', hset = 'hash' }

-- The barrier record, {try, phase2}, each false when absent. Values other than
-- the ones these scripts write mean the key is not a barrier record: stop
-- rather than guess.
local function read_barrier(key)
  local record = redis.call('HMGET', key, 'try', 'phase2')
  local tried, phase2 = record[1], record[2]
  if (tried and tried ~= 'try' and tried ~= 'cancel')
    or (phase2 and phase2 ~= 'confirm' and phase2 ~= 'cancel')
    or (tried == 'cancel' and phase2 ~= 'cancel')
    or (phase2 and not tried) then
    error('tcc barrier: ' .. key .. ' does not hold a barrier record written by these scripts')
  end
  return tried, phase2
end

local function read_changes()
  local n = tonumber(ARGV[2])
  local changes = {}
  for i = 1, n do
    local base = 2 + (i - 1) * 6
    local kind = ARGV[base + 1]
    local key = KEYS[tonumber(ARGV[base + 2])]
    if KINDS[kind] == nil or key == nil then
      error('tcc barrier: malformed change ' .. i)
    end
    changes[i] = {
      kind = kind,
      key = key,
      field = ARGV[base + 3],
      value = ARGV[base + 4],
      min = tonumber(ARGV[base + 5]),
      max = tonumber(ARGV[base + 6]),
    }
  end
  return changes
end

-- What INCRBY/HINCRBY accept (Redis' string2ll: no '+', no leading zeros, no
-- "-0"), narrowed to the doubles-exact range.
local function to_integer(s, where)
  if s == '0' or string.match(s, '^%-?[1-9]%d*$') then
    local v = tonumber(s)
    if v >= -SAFE_INTEGER and v <= SAFE_INTEGER then
      return v
    end
  end
  error('tcc barrier: ' .. where .. ' does not hold an integer within +/-(2^53-1)')
end

-- nil when every change can be applied; {'refused', index of the change, 'min' | 'max'}
-- when a guard fails. Changes see the ones before them (two decrements of
-- one field are checked against their sum).
local function check_changes(changes)
  local types = {}
  local values = {}
  for i, c in ipairs(changes) do
    local want = KINDS[c.kind]
    local where = c.key
    if want == 'hash' then
      where = c.key .. ' ' .. c.field
    end
    if types[c.key] == nil then
      local found = redis.call('TYPE', c.key)['ok']
      if found ~= 'none' and found ~= want then
        error('tcc barrier: ' .. c.key .. ' is a ' .. found .. ', not a ' .. want)
      end
      types[c.key] = want
      values[c.key] = {}
    end
    local slots = values[c.key]
    if c.kind == 'hset' then
      slots[c.field] = c.value
    else
      local current = slots[c.field]
      if current == nil then
        if c.kind == 'incrby' then
          current = redis.call('GET', c.key)
        else
          current = redis.call('HGET', c.key, c.field)
        end
        if current == false then
          current = 0
        end
      end
      if type(current) == 'string' then
        current = to_integer(current, where)
      end
      local result = current + tonumber(c.value)
      if result < -SAFE_INTEGER or result > SAFE_INTEGER then
        error('tcc barrier: ' .. where .. ' would leave +/-(2^53-1)')
      end
      if c.min and result < c.min then
        return { 'refused', i, 'min' }
      end
      if c.max and result > c.max then
        return { 'refused', i, 'max' }
      end
      slots[c.field] = result
    end
  end
  return nil
end

local function apply_changes(changes)
  for _, c in ipairs(changes) do
    if c.kind == 'hincrby' then
      redis.call('HINCRBY', c.key, c.field, c.value)
    elseif c.kind == 'incrby' then
      redis.call('INCRBY', c.key, c.value)
    else
      redis.call('HSET', c.key, c.field, c.value)
    end
  end
end
