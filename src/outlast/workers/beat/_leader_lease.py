"""A leader lease in Redis: at most one holder at a time, lost by a holder that stops renewing.

The lease is one key whose value is the holder's random token. It is taken with
``SET key token NX PX ttl``, renewed by a script that extends the key only while it still
holds this token (compare-and-pexpire), and given back by one that deletes it only then
(compare-and-delete): a holder whose lease expired never extends or deletes the lease
another holder took after it.

Expiry is counted by the Redis server, so no wall clock of any holder takes part. A holder
counts its own lease on its monotonic clock from the moment it *sent* the request that took
or renewed it: the server set the expiry later than that, so the holder stops believing it
leads no later than the server lets the key go, and two holders never both believe it.

A Redis that does not answer proves nothing: :meth:`LeaderLease.hold` then answers
UNAVAILABLE (never an exception) and the holder no longer leads; the server lets the key
go after the lease time, and another holder takes it.
"""

from __future__ import annotations

import uuid
from typing import Any, Final

from outlast._clock import SYSTEM_CLOCK, Clock
from outlast.resilience.bulkhead._redis_bulkhead_scripts import LuaScript
from outlast.resilience.shared._redis_link import UNAVAILABLE, RedisLink, Unavailable

__all__ = ["LeaderLease"]

#: KEYS[1] the lease; ARGV token, lease ms. Extends the lease if the token holds it: 1, else 0.
RENEW: Final = LuaScript(
    """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
)

#: KEYS[1] the lease; ARGV token. Deletes the lease if the token holds it: 1, else 0.
RELEASE: Final = LuaScript(
    """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
"""
)


class LeaderLease:
    """This process's claim on the lease ``key``: take or renew it with :meth:`hold`."""

    def __init__(
        self,
        link: RedisLink,
        key: str,
        *,
        ttl: float,
        token: str | None = None,
        clock: Clock | None = None,
    ) -> None:
        if ttl <= 0:
            raise ValueError(f"a lease needs a positive ttl, not {ttl}")
        self.link = link
        self.key = key
        self.ttl = ttl
        self.token = token or uuid.uuid4().hex
        self.clock = clock or SYSTEM_CLOCK
        self._ttl_ms = max(1, round(ttl * 1000))
        self._valid_until: float | None = None  # monotonic end of the lease we last confirmed

    @property
    def recheck_interval(self) -> float:
        """How often to call :meth:`hold`: a third of the lease, so a leader renews twice
        before its lease could run out, and a standby notices a free lease that soon."""
        return self.ttl / 3

    @property
    def held(self) -> bool:
        """Whether the last :meth:`hold` confirmed the lease and its time has not run out."""
        return self._valid_until is not None and self.clock.monotonic() < self._valid_until

    def hold(self) -> bool | Unavailable:
        """Renew the lease if this process holds it, else try to take it.

        True while this process holds it, False while another does, UNAVAILABLE when Redis
        does not answer (this process then leads no more).
        """
        sent_at = self.clock.monotonic()
        answer = self.link.call(self._renew_or_take)
        if isinstance(answer, Unavailable) or not answer:
            self._valid_until = None
            return UNAVAILABLE if isinstance(answer, Unavailable) else False
        self._valid_until = sent_at + self.ttl
        return True

    def release(self) -> None:
        """Give the lease back if this process holds it (another may take it at once).

        Uses a connection of its own: Celery calls this from a signal handler, which may
        interrupt this process's shared client in the middle of a command.
        """
        self._valid_until = None
        link = RedisLink(self.link.url, namespace=self.link.namespace)
        try:
            link.call(lambda client: RELEASE.run(client, [self.key], [self.token]))
        finally:
            link.close()

    def _renew_or_take(self, client: Any) -> bool:
        # Renewal is tried even when this process does not believe it holds the lease: a
        # renewal whose answer was lost (a timeout) may have left the key with our token.
        if RENEW.run(client, [self.key], [self.token, self._ttl_ms]):
            return True
        return bool(client.set(self.key, self.token, nx=True, px=self._ttl_ms))
