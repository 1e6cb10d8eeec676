"""The built-in Redis service: probe = PING, heal = rebuild the client and its pool.

The client never retries by itself (redis-py would retry a dead server up to ten times):
a probe must answer within its timeout. This module never touches Outlast's own links.
"""

from __future__ import annotations

import time
from typing import Any

import redis.asyncio
import redis.exceptions
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from outlast.recovery._managed_client import ManagedClient
from outlast.recovery._probe import DEFAULT_PROBE_TIMEOUT, ProbeResult
from outlast.recovery._restart_hooks import RestartHook
from outlast.recovery._restart_limit import RestartLimit
from outlast.recovery._service import Service

__all__ = ["REDIS_CONNECTION_ERRORS", "managed_redis", "redis_service"]

REDIS_CONNECTION_ERRORS = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)
"""What a Redis client raises when its connection is lost: its client is healed."""


def managed_redis(url: str, *, timeout: float = DEFAULT_PROBE_TIMEOUT) -> ManagedClient[Any]:
    """A ``redis.asyncio`` client of ``url`` that healing rebuilds (with a fresh pool)."""

    def build() -> Any:
        return redis.asyncio.Redis.from_url(
            url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0),
        )

    return ManagedClient(build, closer=lambda client: client.aclose())


def redis_service(
    name: str,
    managed: ManagedClient[Any],
    *,
    restart: RestartHook | None = None,
    probe_timeout: float = DEFAULT_PROBE_TIMEOUT,
    restart_limit: RestartLimit | None = None,
) -> Service:
    """A service that PINGs ``managed.client`` and heals by rebuilding it."""

    async def probe() -> ProbeResult:
        started = time.perf_counter()
        client = managed.client
        try:
            answered = await client.ping()
        except BaseException:
            # A PING cut short (timeout, cancel) leaves its socket open: close the pool's.
            await client.connection_pool.disconnect(inuse_connections=True)
            raise
        return ProbeResult(
            healthy=bool(answered), latency=time.perf_counter() - started, detail="PONG"
        )

    return Service(
        name=name,
        probe=probe,
        heal=managed.heal,
        restart=restart,
        probe_timeout=probe_timeout,
        restart_limit=restart_limit or RestartLimit(),
        client=managed,
        heal_on=REDIS_CONNECTION_ERRORS,
    )
