"""Recovery tasks on the ``recovery`` queue: heal, restart and the health sweep."""

from __future__ import annotations

__all__: list[str] = []
