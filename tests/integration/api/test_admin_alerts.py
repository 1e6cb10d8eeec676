"""Alerts through the API: listed and filtered by any token; acknowledged (by the admin
token's name), silenced and resolved by an admin, each action in the audit; an active
alert makes the health report degraded, a critical one unhealthy (503)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import httpx
import pytest

from _api_support import ADMIN_TOKEN, READ_TOKEN, auth
from outlast.api._schemas import HealthReport
from outlast.config import Settings
from outlast.errors import ErrorSeverity
from outlast.store import Alert, Store, open_store

HEALTH = "/family/health/error-handling"


@pytest.fixture
async def store(core_settings: Settings) -> AsyncIterator[Store]:
    """The store the API reads."""
    opened = open_store(core_settings)
    yield opened
    await opened.close()


async def raise_alert(store: Store, severity: ErrorSeverity, alert_type: str) -> Alert:
    """Store an active alert of ``severity`` with labels naming ``alert_type``."""
    now = time.time()
    alert = Alert(
        alert_type=alert_type, severity=severity, title=f"{alert_type} on payments",
        message="too many errors", created_at=now, updated_at=now,
        labels={"alertname": alert_type, "service": "payments"},
    )  # fmt: skip
    return await store.upsert_alert(alert)


async def test_list_filters_by_severity_and_type(client: httpx.AsyncClient, store: Store) -> None:
    """Filters narrow the page; the total counts what matched."""
    await raise_alert(store, ErrorSeverity.HIGH, "error_rate_high")
    await raise_alert(store, ErrorSeverity.MEDIUM, "repeated_errors")
    page = (await client.get("/admin/alerts", headers=auth(READ_TOKEN))).json()
    assert page["total"] == 2
    params = {"severity": "high"}
    page = (await client.get("/admin/alerts", params=params, headers=auth(READ_TOKEN))).json()
    assert [a["alert_type"] for a in page["items"]] == ["error_rate_high"]
    params = {"alert_type": "repeated_errors", "limit": "1"}
    page = (await client.get("/admin/alerts", params=params, headers=auth(READ_TOKEN))).json()
    assert (page["total"], page["limit"], len(page["items"])) == (1, 1, 1)


async def test_acknowledge_silence_resolve_are_recorded(
    client: httpx.AsyncClient, store: Store
) -> None:
    """Each admin action changes the alert and is audited under the token's name."""
    alert = await raise_alert(store, ErrorSeverity.HIGH, "error_rate_high")
    base = f"/admin/alerts/{alert.id}"
    acked = await client.post(f"{base}/acknowledge", headers=auth(ADMIN_TOKEN))
    assert acked.json()["acknowledged_by"] == "ops"
    silenced = await client.post(
        f"{base}/silence", json={"duration": 600, "comment": "deploying"}, headers=auth(ADMIN_TOKEN)
    )
    assert silenced.status_code == 200, silenced.text
    assert sorted(silenced.json()["matchers"]) == ["alertname=error_rate_high", "service=payments"]
    resolved = await client.post(f"{base}/resolve", headers=auth(ADMIN_TOKEN))
    assert resolved.json()["status"] == "resolved"
    audit = (await client.get("/admin/audit", headers=auth(READ_TOKEN))).json()["items"]
    assert [(a["by"], a["action"]) for a in audit] == [
        ("ops", "alert.resolve"),
        ("ops", "alert.silence"),
        ("ops", "alert.acknowledge"),
    ]


async def test_alerts_set_the_health_status(client: httpx.AsyncClient, store: Store) -> None:
    """An active alert: degraded (200); a critical one: unhealthy (503), listed in the report."""
    await raise_alert(store, ErrorSeverity.HIGH, "error_rate_high")
    response = await client.get(HEALTH, headers=auth(READ_TOKEN))
    assert (response.status_code, response.json()["status"]) == (200, "degraded")
    critical = await raise_alert(store, ErrorSeverity.CRITICAL, "error_rate_critical")
    response = await client.get(HEALTH, headers=auth(READ_TOKEN))
    assert (response.status_code, response.json()["status"]) == (503, "unhealthy")
    HealthReport.model_validate(response.json())  # alerts listed in the documented shape
    listed = response.json()["error_monitoring"]["active_alerts"]
    assert critical.id in {a["id"] for a in listed}
