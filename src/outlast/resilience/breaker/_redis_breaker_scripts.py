"""The Lua scripts of the cluster circuit breaker, and how to call them by SHA.

Each script applies one change to one breaker atomically inside Redis, with the time taken
from the server (``TIME``), so processes whose clocks disagree cannot disagree about the
state. They share a prelude that reads the breaker's configuration from ARGV and its hash.

KEYS: 1 the state hash, 2 the count-window list, 3 the time-window hash (one hash tag, so
one Redis Cluster slot). ARGV 1-12 (:func:`config_args`): failure threshold, recovery
timeout (ms), half-open probes, window kind ("", "count", "time"), window size, minimum
calls, failure-rate and slow-rate thresholds ("" when off), probe lease (ms), key TTL (ms),
channel, name. The hash holds ``id`` (which incarnation of the key: a restarted Redis or an
expired key starts a new one), ``ver`` (bumped by every write, so a reader keeps the newest
view), ``epoch`` (bumped by every state change: outcomes only move the state of the epoch
they were observed in), ``state``, ``open_until``/``hsince`` (server ms), ``cons``
(consecutive failures), the totals ``succ``/``fail``/``rej``, the half-open ``probes``
admitted and ``pok`` succeeded, and the window totals ``wc``/``wf``/``ws``/``whead``.

Every script returns the *view* (id, ver, epoch, state, ms left open, cons, succ, fail,
rej, window calls, window failures, window slow calls, the old state and reason of a
transition it made, else two empty strings, and the server time in ms: see
``_breaker_batch.parse_view``), and
publishes it on the channel, prefixed with ``<len(name)>:<name>`` and joined with ``|``,
whenever the state, epoch or open deadline changed.

This module holds text and a thin caller; it never decides anything in Python.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any, Final

from redis.exceptions import NoScriptError

from outlast.config import CircuitBreakerConfig, WindowType

__all__ = ["ADMIT", "CONTROL", "SYNC", "LuaScript", "config_args"]


_PRELUDE = r"""
local H, CW, TW = KEYS[1], KEYS[2], KEYS[3]
local THRESHOLD = tonumber(ARGV[1])
local RECOVERY = tonumber(ARGV[2])
local MAX_PROBES = tonumber(ARGV[3])
local WINDOW = ARGV[4]
local SIZE = tonumber(ARGV[5])
local MIN_CALLS = tonumber(ARGV[6])
local FAILURE_RATE = tonumber(ARGV[7])
local SLOW_RATE = tonumber(ARGV[8])
local PROBE_LEASE = tonumber(ARGV[9])
local TTL = tonumber(ARGV[10])
local CHANNEL, NAME = ARGV[11], ARGV[12]

local clock = redis.call('TIME')
local NOW = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local SECOND = tonumber(clock[1])

local FIELDS = {'id', 'ver', 'epoch', 'state', 'open_until', 'hsince', 'cons', 'succ',
  'fail', 'rej', 'probes', 'pok', 'wc', 'wf', 'ws', 'whead'}
local raw = redis.call('HMGET', H, unpack(FIELDS))
local s = {}
for i, field in ipairs(FIELDS) do
  if i == 1 or i == 4 then s[field] = raw[i] else s[field] = tonumber(raw[i]) or 0 end
end
local EXISTS = s.id ~= false
if not EXISTS then
  s.id, s.state = '', 'closed'
  redis.call('DEL', CW, TW)
end

local old_state, reason, dirty, announce = false, false, false, false

local function clear_windows()
  s.wc, s.wf, s.ws, s.whead = 0, 0, 0, 0
  redis.call('DEL', CW, TW)
end

local function move(new, why)
  if not old_state then old_state = s.state end
  reason = why
  s.state = new
  s.epoch = s.epoch + 1
  s.probes, s.pok = 0, 0
  if new == 'open' then s.open_until = NOW + RECOVERY end
  if new == 'half_open' then s.hsince = NOW else clear_windows() end
  if new == 'closed' then s.cons = 0 end
  dirty, announce = true, true
