"""The seed's health report (``GET /family/health/error-handling``) for the whole cluster.

Every part is read at once, each within the API's deadline: Redis and the store (the
required services), the published breaker and bulkhead snapshots, the shared recovery and
error statistics, the active alerts. The status is ``unhealthy`` when a required service
does not answer or an active alert is critical (answered with 503), ``degraded`` when a
breaker is open or half-open or an alert is active, else ``healthy``. The keys are the
seed's, exactly; numbers a part could not read are zeros and the status says why.
"""

from __future__ import annotations

import asyncio
from typing import Any

from outlast.api._checks import Check, check_redis, check_store, iso_now
from outlast.api._context import ApiContext
from outlast.api._timeouts import Outcome, bounded, bounded_call, unavailable_is_error
from outlast.errors import ErrorSeverity
from outlast.resilience.shared._registry_merge import merge_breakers, merge_bulkheads
from outlast.resilience.shared._registry_snapshot import read_snapshots, registry_snapshot
from outlast.store import Alert

__all__ = ["HEALTHY", "UNHEALTHY", "alert_view", "cluster_snapshots", "health_report"]

HEALTHY, DEGRADED, UNHEALTHY = "healthy", "degraded", "unhealthy"


async def cluster_snapshots(context: ApiContext) -> Outcome[list[dict[str, Any]]]:
    """Every process's published registries, plus this process's own."""

    def read() -> list[dict[str, Any]]:
        published = unavailable_is_error(read_snapshots(context.link), "redis")
        own = registry_snapshot()
        own["breakers"] = {**own["breakers"], **context.breaker_stats()}
        return [*published, {"process": "api", **own}]

    return await bounded_call(read, context.timeout)


async def _active_alerts(context: ApiContext) -> list[Alert]:
    store = context.open_store()
    try:
        return await store.list_alerts(limit=context.api.api_alert_limit)
    finally:
        await store.close()


def alert_view(alert: Alert) -> dict[str, Any]:
    """An alert as the API shows it."""
    return {
        "id": alert.id,
        "alert_type": alert.alert_type,
        "severity": alert.severity.value,
        "title": alert.title,
        "message": alert.message,
        "status": alert.status.value,
        "created_at": alert.created_at,
        "updated_at": alert.updated_at,
        "occurrences": alert.occurrences,
        "escalation_level": alert.escalation_level,
        "acknowledged_at": alert.acknowledged_at,
        "acknowledged_by": alert.acknowledged_by,
        "labels": alert.labels,
    }


async def health_report(context: ApiContext) -> tuple[dict[str, Any], int]:
    """The report and its HTTP status (200, or 503 when unhealthy)."""
    timeout = context.timeout
    redis, store, snapshots, recovery, errors, alerts = await asyncio.gather(
        check_redis(context),
        check_store(context),
        context.fresh.get("snapshots", lambda: cluster_snapshots(context)),
        bounded(context.statistics().snapshot(), timeout),
        context.fresh.get(
            "errors", lambda: bounded(context.monitor.aget_monitoring_stats(), timeout)
        ),
        bounded(_active_alerts(context), timeout),
    )
    breakers = merge_breakers(snapshots.value or [])
    bulkheads = merge_bulkheads(snapshots.value or [])
    active = alerts.value or []
    status = _status([redis, store], breakers, active)
    report = {
        "status": status,
        "timestamp": iso_now(),
        "error_handling": {
            "overall_healthy": status == HEALTHY,
            "circuit_breakers": breakers,
            "bulkheads": bulkheads,
        },
        "recovery_system": {"statistics": _recovery_view(recovery.value or {})},
        "error_monitoring": {
            "statistics": _errors_view(errors.value or {}),
            "active_alerts": [alert_view(a) for a in active],
        },
    }
    return report, 503 if status == UNHEALTHY else 200


def _status(required: list[Check], breakers: dict[str, Any], alerts: list[Alert]) -> str:
    if not all(check.ok for check in required):
        return UNHEALTHY
    if any(alert.severity is ErrorSeverity.CRITICAL for alert in alerts):
        return UNHEALTHY
    if alerts or any(b["state"] != "closed" for b in breakers.values()):
        return DEGRADED
    return HEALTHY


def _recovery_view(stats: dict[str, Any]) -> dict[str, Any]:
    return {
        "total_recoveries": int(stats.get("total_recoveries", 0)),
        "successful_recoveries": int(stats.get("successful_recoveries", 0)),
        "success_rate": float(stats.get("success_rate", 0.0)),
    }


def _errors_view(stats: dict[str, Any]) -> dict[str, Any]:
    return {
        "total_errors": int(stats.get("total_errors", 0)),
        "recent_errors_24h": int(stats.get("recent_errors_24h", 0)),
        "error_rate_24h": float(stats.get("error_rate_24h", 0.0)),
    }
