"""Error monitoring: error events recorded without blocking, grouped by fingerprint,
counted in shared sliding windows, with statistics, patterns and anomaly detection.

``record_error_event`` (async) and ``record_error_event_sync`` queue an event on the
process's ``error_monitor``; ``@handle_errors`` failures and successes, breaker and
bulkhead rejections and breaker transitions reach it through the core's listeners. Every
process reads the same numbers from Redis. This package never makes the core import it.
"""

from __future__ import annotations

import atexit
import importlib
from typing import TYPE_CHECKING, Any

from outlast.errors import ErrorSeverity
from outlast.monitoring._anomaly import AnomalyConfig, AnomalyState, Verdict, assess, scan
from outlast.monitoring._category import ErrorCategory, categorize
from outlast.monitoring._event import ErrorEventData
from outlast.monitoring._fingerprint import GROUPING_VERSION
from outlast.monitoring._monitor import ErrorMonitor
from outlast.monitoring._normalize import parameterize
from outlast.monitoring._redact import redact

if TYPE_CHECKING:
    from outlast.monitoring._alert_config import AlertRules
    from outlast.monitoring._alert_lifecycle import GroupTimers, InhibitRule
    from outlast.monitoring._alert_rules import ALERT_TYPES
    from outlast.monitoring._alerting import AlertingConfig, escalate, evaluate_alerts
    from outlast.monitoring._escalation import (
        DEFAULT_POLICY,
        Channel,
        EscalationLevel,
        EscalationPolicy,
        PlannedNotification,
    )
    from outlast.monitoring._silences import Matcher, Silence

__all__ = [
    "ALERT_TYPES",
    "DEFAULT_POLICY",
    "GROUPING_VERSION",
    "AlertRules",
    "AlertingConfig",
    "AnomalyConfig",
    "AnomalyState",
    "Channel",
    "ErrorCategory",
    "ErrorEventData",
    "ErrorMonitor",
    "EscalationLevel",
    "EscalationPolicy",
    "GroupTimers",
    "InhibitRule",
    "Matcher",
    "PlannedNotification",
    "Silence",
    "Verdict",
    "assess",
    "categorize",
    "error_monitor",
    "escalate",
    "evaluate_alerts",
    "parameterize",
    "record_error_event",
    "record_error_event_sync",
    "redact",
    "scan",
]

# The alerting names open the store's drivers: they load on first use.
_ALERTING_API = {
    "ALERT_TYPES": "_alert_rules",
    "AlertRules": "_alert_config",
    "AlertingConfig": "_alerting",
    "Channel": "_escalation",
    "DEFAULT_POLICY": "_escalation",
    "EscalationLevel": "_escalation",
    "EscalationPolicy": "_escalation",
    "GroupTimers": "_alert_lifecycle",
    "InhibitRule": "_alert_lifecycle",
    "Matcher": "_silences",
    "PlannedNotification": "_escalation",
    "Silence": "_silences",
    "escalate": "_alerting",
    "evaluate_alerts": "_alerting",
}


def __getattr__(name: str) -> Any:
    module = _ALERTING_API.get(name)
    if module is None:
        raise AttributeError(f"module 'outlast.monitoring' has no attribute {name!r}")
    return getattr(importlib.import_module(f"outlast.monitoring.{module}"), name)


error_monitor = ErrorMonitor()
"""The process's monitor: it hears the core's events from import on."""
error_monitor.listen()

_EXIT_FLUSH_TIMEOUT = 2.0
atexit.register(error_monitor.close, _EXIT_FLUSH_TIMEOUT)


async def record_error_event(
    error: BaseException,
    context: Any = None,
    severity: ErrorSeverity | str | None = None,
    *,
    recovery_attempted: bool = False,
    recovery_successful: bool | None = None,
) -> None:
    """Queue an error event on ``error_monitor`` (never blocks on I/O, never raises)."""
    error_monitor.record(
        error,
        context,
        severity,
        recovery_attempted=recovery_attempted,
        recovery_successful=recovery_successful,
    )


def record_error_event_sync(
    error: BaseException,
    context: Any = None,
    severity: ErrorSeverity | str | None = None,
    *,
    recovery_attempted: bool = False,
    recovery_successful: bool | None = None,
) -> None:
    """:func:`record_error_event` for sync callers."""
    error_monitor.record(
        error,
        context,
        severity,
        recovery_attempted=recovery_attempted,
        recovery_successful=recovery_successful,
    )
