"""``GET /metrics`` serves the Prometheus exposition, parsed by Prometheus's own parser,
with Outlast's families and the active alerts read from the store."""

from __future__ import annotations

import time

import httpx
from prometheus_client.parser import text_string_to_metric_families

from _api_support import READ_TOKEN, auth
from outlast.config import Settings
from outlast.errors import ErrorSeverity
from outlast.store import Alert, open_store


async def test_metrics_parse_and_count_active_alerts(
    client: httpx.AsyncClient, core_settings: Settings
) -> None:
    """The exposition parses; outlast_active_alerts counts the one critical alert."""
    store = open_store(core_settings)
    now = time.time()
    await store.upsert_alert(Alert(
        alert_type="error_rate_critical", severity=ErrorSeverity.CRITICAL, title="payments",
        message="down", created_at=now, updated_at=now, labels={"service": "payments"},
    ))  # fmt: skip
    await store.close()
    response = await client.get("/metrics", headers=auth(READ_TOKEN))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(response.text)}
    assert "outlast_circuit_breaker_state" in families
    alerts = families["outlast_active_alerts"]
    assert sum(s.value for s in alerts.samples if s.labels.get("severity") == "critical") == 1
