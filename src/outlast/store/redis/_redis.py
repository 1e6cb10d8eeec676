"""``RedisStore``: the default durable store, on ``redis.asyncio``.

Every key lives under ``outlast:<namespace>:store:`` (one namespace per application or
test). JSON documents, sorted sets as time indexes, Lua or WATCH/MULTI wherever a change
must be atomic; see ``_redis_timeline``, ``_redis_idempotency``, ``_redis_retries`` and
``_redis_alerts`` for the layouts. Redis Cluster and Sentinel URLs are not supported here
(multi-key scripts would need hash tags); plain ``redis://``, ``rediss://`` and ``unix://``
are. This module never lets a redis-py error escape (see ``StoreUnavailableError``).
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Final

import redis

from outlast._clock import SYSTEM_CLOCK, Clock
from outlast.store._collections import (
    DEAD_LETTERS,
    DEFAULT_EVENT_RETENTION,
    DEFAULT_IDEMPOTENCY_RETENTION,
    ERROR_EVENTS,
    RECOVERY_ATTEMPTS,
    SNAPSHOTS,
    check_namespace,
    check_retention,
)
from outlast.store._core import StoreCore
from outlast.store._errors import redact_url, translate_errors, translated
from outlast.store.redis._redis_alerts import RedisAlerts
from outlast.store.redis._redis_client import RedisConnector
from outlast.store.redis._redis_idempotency import RedisIdempotency
from outlast.store.redis._redis_retries import RedisRetrySchedule
from outlast.store.redis._redis_timeline import RedisTimeline

if TYPE_CHECKING:
    from outlast.store.redis._redis_sync_claims import RedisSyncClaims

__all__ = ["RedisStore", "store_prefix"]

_DRIVER_ERRORS: Final = (redis.RedisError, OSError)


def store_prefix(namespace: str) -> str:
    """The key prefix of the store of ``namespace``."""
    return f"outlast:{check_namespace(namespace)}:store:"


class RedisStore(StoreCore):
    """The :class:`~outlast.store.Store` on Redis at ``url``.

    ``event_retention`` (seconds, default 7 days) is how long error events, recovery
    attempts, snapshots and resolved alerts are kept; ``idempotency_retention`` (default 7
    days) how long a completed idempotency key is. Each event loop gets a pool of up to
    ``max_connections``; ``socket_timeout`` bounds every command and the wait for a free
    connection, ``connect_timeout`` every connect. ``clock`` supplies every timestamp the
    store reads itself (defaults for ``at``/``now``, lease and retention checks).
    """

    def __init__(
        self,
        url: str,
        *,
        namespace: str = "default",
        event_retention: float = DEFAULT_EVENT_RETENTION,
        idempotency_retention: float = DEFAULT_IDEMPOTENCY_RETENTION,
        socket_timeout: float = 5.0,
        connect_timeout: float = 2.0,
        max_connections: int = 50,
        clock: Clock | None = None,
    ) -> None:
        self.namespace = namespace
        self.url = url
        self.prefix = prefix = store_prefix(namespace)
        self.event_retention = retention = check_retention("event_retention", event_retention)
        self.idempotency_retention = kept = check_retention(
            "idempotency_retention", idempotency_retention
        )
        self._timeouts = (socket_timeout, connect_timeout)
        self._clock = clock or SYSTEM_CLOCK
        self._target = redact_url(url)
        self._connector = RedisConnector(
            url,
            socket_timeout=socket_timeout,
            connect_timeout=connect_timeout,
            max_connections=max_connections,
        )
        self._dead_letters = RedisTimeline(DEAD_LETTERS, prefix=prefix, retention=retention)
        self._events = RedisTimeline(ERROR_EVENTS, prefix=prefix, retention=retention)
        self._recoveries = RedisTimeline(RECOVERY_ATTEMPTS, prefix=prefix, retention=retention)
        self._snapshots = RedisTimeline(SNAPSHOTS, prefix=prefix, retention=retention)
        self._idempotency = RedisIdempotency(prefix=prefix, retention=kept, clock=self._clock)
        self._retries = RedisRetrySchedule(prefix=prefix)
        self._alerts = RedisAlerts(prefix=prefix, retention=retention, clock=self._clock)

    def __repr__(self) -> str:
        return f"RedisStore({self._target!r}, namespace={self.namespace!r})"

    def translation(self, operation: str) -> AbstractContextManager[None]:
        """Where redis-py errors become StoreUnavailableError."""
        return translate_errors(
            _DRIVER_ERRORS, backend="redis", target=self._target, operation=operation
        )

    def sync_claims(self) -> RedisSyncClaims:
        """A sync client for this store's idempotency claims (same keys, scripts, clock):
        the workers claim through it for sync operations."""
        from outlast.store.redis._redis_sync_claims import RedisSyncClaims  # it imports this module

        socket_timeout, connect_timeout = self._timeouts
        return RedisSyncClaims(
            self.url,
            namespace=self.namespace,
            idempotency_retention=self.idempotency_retention,
            socket_timeout=socket_timeout,
            connect_timeout=connect_timeout,
            clock=self._clock,
        )

    async def _handle(self, kind: str) -> Any:
        return self._connector.connection()

    @translated
    async def ping(self) -> None:
        """Return if Redis answers; raise StoreUnavailableError if not."""
        await self._connector.connection().client.ping()

    @translated
    async def close(self) -> None:
        """Close this event loop's connections (other loops' close with their loop)."""
        await self._connector.aclose()
