"""``SweepMemory``: what one health sweep leaves for the next, shared through Redis.

Beat sends each sweep to whichever worker process takes it, so what a sweep must remember
(failed heals in a row, each service's restarts for its restart limit, the last health,
the queues each worker consumed) lives in one Redis hash, as JSON per entry. Without a
Redis link it lives in this process only. A Redis that does not answer loses nothing it
had: reads answer empty and writes wait for the next sweep. A lease (SET NX with a TTL)
keeps two sweeps from running at once, so a sweep that outlasts its interval cannot
restart a service twice with the next; without an answer from Redis the lease is granted
(sweeping alone beats not sweeping). Never raises.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import uuid
from typing import Any

from outlast.resilience.shared._redis_link import RedisLink, Unavailable

__all__ = ["SweepMemory"]

# Delete the lease only if it is still ours (it may have expired and been taken since).
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end"

log = logging.getLogger("outlast.recovery")


class SweepMemory:
    """JSON entries by name, in Redis (``link``) or in this process."""

    def __init__(self, link: RedisLink | None) -> None:
        self._link = link
        self._local: dict[str, Any] = {}
        self._lock = threading.Lock()

    async def load(self, name: str) -> dict[str, Any]:
        """Entry ``name`` (empty when unknown or unreadable)."""
        if self._link is None:
            with self._lock:
                copy: dict[str, Any] = json.loads(json.dumps(self._local.get(name, {})))
                return copy
        raw = await asyncio.to_thread(self._read, name)
        try:
            value = json.loads(raw) if raw else {}
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}

    async def save(self, name: str, value: dict[str, Any]) -> None:
        """Replace entry ``name`` with ``value`` (JSON-friendly)."""
        text = json.dumps(value)
        if self._link is None:
            with self._lock:
                self._local[name] = json.loads(text)
            return
        await asyncio.to_thread(self._write, name, text)

    async def lease(self, name: str, ttl: float) -> str | None:
        """A token when this caller now holds lease ``name`` for ``ttl`` s; None when
        another holder has it."""
        token = uuid.uuid4().hex
        if self._link is None:
            return token
        link = self._link
        key = link.key("recovery", "lease", name)
        milliseconds = max(1, int(ttl * 1000))
        answer = await asyncio.to_thread(
            link.call, lambda client: client.set(key, token, nx=True, px=milliseconds)
        )
        if isinstance(answer, Unavailable) or answer:
            return token
        return None

    async def release(self, name: str, token: str) -> None:
        """Give lease ``name`` back if ``token`` still holds it."""
        if self._link is None:
            return
        link = self._link
        key = link.key("recovery", "lease", name)
        await asyncio.to_thread(link.call, lambda client: client.eval(_RELEASE, 1, key, token))

    def _read(self, name: str) -> str | None:
        assert self._link is not None
        key = self._link.key("recovery", "sweep")
        answer = self._link.call(lambda client: client.hget(key, name))
        if isinstance(answer, Unavailable) or answer is None:
            return None
        return answer.decode() if isinstance(answer, bytes) else str(answer)

    def _write(self, name: str, text: str) -> None:
        assert self._link is not None
        key = self._link.key("recovery", "sweep")
        if isinstance(self._link.call(lambda client: client.hset(key, name, text)), Unavailable):
            log.warning("health sweep: memory %r not saved, Redis unavailable", name)
