"""The health report's shape as pydantic models, for the OpenAPI page (and a test).

They describe exactly what :mod:`outlast.api._health_report` answers: the seed's keys and
nothing else (``extra="forbid"``). The report is built as plain dicts and never passes
through these models on the request path.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["AlertView", "HealthReport"]


class _Exact(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BreakerView(_Exact):
    """One breaker over the cluster: its worst state, longest failure run, successes."""

    state: Literal["closed", "open", "half_open"]
    failure_count: int = Field(description="consecutive failures (the highest of any process)")
    success_count: int


class BulkheadView(_Exact):
    """One bulkhead over the cluster."""

    capacity: int
    active_count: int
    rejection_rate: float = Field(description="rejected / attempted, over every process")


class ErrorHandling(_Exact):
    """Breakers and bulkheads by name."""

    overall_healthy: bool
    circuit_breakers: dict[str, BreakerView]
    bulkheads: dict[str, BulkheadView]


class RecoveryStatistics(_Exact):
    """Recoveries of every process sharing the Redis."""

    total_recoveries: int
    successful_recoveries: int
    success_rate: float


class RecoverySystem(_Exact):
    """The recovery section."""

    statistics: RecoveryStatistics


class ErrorStatistics(_Exact):
    """Errors recorded by every process."""

    total_errors: int
    recent_errors_24h: int
    error_rate_24h: float = Field(description="errors per hour over the last 24 hours")


class AlertView(_Exact):
    """An alert as the API shows it."""

    id: str
    alert_type: str
    severity: str
    title: str
    message: str
    status: str
    created_at: float
    updated_at: float
    occurrences: int
    escalation_level: int
    acknowledged_at: float | None
    acknowledged_by: str | None
    labels: dict[str, object]


class ErrorMonitoring(_Exact):
    """The monitoring section."""

    statistics: ErrorStatistics
    active_alerts: list[AlertView]


class HealthReport(_Exact):
    """``GET /family/health/error-handling``: the seed's report, for the whole cluster."""

    status: Literal["healthy", "degraded", "unhealthy"]
    timestamp: str = Field(description="UTC, e.g. 2024-01-01T12:00:00Z")
    error_handling: ErrorHandling
    recovery_system: RecoverySystem
    error_monitoring: ErrorMonitoring
