"""The Lua scripts of the Redis store: every read-check-write that must be atomic.

Scripts never decode or re-encode a stored JSON document (Lua's cjson would turn an empty
list into an empty object); they move documents as opaque strings and compare only plain
hash fields and sorted-set scores. Numbers arrive as strings formatted by Python.
"""

from __future__ import annotations

__all__ = [
    "CLAIM",
    "COMPLETE",
    "DELETE_INDEXED",
    "PUT_INDEXED",
    "PUT_MANY_INDEXED",
    "RELEASE",
    "TAKE_DUE",
]

#: KEYS: item, index... ARGV: id, document, score, ttl ms ("0": none), prune-at-or-below ("").
#: Stores the document once (first write wins) and indexes it; returns the stored document
#: if the id was already taken, else nil. Writes nothing when an index cannot be written.
PUT_INDEXED = """
local existing = redis.call('GET', KEYS[1])
if existing then return existing end
-- A script's writes before an error stay: refuse before the first one, or a retry would
-- find the document stored and never index it.
for i = 2, #KEYS do
  local kind = redis.call('TYPE', KEYS[i])['ok']
  if kind ~= 'none' and kind ~= 'zset' then
    return redis.error_reply('WRONGTYPE index ' .. KEYS[i] .. ' holds a ' .. kind)
  end
end
local ttl = tonumber(ARGV[4])
if ttl > 0 then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ttl)
else
  redis.call('SET', KEYS[1], ARGV[2])
end
for i = 2, #KEYS do
  redis.call('ZADD', KEYS[i], ARGV[3], ARGV[1])
  if ARGV[5] ~= '' then redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', ARGV[5]) end
  if ttl > 0 and redis.call('PTTL', KEYS[i]) < ttl then redis.call('PEXPIRE', KEYS[i], ttl) end
end
return false
"""

#: KEYS: the chunk's distinct indexes (m of them), then one item per record.
#: ARGV: m, prune-at-or-below (""), the length in bytes of the item keys' prefix (a
#: record's id is the rest of its key), the documents end to end, and one line per record:
#: "<score> <ttl ms, 0: none> <its indexes as positions in KEYS: 1,2,4> <document length>\n".
#: Stores each document whose id is not taken (first write wins, within the chunk too) and
#: indexes it; prunes and extends each index once; returns how many were new. Writes
#: nothing when an index cannot be written.
PUT_MANY_INDEXED = """
local m, skip = tonumber(ARGV[1]), tonumber(ARGV[3])
for i = 1, m do
  local kind = redis.call('TYPE', KEYS[i])['ok']
  if kind ~= 'none' and kind ~= 'zset' then
    return redis.error_reply('WRONGTYPE index ' .. KEYS[i] .. ' holds a ' .. kind)
  end
end
local documents, at = ARGV[4], 1
local lines = string.gmatch(ARGV[5], '(%S+) (%d+) (%S+) (%d+)\\n')
local longest, members, new = {}, {}, 0
for i = 1, m do members[i] = {} end
for r = 1, #KEYS - m do
  local score, ttl, positions, length = lines()
  local item, next_at = KEYS[m + r], at + tonumber(length)
  local document = string.sub(documents, at, next_at - 1)
  at, ttl = next_at, tonumber(ttl)
  local stored
  if ttl > 0 then
    stored = redis.call('SET', item, document, 'PX', ttl, 'NX')
  else
    stored = redis.call('SET', item, document, 'NX')
  end
  if stored then
    new = new + 1
    local id = string.sub(item, skip + 1)
    for position in string.gmatch(positions, '%d+') do
      local i = tonumber(position)
      local added = members[i]
      added[#added + 1] = score
      added[#added + 1] = id
      if ttl > (longest[i] or 0) then longest[i] = ttl end
    end
  end
end
-- One ZADD per index and slice of members (unpack has a limit): far fewer calls than one
-- per record and index.
for i = 1, m do
  local added = members[i]
  for first = 1, #added, 1000 do
    redis.call('ZADD', KEYS[i], unpack(added, first, math.min(first + 999, #added)))
  end
  if ARGV[2] ~= '' then redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', ARGV[2]) end
  local ttl = longest[i]
  if ttl and redis.call('PTTL', KEYS[i]) < ttl then redis.call('PEXPIRE', KEYS[i], ttl) end
end
return new
"""

#: KEYS: item, index... ARGV: id. Deletes the item and its index entries; 1 if it existed.
DELETE_INDEXED = """
if redis.call('DEL', KEYS[1]) == 0 then return 0 end
for i = 2, #KEYS do redis.call('ZREM', KEYS[i], ARGV[1]) end
return 1
"""

#: KEYS: claim hash. ARGV: token, now, lease expiry, ttl ms.
#: Returns {'completed', result} | {'in_progress', lease expiry} | {'acquired', lease expiry}.
CLAIM = """
local state = redis.call('HGET', KEYS[1], 'state')
if state == 'completed' then
  return {'completed', redis.call('HGET', KEYS[1], 'result') or 'null'}
end
if state == 'pending' then
  local expires = redis.call('HGET', KEYS[1], 'lease_expires_at')
  if tonumber(expires) > tonumber(ARGV[2]) then return {'in_progress', expires} end
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'state', 'pending', 'token', ARGV[1], 'claimed_at', ARGV[2],
  'lease_expires_at', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return {'acquired', ARGV[3]}
"""

#: KEYS: claim hash. ARGV: token, now, result document, ttl ms.
#: Completes a pending claim held with the token, or a key nobody holds; 1 if recorded.
COMPLETE = """
local state = redis.call('HGET', KEYS[1], 'state')
if state == 'completed' then return 0 end
if state == 'pending' and redis.call('HGET', KEYS[1], 'token') ~= ARGV[1] then return 0 end
redis.call('HDEL', KEYS[1], 'lease_expires_at')
redis.call('HSET', KEYS[1], 'state', 'completed', 'token', ARGV[1], 'completed_at', ARGV[2],
  'result', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1
"""

#: KEYS: claim hash. ARGV: token, new lease expiry, ttl ms.
#: Extends a pending claim held with the token (even a lapsed one nobody took over); 1 if so.
RENEW = """
if redis.call('HGET', KEYS[1], 'state') == 'pending'
    and redis.call('HGET', KEYS[1], 'token') == ARGV[1] then
  redis.call('HSET', KEYS[1], 'lease_expires_at', ARGV[2])
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  return 1
end
return 0
"""

#: KEYS: claim hash. ARGV: token. Deletes a pending claim held with the token; 1 if it did.
RELEASE = """
if redis.call('HGET', KEYS[1], 'state') == 'pending'
    and redis.call('HGET', KEYS[1], 'token') == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
"""

#: KEYS: due zset, items hash. ARGV: now, limit, new score ("": remove what is taken).
#: Returns a flat list: score, document, score, document... for each retry taken.
TAKE_DUE = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'WITHSCORES', 'LIMIT', 0,
  ARGV[2])
local taken = {}
for i = 1, #due, 2 do
  local id = due[i]
  local document = redis.call('HGET', KEYS[2], id)
  if ARGV[3] == '' or not document then
    redis.call('ZREM', KEYS[1], id)
    redis.call('HDEL', KEYS[2], id)
  else
    redis.call('ZADD', KEYS[1], ARGV[3], id)
  end
  if document then
    taken[#taken + 1] = due[i + 1]
    taken[#taken + 1] = document
  end
end
return taken
"""
