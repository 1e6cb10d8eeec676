"""Bounded label values: the first names a process sees keep them, later ones are 'other'.

An error's type is the one label whose values come from the errors themselves, not from
code or configuration, so it is capped: a process names at most ``limit`` distinct types
and counts the rest as :data:`OTHER`. Each worker child applies its own cap, so a host
exposes at most ``limit`` per process (in practice the same few types everywhere).
"""

from __future__ import annotations

import threading
from typing import Final

__all__ = ["OTHER", "BoundedNames"]

OTHER: Final = "other"


class BoundedNames:
    """At most ``limit`` distinct names; any name after those is :data:`OTHER`."""

    __slots__ = ("_known", "_limit", "_lock")

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        self._limit = limit
        self._known: frozenset[str] = frozenset()
        self._lock = threading.Lock()

    def name(self, value: str) -> str:
        """``value`` if it is (or may become) one of the named ones, else :data:`OTHER`."""
        if value in self._known:
            return value
        with self._lock:
            if value in self._known or len(self._known) < self._limit:
                self._known = self._known | {value}
                return value
        return OTHER

    @property
    def named(self) -> frozenset[str]:
        """The names kept so far."""
        return self._known
