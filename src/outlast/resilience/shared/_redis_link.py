"""The Redis connection that cluster-scope breakers and bulkheads share.

One ``RedisLink`` per (URL, namespace): it names keys, hands out a sync client and one
async client per event loop, and tracks whether Redis answers. After a connection error
the link stays *down* for ``retry_interval`` seconds, so a dead Redis costs callers one
timeout, not one per call; callers then decide on local state. Nothing here ever raises
a Redis error into a user's call: ``call``/``acall`` return :data:`UNAVAILABLE` instead.

Keys keep every key of one object in one Redis Cluster slot with a hash tag:
``outlast:{<namespace>:<kind>:<name>}`` and suffixes of it. URLs pass through to
redis-py: ``redis://``, ``rediss://`` and ``unix://`` as they are, ``redis+cluster://``
for Redis Cluster, and ``redis+sentinel://host:port[,host:port]/<service>[/db]`` for
Sentinel.

Forking (Celery prefork) is safe: a child process drops the parent's clients and builds
its own on first use.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import weakref
from collections.abc import Awaitable, Callable
from typing import Any, Final, TypeVar
from urllib.parse import unquote, urlsplit

import redis
import redis.asyncio
import redis.asyncio.cluster
import redis.asyncio.sentinel
import redis.cluster
import redis.sentinel
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import NoBackoff
from redis.retry import Retry

from outlast._clock import SYSTEM_CLOCK, Clock

__all__ = ["REDIS_ERRORS", "UNAVAILABLE", "RedisLink", "Unavailable", "link_for"]

log = logging.getLogger("outlast.redis")

T = TypeVar("T")

REDIS_ERRORS: Final = (redis.RedisError, redis.exceptions.RedisClusterException, OSError)
"""What a Redis that does not answer raises. A cluster client raises
``RedisClusterException`` (not a ``RedisError``) when no node answers, or a slot has none."""


class Unavailable:
    """The answer of a call made while Redis does not answer."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "UNAVAILABLE"

    def __bool__(self) -> bool:
        return False


UNAVAILABLE: Final = Unavailable()


class RedisLink:
    """Clients, key names and availability for one Redis URL and namespace."""

    def __init__(
        self,
        url: str,
        *,
        namespace: str = "default",
        socket_timeout: float = 0.5,
        retry_interval: float = 1.0,
        clock: Clock | None = None,
    ) -> None:
        self.url = url
        self.namespace = namespace
        self.socket_timeout = socket_timeout
        self.retry_interval = retry_interval
        self.clock = clock or SYSTEM_CLOCK
        self._lock = threading.Lock()
        self._sync: Any = None
        self._async: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = (
            weakref.WeakKeyDictionary()
        )
        self._down_until = 0.0
        self._outage = False  # a failure not yet followed by an answer: log it once
        self._pid = os.getpid()

    # -- names -------------------------------------------------------------------------

    def key(self, kind: str, name: str, suffix: str = "") -> str:
        """The key of object ``name`` of ``kind`` ("cb", "bh"), with an optional suffix."""
        base = f"outlast:{{{self.namespace}:{kind}:{name}}}"
        return f"{base}:{suffix}" if suffix else base

    def channel(self, kind: str) -> str:
        """The pub/sub channel on which objects of ``kind`` announce changes."""
        return f"outlast:{self.namespace}:{kind}:events"

    # -- availability ------------------------------------------------------------------

    @property
    def available(self) -> bool:
        """False while a recent connection error says Redis is down."""
        return self.clock.monotonic() >= self._down_until

    def mark_down(self, error: BaseException) -> None:
        """Record that Redis failed; calls are skipped for ``retry_interval`` seconds.

        Logged once per outage: failed retries stay quiet until Redis has answered again.
        """
        if not self._outage:
            self._outage = True
            log.warning("redis at %s unavailable: %s", _safe(self.url), type(error).__name__)
        self._down_until = self.clock.monotonic() + self.retry_interval

    def _answered(self) -> None:
        """A call succeeded: any outage is over."""
        if self._outage:
            self._outage = False
            log.info("redis at %s answers again", _safe(self.url))

    # -- clients -----------------------------------------------------------------------

    @property
    def client(self) -> Any:
        """The sync client (``redis.Redis`` or a cluster/sentinel equivalent)."""
        self._after_fork()
        if self._sync is None:
            with self._lock:
                if self._sync is None:
                    self._sync = _sync_client(self.url, self.socket_timeout)
        return self._sync

    def async_client(self) -> Any:
        """The async client for the running event loop (redis.asyncio binds to a loop)."""
        self._after_fork()
        loop = asyncio.get_running_loop()
        client = self._async.get(loop)
        if client is None:
            client = self._async[loop] = _async_client(self.url, self.socket_timeout)
        return client

    def call(self, fn: Callable[[Any], T]) -> T | Unavailable:
        """``fn(client)``, or UNAVAILABLE if Redis is down or fails now."""
        if not self.available:
            return UNAVAILABLE
        try:
            result = fn(self.client)
        except REDIS_ERRORS as error:
            self.mark_down(error)
            return UNAVAILABLE
        self._answered()
        return result

    async def acall(self, fn: Callable[[Any], Awaitable[T]]) -> T | Unavailable:
        """``await fn(async_client)``, or UNAVAILABLE if Redis is down or fails now."""
        if not self.available:
            return UNAVAILABLE
        try:
            result = await fn(self.async_client())
        except REDIS_ERRORS as error:
            self.mark_down(error)
            return UNAVAILABLE
        self._answered()
        return result

    def close(self) -> None:
        """Drop the sync client's connections (async clients close with their loops)."""
        with self._lock:
            client, self._sync = self._sync, None
        if client is not None:
            client.close()
            for sentinel in _sentinels_of(client):
                sentinel.close()

    async def aclose(self) -> None:
        """Close the running event loop's async client (before the loop ends, so its
        connections do not outlive it)."""
        client = self._async.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.aclose()
            for sentinel in _sentinels_of(client):
                await sentinel.aclose()

    def _after_fork(self) -> None:
        if self._pid != os.getpid():
            # A forked child must not share the parent's sockets.
            self._pid = os.getpid()
            self._sync = None
            self._async = weakref.WeakKeyDictionary()
            self._lock = threading.Lock()


