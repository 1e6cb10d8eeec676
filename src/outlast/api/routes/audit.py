"""``GET /admin/audit``: the recorded admin actions, newest first (read tokens)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from outlast.api._audit import list_actions
from outlast.api._auth import ReadCaller, context_of
from outlast.api.routes._paging import Limit, Offset, page

__all__ = ["router"]

router = APIRouter(prefix="/admin/audit", tags=["audit"])


@router.get("", summary="Admin actions: who did what, when")
async def audit(
    request: Request, caller: ReadCaller, limit: Limit = 50, offset: Offset = 0
) -> dict[str, Any]:
    """A page of recorded actions (``by`` is the token's configured name)."""
    items = await list_actions(context_of(request), limit=limit, offset=offset)
    return page(items, limit=limit, offset=offset)