end

local function bucket(second)
  local i = second % SIZE
  local b = redis.call('HMGET', TW, 'c' .. i, 'f' .. i, 's' .. i)
  return i, tonumber(b[1]) or 0, tonumber(b[2]) or 0, tonumber(b[3]) or 0
end

-- The window totals now, without writing: a time window drops the seconds gone by.
local function window_totals()
  if WINDOW ~= 'time' then return s.wc, s.wf, s.ws end
  if SECOND - s.whead >= SIZE then return 0, 0, 0 end
  local c, f, sl = s.wc, s.wf, s.ws
  for second = s.whead + 1, SECOND do
    local _, bc, bf, bs = bucket(second)
    c, f, sl = c - bc, f - bf, sl - bs
  end
  return c, f, sl
end

local function rate_rule(c, f, sl)
  if c < MIN_CALLS then return false end
  if FAILURE_RATE and f * 100 >= FAILURE_RATE * c then return 'failure_rate' end
  if SLOW_RATE and sl * 100 >= SLOW_RATE * c then return 'slow_call_rate' end
  return false
end

local function view()
  local c, f, sl = window_totals()
  local remaining = 0
  if s.state == 'open' then remaining = math.max(0, s.open_until - NOW) end
  return {s.id, s.ver, s.epoch, s.state, remaining, s.cons, s.succ, s.fail, s.rej,
    c, f, sl, old_state or '', reason or '', NOW}
end

