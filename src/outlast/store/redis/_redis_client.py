"""Connections of the Redis store: one ``redis.asyncio`` client per event loop.

redis.asyncio connections belong to the loop that opened them, and the worker system runs
a loop per process while the API runs its own; so each loop gets its own client (created on
first use), and a forked child drops its parent's. Clients never retry a failed command by
themselves: store writes are not all idempotent, and the caller decides about retrying.
Each client's pool is a blocking one: under a burst of concurrent calls a caller waits (up
to the socket timeout) for a free connection instead of failing at the pool's limit.
"""

from __future__ import annotations

import asyncio
import os
import weakref
from dataclasses import dataclass
from typing import Any

import redis.asyncio
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.commands.core import AsyncScript

from outlast.store.redis import _redis_scripts as lua

__all__ = ["Connection", "RedisConnector"]


@dataclass(frozen=True, slots=True)
class Connection:
    """A client of the running loop and the store's scripts registered with it."""

    client: redis.asyncio.Redis
    put_indexed: AsyncScript
    put_many_indexed: AsyncScript
    delete_indexed: AsyncScript
    claim: AsyncScript
    complete: AsyncScript
    release: AsyncScript
    renew: AsyncScript
    take_due: AsyncScript


class RedisConnector:
    """Hands out the :class:`Connection` of the running event loop for one URL."""

    def __init__(
        self, url: str, *, socket_timeout: float, connect_timeout: float, max_connections: int
    ) -> None:
        self.url = url
        self._options: dict[str, Any] = {
            "max_connections": max_connections,
            "timeout": socket_timeout,
            "socket_timeout": socket_timeout,
            "socket_connect_timeout": connect_timeout,
            "retry": Retry(NoBackoff(), 0),
            "decode_responses": True,
        }
        self._connections: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Connection] = (
            weakref.WeakKeyDictionary()
        )
        self._pid = os.getpid()

    def connection(self) -> Connection:
        """The connection for the running loop, created on first use."""
        if self._pid != os.getpid():
            self._pid = os.getpid()
            self._connections = weakref.WeakKeyDictionary()  # never share a parent's sockets
        loop = asyncio.get_running_loop()
        found = self._connections.get(loop)
        if found is None:
            found = self._connections[loop] = self._connect()
        return found

    async def aclose(self) -> None:
        """Close the running loop's client; clients of other loops close with their loop."""
        found = self._connections.pop(asyncio.get_running_loop(), None)
        if found is not None:
            await found.client.aclose()

    def _connect(self) -> Connection:
        pool = redis.asyncio.BlockingConnectionPool.from_url(self.url, **self._options)
        client = redis.asyncio.Redis.from_pool(pool)
        return Connection(
            client=client,
            put_indexed=client.register_script(lua.PUT_INDEXED),
            put_many_indexed=client.register_script(lua.PUT_MANY_INDEXED),
            delete_indexed=client.register_script(lua.DELETE_INDEXED),
            claim=client.register_script(lua.CLAIM),
            complete=client.register_script(lua.COMPLETE),
            release=client.register_script(lua.RELEASE),
            renew=client.register_script(lua.RENEW),
            take_due=client.register_script(lua.TAKE_DUE),
        )
