"""Record builders for the store contract suite: valid defaults, any field overridable."""

from __future__ import annotations

from typing import Any

from outlast.errors import ErrorSeverity
from outlast.store import (
    Alert,
    DeadLetter,
    ErrorEvent,
    RecoveryAttempt,
    ScheduledRetry,
    Snapshot,
)

#: A payload no backend may alter: keys MongoDB dislikes, a 64-bit-overflowing integer,
#: empty containers (Lua's cjson turns [] into {}), unicode, a lone surrogate, floats.
TRICKY_PAYLOAD: dict[str, Any] = {
    "$where": "1 == 1",
    "a.b": {"c.d": [1, 2.5, -0.125]},
    "huge": 2**80,
    "empty_list": [],
    "empty_dict": {},
    "nested": [[], {}, [None, True, False]],
    "unicode": "Grüße, 日本, emoji 🎉",
    "surrogate": "\udc80 half a pair",
    "zero": 0,
    "text": "",
}


def dead_letter(**overrides: Any) -> DeadLetter:
    """A dead letter of ``outlast.payments.charge``; ``overrides`` replace fields."""
    values: dict[str, Any] = {
        "task_name": "outlast.payments.charge",
        "error_type": "ConnectionError",
        "error_message": "gateway refused the connection",
        "failed_at": 1_000.0,
        "args": ["order-1", 12.5],
        "kwargs": {"currency": "EUR"},
        "attempts": 5,
    }
    return DeadLetter(**(values | overrides))


def scheduled_retry(**overrides: Any) -> ScheduledRetry:
    """A retry of ``outlast.emails.send``; ``overrides`` replace fields."""
    values: dict[str, Any] = {
        "task_name": "outlast.emails.send",
        "due_at": 1_000.0,
        "scheduled_at": 900.0,
        "args": ["user@example.com"],
        "attempts": 3,
    }
    return ScheduledRetry(**(values | overrides))


def error_event(**overrides: Any) -> ErrorEvent:
    """A HIGH-severity error event of operation ``charge``; ``overrides`` replace fields."""
    values: dict[str, Any] = {
        "error_type": "TimeoutError",
        "message": "payment gateway timed out",
        "severity": ErrorSeverity.HIGH,
        "occurred_at": 1_000.0,
        "operation": "charge",
        "fingerprint": "fp-timeout",
    }
    return ErrorEvent(**(values | overrides))


def recovery_attempt(**overrides: Any) -> RecoveryAttempt:
    """A successful recovery of ``database``; ``overrides`` replace fields."""
    values: dict[str, Any] = {
        "service": "database",
        "strategy": "exponential_backoff",
        "started_at": 1_000.0,
        "finished_at": 1_002.0,
        "successful": True,
    }
    return RecoveryAttempt(**(values | overrides))


def alert(**overrides: Any) -> Alert:
    """An active ``error_rate_high`` alert with id ``error_rate_high:payments``."""
    values: dict[str, Any] = {
        "id": "error_rate_high:payments",
        "alert_type": "error_rate_high",
        "severity": ErrorSeverity.MEDIUM,
        "title": "Error rate high",
        "message": "12% of payment calls failed",
        "created_at": 1_000.0,
        "updated_at": 1_000.0,
        "source": "payments",
    }
    return Alert(**(values | overrides))


def snapshot(**overrides: Any) -> Snapshot:
    """A ``monitoring_stats`` snapshot; ``overrides`` replace fields."""
    values: dict[str, Any] = {
        "kind": "monitoring_stats",
        "taken_at": 1_000.0,
        "data": {"total_errors": 3},
    }
    return Snapshot(**(values | overrides))
