"""Alerts: list (read tokens); acknowledge, silence, resolve (admin tokens, audited).

Acknowledging stops an alert's escalation and records the token's name as who took it;
silencing mutes every alert with the same labels for ``duration`` seconds; resolving ends it.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, status
from pydantic import BaseModel, Field

from outlast.api._audit import record_action
from outlast.api._auth import AdminCaller, ReadCaller, context_of
from outlast.api._health_report import alert_view
from outlast.api.routes._paging import Limit, Offset, page
from outlast.monitoring import Matcher
from outlast.store import Alert, AlertStatus

__all__ = ["router"]

router = APIRouter(prefix="/admin/alerts", tags=["alerts"])

_FETCH_LIMIT = 10_000  # filters apply after the store's own paging


class SilenceRequest(BaseModel):
    """How long to mute the alert's labels, and why."""

    duration: float = Field(default=3600.0, gt=0, le=30 * 86400, description="seconds")
    comment: str = Field(default="", max_length=500)


@router.get("", summary="List alerts, newest first")
async def list_alerts(
    request: Request, caller: ReadCaller,
    alert_status: Annotated[AlertStatus, Query(alias="status")] = AlertStatus.ACTIVE,
    severity: Annotated[str | None, Query(description="only this severity")] = None,
    alert_type: Annotated[str | None, Query(description="only this alert type")] = None,
    limit: Limit = 50, offset: Offset = 0,
) -> dict[str, Any]:  # fmt: skip
    """Active (default) or resolved alerts, filtered by severity and type."""
    store = context_of(request).open_store()
    try:
        alerts = await store.list_alerts(status=alert_status, limit=_FETCH_LIMIT)
    finally:
        await store.close()
    chosen = [
        a for a in alerts
        if (severity is None or a.severity.value == severity)
        and (alert_type is None or a.alert_type == alert_type)
    ]  # fmt: skip
    items = [alert_view(a) for a in chosen[offset : offset + limit]]
    return page(items, limit=limit, offset=offset, total=len(chosen))


def _found(alert: Alert | None, alert_id: str) -> Alert:
    if alert is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no alert {alert_id!r}")
    return alert


@router.post("/{alert_id}/acknowledge", summary="Acknowledge an alert (admin)")
async def acknowledge(request: Request, caller: AdminCaller, alert_id: str) -> dict[str, Any]:
    """Stop the alert's escalation; the token's name is recorded as who took it."""
    context = context_of(request)
    alert = _found(await context.monitor.aacknowledge(alert_id, by=caller.name), alert_id)
    await record_action(context, caller, "alert.acknowledge", alert_id)
    return alert_view(alert)


@router.post("/{alert_id}/resolve", summary="Resolve an alert (admin)")
async def resolve(request: Request, caller: AdminCaller, alert_id: str) -> dict[str, Any]:
    """End the alert now."""
    context = context_of(request)
    alert = _found(await context.monitor.aresolve(alert_id), alert_id)
    await record_action(context, caller, "alert.resolve", alert_id)
    return alert_view(alert)


@router.post("/{alert_id}/silence", summary="Silence an alert's labels for a while (admin)")
async def silence(
    request: Request, caller: AdminCaller, alert_id: str, body: SilenceRequest | None = None
) -> dict[str, Any]:
    """Mute every alert with this alert's labels for ``duration`` seconds."""
    context, wanted = context_of(request), body or SilenceRequest()
    store = context.open_store()
    try:
        alert = _found(await store.get_alert(alert_id), alert_id)
    finally:
        await store.close()
    labels = alert.labels if isinstance(alert.labels, dict) and alert.labels else {}
    pairs = sorted((str(k), str(v)) for k, v in labels.items()) or [("alertname", alert.alert_type)]
    matchers = [Matcher(name, value) for name, value in pairs]
    until = time.time() + wanted.duration
    made = await context.monitor.asilence(
        matchers, until, created_by=caller.name, comment=wanted.comment
    )
    result = {"silence_id": made.id, "matchers": [str(m) for m in matchers], "until": until}
    await record_action(context, caller, "alert.silence", alert_id, result)
    return result
