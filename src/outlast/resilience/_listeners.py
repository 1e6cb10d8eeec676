"""A set of callbacks for the hot path: read without a lock, changed by swapping a tuple.

The event bus, the success counts and the success durations each keep one. Calls read
``all`` (a tuple, never changed in place), so adding or removing a listener while another
thread delivers is safe and delivery pays for no lock.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["Listeners"]

L = TypeVar("L")


class Listeners(Generic[L]):
    """The listeners of one kind of news, in the order they were added (one instance per
    kind, made at import: each registers a fork hook)."""

    __slots__ = ("_lock", "all")

    def __init__(self) -> None:
        self.all: tuple[L, ...] = ()
        self._lock = threading.Lock()
        # A forked child gets a new lock: the copy may have been held by a thread that
        # does not exist there.
        os.register_at_fork(after_in_child=self._new_lock)

    def _new_lock(self) -> None:
        self._lock = threading.Lock()

    def add(self, listener: L) -> Callable[[], None]:
        """Add ``listener``; returns the function that removes it."""
        with self._lock:
            self.all = (*self.all, listener)
        return lambda: self.remove(listener)

    def remove(self, listener: L) -> None:
        """Remove ``listener``; unknown listeners are ignored."""
        with self._lock:
            self.all = tuple(x for x in self.all if x is not listener)
