"""Query parameters every list endpoint shares, and the page it answers."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query

__all__ = ["Limit", "Offset", "page"]

Limit = Annotated[int, Query(ge=1, le=1000, description="at most this many items")]
Offset = Annotated[int, Query(ge=0, description="skip this many items first")]


def page(items: list[Any], *, limit: int, offset: int, total: int | None = None) -> dict[str, Any]:
    """``{"items", "limit", "offset", "total"}`` (total when the store can count)."""
    return {"items": items, "limit": limit, "offset": offset, "total": total}
