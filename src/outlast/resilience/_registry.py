"""Named instances, one per name per process: what ``get_circuit_breaker`` and
``get_bulkhead`` hand out, and what health endpoints enumerate."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["Registry"]

T = TypeVar("T")


class Registry(Generic[T]):
    """A thread-safe ``name -> instance`` map whose first creation wins."""

    def __init__(self) -> None:
        self._items: dict[str, T] = {}
        self._lock = threading.Lock()

    def get_or_create(self, name: str, factory: Callable[[], T]) -> T:
        """The instance called ``name``, made by ``factory`` the first time only."""
        item = self._items.get(name)
        if item is not None:
            return item
        with self._lock:
            item = self._items.get(name)
            if item is None:
                item = self._items[name] = factory()
            return item

    def get(self, name: str) -> T | None:
        """The instance called ``name``, or None."""
        return self._items.get(name)

    def all(self) -> dict[str, T]:
        """A snapshot of every instance by name."""
        return dict(self._items)

    def clear(self) -> None:
        """Forget every instance (tests use this between cases)."""
        with self._lock:
            self._items.clear()
