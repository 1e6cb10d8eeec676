"""A short-lived memory of slow reads, so a burst of health requests reads Redis once.

The parts of the health report that change slowly (every process's published snapshots,
at most one publishing interval old anyway, and the error statistics, computed over
windows of minutes) are kept for ``ttl`` seconds, as the health-check draft suggests
(a health endpoint should not be a way to load its dependencies). Only answers are kept:
a failed read is asked again next time. Required-service checks and alerts are never kept.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from outlast.api._timeouts import Outcome

__all__ = ["Fresh"]

T = TypeVar("T")


class Fresh:
    """Outcomes by name, each reused for ``ttl`` seconds after a successful read."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._kept: dict[str, tuple[float, Outcome[Any]]] = {}
        self._lock = threading.Lock()

    async def get(self, name: str, read: Callable[[], Awaitable[Outcome[T]]]) -> Outcome[T]:
        """The kept outcome of ``name`` if fresh, else ``await read()`` (kept if it is ok)."""
        now = time.monotonic()
        with self._lock:
            kept = self._kept.get(name)
        if kept is not None and now - kept[0] < self.ttl:
            outcome: Outcome[T] = kept[1]
            return outcome
        outcome = await read()
        if outcome.ok and self.ttl > 0:
            with self._lock:
                self._kept[name] = (time.monotonic(), outcome)
        return outcome

    def forget(self) -> None:
        """Drop everything kept (after an admin action changed what it describes)."""
        with self._lock:
            self._kept.clear()
