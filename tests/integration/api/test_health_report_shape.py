"""``GET /family/health/error-handling`` answers the seed's JSON exactly in shape.

The seed's example is copied below as written. Every key it has is there and no other;
each named breaker and bulkhead entry has the seed's entry keys; the values have the
seed's types (a bool stays a bool, a count a number). The status follows the cluster:
healthy, then degraded once a breaker is open.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from _api_support import READ_TOKEN, auth
from outlast.api._schemas import HealthReport
from outlast.resilience import get_bulkhead, get_circuit_breaker

SEED_REPORT = json.loads("""
{
  "status": "healthy",
  "timestamp": "2024-01-01T12:00:00Z",
  "error_handling": {
    "overall_healthy": true,
    "circuit_breakers": {
      "database": {"state": "closed", "failure_count": 0, "success_count": 150}
    },
    "bulkheads": {
      "database_connections": {"capacity": 20, "active_count": 5, "rejection_rate": 0.0}
    }
  },
  "recovery_system": {
    "statistics": {"total_recoveries": 25, "successful_recoveries": 20, "success_rate": 0.8}
  },
  "error_monitoring": {
    "statistics": {"total_errors": 100, "recent_errors_24h": 15, "error_rate_24h": 0.625},
    "active_alerts": []
  }
}
""")

NAMED_MAPS = ("circuit_breakers", "bulkheads")


def assert_same_shape(actual: Any, seed: Any, where: str = "$") -> None:
    """``actual`` has ``seed``'s keys (exactly) and value types, recursively."""
    if isinstance(seed, dict):
        assert isinstance(actual, dict), where
        if where.rsplit(".", 1)[-1] in NAMED_MAPS:
            example = next(iter(seed.values()))
            for name, entry in actual.items():
                assert_same_shape(entry, example, f"{where}.{name}")
            return
        assert set(actual) == set(seed), where
        for key, value in seed.items():
            assert_same_shape(actual[key], value, f"{where}.{key}")
    elif isinstance(seed, bool):
        assert isinstance(actual, bool), where
    elif isinstance(seed, int | float):
        assert isinstance(actual, int | float), where
        assert not isinstance(actual, bool), where
    else:
        assert type(actual) is type(seed), where


async def test_report_has_the_seeds_shape(client: httpx.AsyncClient) -> None:
    """With a breaker and a bulkhead in use, the report matches the seed key for key."""
    breaker = get_circuit_breaker("database", scope="local")
    breaker.call_sync(lambda: None)
    with get_bulkhead("database_connections", scope="local"):
        response = await client.get("/family/health/error-handling", headers=auth(READ_TOKEN))
    assert response.status_code == 200, response.text
    report = response.json()
    assert_same_shape(report, SEED_REPORT)
    assert report["status"] == "healthy"
    assert report["error_handling"]["circuit_breakers"]["database"] == {
        "state": "closed",
        "failure_count": 0,
        "success_count": 1,
    }
    assert report["error_handling"]["bulkheads"]["database_connections"]["active_count"] == 1
    assert report["timestamp"].endswith("Z")
    HealthReport.model_validate(report)  # the schema the OpenAPI page shows, extra keys refused


async def test_open_breaker_makes_the_report_degraded(client: httpx.AsyncClient) -> None:
    """An open breaker turns the status degraded (still 200) and overall_healthy false."""
    get_circuit_breaker("payment_service", scope="local").force_open()
    response = await client.get("/family/health/error-handling", headers=auth(READ_TOKEN))
    assert response.status_code == 200
    report = response.json()
    assert_same_shape(report, SEED_REPORT)
    assert report["status"] == "degraded"
    assert report["error_handling"]["overall_healthy"] is False
    assert report["error_handling"]["circuit_breakers"]["payment_service"]["state"] == "open"
