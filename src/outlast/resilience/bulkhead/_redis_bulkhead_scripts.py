"""The Lua scripts behind a cluster bulkhead, and how they are sent to Redis.

A cluster bulkhead's permits are *leases*: members of one sorted set, each scored by the
millisecond (Redis server time, ``redis.call('TIME')``) at which it expires. Every script
first drops the expired leases, so a permit held by a process that died comes back by
itself once its lease runs out, and worker clocks never take part in the decision.

Each script touches one key, so a bulkhead lives in one Redis Cluster slot. A script is
sent by SHA (``EVALSHA``); on ``NOSCRIPT`` (a restarted or new server) it is sent whole
once (``EVAL`` caches it again). The same script objects serve the sync and the async
client: only the transport differs.

This module never decides anything itself and never catches connection errors: the
caller goes through :class:`~outlast.resilience.shared._redis_link.RedisLink`, which does.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any, Final

from redis.exceptions import NoScriptError

__all__ = ["ACQUIRE", "COUNT", "RENEW", "LuaScript"]

# The current server time in milliseconds; every script starts with it.
_NOW: Final = """
if redis.replicate_commands then redis.replicate_commands() end
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
"""

Arg = str | int | float | bytes


class LuaScript:
    """One Lua script: its source and SHA1, runnable on a sync client, an async client or a
    pipeline."""

    __slots__ = ("sha", "source")

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()

    def run(self, client: Any, keys: Sequence[str], args: Sequence[Arg]) -> Any:
        """Run on a sync client (``redis.Redis`` or a cluster/sentinel equivalent)."""
        try:
            return client.evalsha(self.sha, len(keys), *keys, *args)
        except NoScriptError:
            return client.eval(self.source, len(keys), *keys, *args)

    async def arun(self, client: Any, keys: Sequence[str], args: Sequence[Arg]) -> Any:
        """Run on an async client (``redis.asyncio.Redis`` or equivalent)."""
        try:
            return await client.evalsha(self.sha, len(keys), *keys, *args)
        except NoScriptError:
            return await client.eval(self.source, len(keys), *keys, *args)

    def queue(self, pipeline: Any, keys: Sequence[str], args: Sequence[Arg]) -> None:
        """Add a run to ``pipeline`` (by SHA: load the script first, see :meth:`load`).

        Queued with ``execute_command``: redis-py's cluster pipeline refuses its ``evalsha``
        method, though it routes an EVALSHA by its keys (all in one slot here) correctly.
        """
        pipeline.execute_command("EVALSHA", self.sha, len(keys), *keys, *args)

    def load(self, client: Any) -> None:
        """Put the script in the server's cache, so pipelined runs by SHA find it."""
        client.script_load(self.source)


#: KEYS[1] the lease set; ARGV lease id, capacity, lease ms. Returns 1 if the lease was
#: granted, 0 when every permit is taken.
ACQUIRE: Final = LuaScript(
    _NOW
    + """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  return 0
end
local lease = tonumber(ARGV[3])
redis.call('ZADD', KEYS[1], now + lease, ARGV[1])
redis.call('PEXPIRE', KEYS[1], lease * 2)
return 1
"""
)

#: KEYS[1] the lease set; ARGV lease ms, capacity, then lease ids. Extends every lease, and
#: adds back one that vanished (it expired while its holder stalled or Redis was away, or
#: Redis lost its data) or was never written (a permit taken while Redis did not answer),
#: whatever the count: each names a call that runs, so it counts against the capacity, even
#: if the set then holds more than it (no grant until it holds fewer). Returns the ids that
#: were added to a set already full: calls that ran beyond the capacity.
RENEW: Final = LuaScript(
    _NOW
    + """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local lease = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local crowded = {}
for i = 3, #ARGV do
  if not redis.call('ZSCORE', KEYS[1], ARGV[i])
      and redis.call('ZCARD', KEYS[1]) >= capacity then
    crowded[#crowded + 1] = ARGV[i]
  end
  redis.call('ZADD', KEYS[1], now + lease, ARGV[i])
end
redis.call('PEXPIRE', KEYS[1], lease * 2)
return crowded
"""
)

#: KEYS[1] the lease set. Returns how many leases are live (held cluster-wide) right now.
COUNT: Final = LuaScript(
    _NOW
    + """
return redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf')
"""
)