def _sync_client(url: str, timeout: float) -> Any:
    options: dict[str, Any] = {"socket_timeout": timeout, "socket_connect_timeout": timeout}
    if url.startswith("redis+cluster://"):
        return redis.cluster.RedisCluster.from_url(_plain(url), **options)
    # redis-py retries a failed command up to 10 times with backoff by default; the link
    # wants one timeout per outage, then its own retry_interval. (A cluster client keeps
    # its retries: it needs them to follow slot moves.)
    options["retry"] = Retry(NoBackoff(), 0)
    if url.startswith("redis+sentinel://"):
        hosts, service, db = _sentinel_parts(url)
        # sentinel_kwargs too: redis-py gives the sentinels' clients only the socket_*
        # options, so asking a dead sentinel for the master would retry 10 times.
        sentinel = redis.sentinel.Sentinel(hosts, sentinel_kwargs=options, **options)
        credentials = _master_credentials(url)
        return sentinel.master_for(service, db=db, **options, **credentials)
    return redis.Redis.from_url(url, **options)


def _async_client(url: str, timeout: float) -> Any:
    options: dict[str, Any] = {"socket_timeout": timeout, "socket_connect_timeout": timeout}
    if url.startswith("redis+cluster://"):
        return redis.asyncio.cluster.RedisCluster.from_url(_plain(url), **options)
    options["retry"] = AsyncRetry(NoBackoff(), 0)
    if url.startswith("redis+sentinel://"):
        hosts, service, db = _sentinel_parts(url)
        sentinel = redis.asyncio.sentinel.Sentinel(hosts, sentinel_kwargs=options, **options)
        return sentinel.master_for(service, db=db, **options, **_master_credentials(url))
    return redis.asyncio.Redis.from_url(url, **options)


def _sentinels_of(client: Any) -> list[Any]:
    """The clients of the sentinels that a Sentinel-managed ``client`` asks for its master:
    closing the master's client leaves their connections open."""
    pool = getattr(client, "connection_pool", None)  # a cluster client has none
    if isinstance(
        pool, redis.sentinel.SentinelConnectionPool | redis.asyncio.sentinel.SentinelConnectionPool
    ):
        return list(pool.sentinel_manager.sentinels)
    return []


def _plain(url: str) -> str:
    return "redis://" + url.split("://", 1)[1]


def _sentinel_parts(url: str) -> tuple[list[tuple[str, int]], str, int]:
    parts = urlsplit(url)
    hosts = []
    for item in parts.netloc.rsplit("@", 1)[-1].split(","):
        host, _, port = item.rpartition(":")
        hosts.append((host or item, int(port) if host else 26379))
    path = [p for p in parts.path.split("/") if p]
    if not path:
        raise ValueError(f"a sentinel URL needs a service name: {_safe(url)}")
    return hosts, path[0], int(path[1]) if len(path) > 1 else 0


def _master_credentials(url: str) -> dict[str, Any]:
    """``user:password@`` of a sentinel URL: they log in to the master (sentinels need none)."""
    parts = urlsplit(url)
    credentials: dict[str, Any] = {}
    if parts.username:
        credentials["username"] = unquote(parts.username)
    if parts.password:
        credentials["password"] = unquote(parts.password)
    return credentials


def _safe(url: str) -> str:
    """The URL without credentials, for logs."""
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    return f"{parts.scheme}://{host}{parts.path}"


_links: dict[tuple[str, str], RedisLink] = {}
_links_lock = threading.Lock()


def link_for(url: str, namespace: str) -> RedisLink:
    """The shared link for ``url`` and ``namespace`` (one per process)."""
    with _links_lock:
        link = _links.get((url, namespace))
        if link is None:
            link = _links[(url, namespace)] = RedisLink(url, namespace=namespace)
        return link
