"""``ManagedClient``: a shared client that healing replaces in place.

Application code reads ``managed.client`` at each use (never keeps its own reference), so
when ``heal()`` closes the old client and builds a new one, every later use gets the new
one: the process heals without a restart. It never retries or probes by itself.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable
from typing import Any, Generic, TypeVar

__all__ = ["ManagedClient"]

log = logging.getLogger("outlast.recovery")

T = TypeVar("T")


class ManagedClient(Generic[T]):
    """Holds the client ``factory`` builds; ``heal`` swaps it for a new one."""

    def __init__(
        self, factory: Callable[[], T], *, closer: Callable[[T], Any] | None = None
    ) -> None:
        self._factory = factory
        self._closer = closer
        self._client: T | None = None
        self._closing: set[asyncio.Task[None]] = set()
        self.generation = 0

    @property
    def client(self) -> T:
        """The current client, built on first use."""
        if self._client is None:
            self._client = self._factory()
            self.generation += 1
        return self._client

    async def heal(self) -> None:
        """Close the current client (errors are logged: it is broken anyway), build anew."""
        old, self._client = self._client, None
        if old is not None:
            await self._close(old)
        _ = self.client

    def invalidate(self) -> None:
        """Drop the current client at once (sync), so the next use builds a new one; the old
        one is closed on the running event loop, if any (else left to the collector)."""
        old, self._client = self._client, None
        if old is None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        closing = loop.create_task(self._close(old))
        self._closing.add(closing)
        closing.add_done_callback(self._closing.discard)

    async def close(self) -> None:
        """Close the current client; the next use builds a new one."""
        old, self._client = self._client, None
        if old is not None:
            await self._close(old)

    async def _close(self, client: T) -> None:
        try:
            outcome = self._closer(client) if self._closer else getattr(client, "close", None)
            if callable(outcome):
                outcome = outcome()
            if inspect.isawaitable(outcome):
                await outcome
        except Exception as error:
            log.info("closing a replaced client failed: %s: %s", type(error).__name__, error)
