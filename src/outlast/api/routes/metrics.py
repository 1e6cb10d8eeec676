"""``GET /metrics``: the Prometheus exposition of Outlast's metrics (read tokens).

What ``outlast.monitoring.metrics.exposition`` collects: every worker process's metrics when
the API shares the workers' ``OUTLAST_METRICS_DIR`` (same host), else this process's; plus
``outlast_active_alerts`` read from the store. Prometheus sends the token with
``authorization: {credentials: ...}`` in its scrape config. The collection is bounded by
the API's timeout; past it the answer is 503.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, Response, status

from outlast.api._auth import ReadCaller, context_of
from outlast.api._timeouts import bounded_call

__all__ = ["router"]

router = APIRouter(tags=["metrics"])


@router.get(
    "/metrics",
    summary="Prometheus metrics of every worker process (text exposition)",
    response_class=Response,
    responses={503: {"description": "the collection did not finish in time"}},
)
async def metrics(request: Request, caller: ReadCaller) -> Response:
    """The text exposition format, as Prometheus scrapes it."""
    from outlast.monitoring.metrics import exposition

    context = context_of(request)
    # The store read for active alerts gets the same deadline as every other read.
    outcome = await bounded_call(exposition, context.timeout * 2)
    if not outcome.ok or outcome.value is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, f"metrics: {outcome.error}")
    body, content_type = outcome.value
    return Response(body, media_type=content_type, headers={"Cache-Control": "no-store"})
