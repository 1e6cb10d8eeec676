"""``PrivateLoop``: one event loop in a daemon thread, where sync callers run coroutines.

The sync twin of the recovery manager runs its async core here. One long-lived loop (not
``asyncio.run`` per call) matters: the store and Redis clients keep a connection per event
loop, and a loop per call would leave one behind every time. A forked child starts its own
loop on first use. This module never runs the caller's code outside the coroutine it is
given.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["PrivateLoop"]

T = TypeVar("T")


class PrivateLoop:
    """Runs coroutines to completion on a loop of its own, from any thread."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pid = 0
        self._lock = threading.Lock()

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run ``coroutine`` on the private loop and return its result (or raise its error)."""
        return asyncio.run_coroutine_threadsafe(coroutine, self._running()).result()

    def _running(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._pid != os.getpid():
                self._loop = asyncio.new_event_loop()
                self._pid = os.getpid()
                thread = threading.Thread(
                    target=self._loop.run_forever, name=self._name, daemon=True
                )
                thread.start()
            return self._loop
