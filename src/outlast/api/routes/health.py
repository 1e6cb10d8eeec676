"""``GET /family/health/error-handling``: the seed's health report, for any token."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from outlast.api._auth import ReadCaller, context_of
from outlast.api._health_report import health_report
from outlast.api._schemas import HealthReport

__all__ = ["router"]

router = APIRouter(tags=["health"])


@router.get(
    "/family/health/error-handling",
    summary="The cluster's error-handling health (the seed's report)",
    responses={
        200: {"model": HealthReport, "description": "healthy or degraded"},
        503: {
            "model": HealthReport,
            "description": "unhealthy: a required service is down, or a critical alert",
        },
    },
)
async def error_handling(request: Request, caller: ReadCaller) -> JSONResponse:
    """Status, breakers, bulkheads, recovery and error statistics, active alerts."""
    report, code = await health_report(context_of(request))
    return JSONResponse(report, status_code=code, headers={"Cache-Control": "no-store"})
