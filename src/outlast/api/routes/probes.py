"""Kubernetes probes: ``/health/live`` (this process answers; touches nothing) and
``/health/ready`` (broker, Redis and store answer, as ``application/health+json``).

Neither needs a token (a kubelet has none) and neither says more than pass or fail per
component. Liveness checks no dependency, so a dead Redis never restarts every API
process at once; readiness fails (503) while a required service does not answer, each
check bounded by ``api_check_timeout``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from outlast.api._auth import context_of
from outlast.api._checks import check_broker, check_redis, check_store

__all__ = ["HEALTH_JSON", "router"]

HEALTH_JSON = "application/health+json"

router = APIRouter(tags=["probes"])

_NO_CACHE = {"Cache-Control": "no-store"}


@router.get("/health/live", summary="Liveness: the process answers (checks no dependency)")
async def live() -> JSONResponse:
    """Always ``pass`` while the event loop runs."""
    return JSONResponse({"status": "pass"}, media_type=HEALTH_JSON, headers=_NO_CACHE)


@router.get(
    "/health/ready",
    summary="Readiness: broker, Redis and store answer (application/health+json)",
    responses={503: {"description": "a required service does not answer"}},
)
async def ready(request: Request) -> JSONResponse:
    """``pass`` (200) when every component answers in time, else ``fail`` (503)."""
    context = context_of(request)
    checks = await asyncio.gather(check_broker(context), check_redis(context), check_store(context))
    passed = all(check.ok for check in checks)
    body: dict[str, Any] = {
        "status": "pass" if passed else "fail",
        "checks": {f"{c.component}:responseTime": [c.entry()] for c in checks},
    }
    return JSONResponse(
        body, status_code=200 if passed else 503, media_type=HEALTH_JSON, headers=_NO_CACHE
    )
