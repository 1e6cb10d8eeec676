"""Alert notifications on the ``monitoring`` queue: one delivery task per channel message."""

from __future__ import annotations

__all__: list[str] = []