local function save()
  if not dirty then return end
  if not EXISTS then s.id = clock[1] .. '.' .. clock[2] end
  s.ver = s.ver + 1
  redis.call('HSET', H, 'id', s.id, 'ver', s.ver, 'epoch', s.epoch, 'state', s.state,
    'open_until', s.open_until, 'hsince', s.hsince, 'cons', s.cons, 'succ', s.succ,
    'fail', s.fail, 'rej', s.rej, 'probes', s.probes, 'pok', s.pok, 'wc', s.wc,
    'wf', s.wf, 'ws', s.ws, 'whead', s.whead)
  redis.call('PEXPIRE', H, TTL)
  if WINDOW == 'count' then redis.call('PEXPIRE', CW, TTL) end
  if WINDOW == 'time' then redis.call('PEXPIRE', TW, TTL) end
  if announce then
    redis.call('PUBLISH', CHANNEL, #NAME .. ':' .. NAME .. table.concat(view(), '|'))
  end
end
"""

_SYNC_BODY = r"""
-- ARGV 13-29: the batch of outcomes one process observed since its last flush, tagged
-- with the incarnation and epoch it observed them in, and the reason it opened the breaker
-- on its own, if it did (see _breaker_batch.Batch.args).
local batch_id, batch_epoch = ARGV[13], tonumber(ARGV[14])
local succ, fail, rej = tonumber(ARGV[15]), tonumber(ARGV[16]), tonumber(ARGV[17])
local lead, run, longest, saw = tonumber(ARGV[18]), tonumber(ARGV[19]),
  tonumber(ARGV[20]), ARGV[21] == '1'
local codes = ARGV[22]
local tc, tf, ts = tonumber(ARGV[23]), tonumber(ARGV[24]), tonumber(ARGV[25])
local pok, pfail, prel = tonumber(ARGV[26]), tonumber(ARGV[27]), tonumber(ARGV[28])
local trip = ARGV[29]

if succ + fail + rej > 0 then
  s.succ, s.fail, s.rej = s.succ + succ, s.fail + fail, s.rej + rej
  dirty = true
end

-- The batch's codes go in one by one, the rule checked after each, as in-process; the code
-- leaving the window is the list's or, for a batch longer than the window, the batch's own.
local function apply_count_window()
  local n, held = #codes, s.wc
  if n == 0 then return end
  local evicted = {}
  local from_list = math.min(held, held + n - SIZE)
  if from_list > 0 then evicted = redis.call('LRANGE', CW, 0, from_list - 1) end
  local pushed = {}
  for j = 1, n do
    local code = string.byte(codes, j) - 48
    pushed[j] = code
    s.wc, s.wf, s.ws = s.wc + 1, s.wf + code % 2, s.ws + math.floor(code / 2)
    if s.wc > SIZE then
      local k = held + j - SIZE
      local old = 0
      if k <= held then old = tonumber(evicted[k]) else old = pushed[k - held] end
      s.wc, s.wf, s.ws = s.wc - 1, s.wf - old % 2, s.ws - math.floor(old / 2)
    end
    local why = rate_rule(s.wc, s.wf, s.ws)
    if why then move('open', why) return end
  end
  for first = 1, n, 1000 do
    redis.call('RPUSH', CW, unpack(pushed, first, math.min(n, first + 999)))
  end
  redis.call('LTRIM', CW, -SIZE, -1)
end

local function apply_time_window()
  if tc == 0 then return end
  if SECOND - s.whead >= SIZE then
    redis.call('DEL', TW)
    s.wc, s.wf, s.ws = 0, 0, 0
  else
    for second = s.whead + 1, SECOND do
      local i, bc, bf, bs = bucket(second)
      s.wc, s.wf, s.ws = s.wc - bc, s.wf - bf, s.ws - bs
      redis.call('HDEL', TW, 'c' .. i, 'f' .. i, 's' .. i)
    end
  end
  s.whead = SECOND
  local i = SECOND % SIZE
  redis.call('HINCRBY', TW, 'c' .. i, tc)
  redis.call('HINCRBY', TW, 'f' .. i, tf)
  redis.call('HINCRBY', TW, 's' .. i, ts)
  s.wc, s.wf, s.ws = s.wc + tc, s.wf + tf, s.ws + ts
  local why = rate_rule(s.wc, s.wf, s.ws)
  if why then move('open', why) end
end

local function apply_closed()
  if lead + longest == 0 and not saw and tc == 0 and #codes == 0 then return end
  dirty = true
  local tripped = s.cons + lead >= THRESHOLD or longest >= THRESHOLD
  if saw then s.cons = run else s.cons = s.cons + lead end
  if tripped then move('open', 'consecutive_failures') return end
  if WINDOW == 'count' then apply_count_window() end
  if WINDOW == 'time' then apply_time_window() end
end

local function apply_probes()
  if pok + pfail + prel == 0 then return end
  dirty = true
  s.probes = math.max(0, s.probes - prel)
  if pfail > 0 then move('open', 'probe_failed') return end
  s.pok = s.pok + pok
  if s.pok >= MAX_PROBES then move('closed', 'probes_succeeded') end
end

-- Only outcomes observed in the current incarnation and epoch may move the state. A fresh
-- key takes any batch (it is the newest news), and a batch from a process that saw no key
-- counts until the first transition.
local same_id = batch_id == s.id or (batch_id == '' and s.epoch == 0)
if s.state == 'closed' and (not EXISTS or (same_id and batch_epoch == s.epoch)) then
  apply_closed()
  -- The process opened on these outcomes already: the rules here saw more (another
  -- process's success), but one state for all beats a process open on its own.
  if s.state == 'closed' and trip ~= '' then move('open', trip) end
end
if s.state == 'half_open' and same_id and batch_epoch == s.epoch then apply_probes() end
save()
return view()
"""

_ADMIT_BODY = r"""
-- May one more call start? Moves OPEN to HALF_OPEN once the server clock says so.
local admitted, wait = 0, 0
if s.state == 'closed' then
  admitted = 1
elseif s.state == 'open' then
  if NOW < s.open_until then
    wait = s.open_until - NOW
  else
    move('half_open', 'recovery_timeout_elapsed')
    s.probes, admitted = 1, 1
  end
elseif s.probes < MAX_PROBES then
  s.probes, admitted, dirty = s.probes + 1, 1, true
elseif NOW - s.hsince >= PROBE_LEASE then
  -- The probes have not all reported within their lease (a probing process may have
  -- died): start the half-open period over; late reports of the old probes count for
  -- nothing.
  s.epoch, s.hsince, s.probes, s.pok = s.epoch + 1, NOW, 1, 0
  admitted, dirty, announce = 1, true, true
else
  wait = -1
end
save()
local v = view()
v[#v + 1] = admitted
v[#v + 1] = wait
return v
"""

_CONTROL_BODY = r"""
-- ARGV 13: 'reset' (closed, every counter cleared) or 'open' (open for a full timeout).
if ARGV[13] == 'reset' then
  local was = s.state
  s.state, s.epoch = 'closed', s.epoch + 1
  s.cons, s.succ, s.fail, s.rej, s.probes, s.pok = 0, 0, 0, 0, 0, 0
  clear_windows()
  dirty, announce = true, true
  if was ~= 'closed' then old_state, reason = was, 'reset' end
elseif s.state == 'open' then
  s.open_until, dirty, announce = NOW + RECOVERY, true, true
else
  move('open', 'forced_open')
end
save()
return view()
"""


class LuaScript:
    """One script, called by SHA; loaded into Redis on first use (NOSCRIPT) only."""

    __slots__ = ("sha", "source")

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()

    def __call__(self, client: Any, keys: Sequence[str], args: Sequence[object]) -> Any:
        """Run the script with the sync ``client``."""
        try:
            return client.evalsha(self.sha, len(keys), *keys, *args)
        except NoScriptError:
            client.script_load(self.source)
            return client.evalsha(self.sha, len(keys), *keys, *args)

    async def run_async(self, client: Any, keys: Sequence[str], args: Sequence[object]) -> Any:
        """Run the script with the async (``redis.asyncio``) ``client``."""
        try:
            return await client.evalsha(self.sha, len(keys), *keys, *args)
        except NoScriptError:
            await client.script_load(self.source)
            return await client.evalsha(self.sha, len(keys), *keys, *args)

    def queue(self, pipeline: Any, keys: Sequence[str], args: Sequence[object]) -> None:
        """Add a call to ``pipeline`` (its reply may be a NoScriptError: see ``rerun``).

        Queued with ``execute_command``: redis-py's cluster pipeline refuses its ``evalsha``
        method, though it routes an EVALSHA by its keys (all in one slot here) correctly.
        """
        pipeline.execute_command("EVALSHA", self.sha, len(keys), *keys, *args)


SYNC: Final = LuaScript(_PRELUDE + _SYNC_BODY)
"""Apply a batch of outcomes (maybe empty: then it only reads) and return the view."""

ADMIT: Final = LuaScript(_PRELUDE + _ADMIT_BODY)
"""Admit or reject one call when the local view cannot decide; the view, admitted, wait."""

CONTROL: Final = LuaScript(_PRELUDE + _CONTROL_BODY)
"""Reset or force open; returns the view."""

_DAY_MS = 86_400_000


def config_args(
    config: CircuitBreakerConfig, *, name: str, channel: str, probe_lease: float
) -> tuple[object, ...]:
    """ARGV 1-12 for ``config``: the rules every script applies."""
    window = ""
    minimum = config.minimum_calls
    if config.uses_window:
        window = "time" if config.window_type is WindowType.TIME_BASED else "count"
        if window == "count":
            # As in LocalBreakerState: a count window never holds more than its size.
            minimum = min(minimum, config.window_size)
    recovery_ms = round(config.recovery_timeout * 1000)
    return (
        config.failure_threshold,
        recovery_ms,
        config.half_open_max_calls,
        window,
        config.window_size,
        minimum,
        "" if config.failure_rate_threshold is None else repr(config.failure_rate_threshold),
        "" if config.slow_call_rate_threshold is None else repr(config.slow_call_rate_threshold),
        round(probe_lease * 1000),
        max(_DAY_MS, 10 * recovery_ms),
        channel,
        name,
    )
