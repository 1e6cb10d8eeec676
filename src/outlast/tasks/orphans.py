"""The orphan check on the ``recovery`` queue: work a dead worker held goes back to its
queue, once."""

from __future__ import annotations

__all__: list[str] = []
