"""The records of monitoring and recovery: error events, recovery attempts, alerts and
snapshots, with the rules for raising and resolving an alert (shared by every backend).

Records check themselves as described in ``_records``.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from outlast.errors import ErrorSeverity
from outlast.store._document import Record, check_enum, new_id
from outlast.store._errors import InvalidRecordError
from outlast.store._fields import (
    check_count,
    check_flag,
    check_json,
    check_json_object,
    check_optional_text,
    check_optional_timestamp,
    check_order,
    check_record_id,
    check_text,
    check_timestamp,
    set_fields,
    storable_text,
)

__all__ = [
    "Alert",
    "AlertStatus",
    "ErrorEvent",
    "RecoveryAttempt",
    "Snapshot",
    "changed_alert",
    "merge_alert",
    "resolved_alert",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class ErrorEvent(Record):
    """One recorded error, for monitoring: what failed, how badly, and where.

    ``fingerprint`` groups events of the same error (monitoring computes it); ``context``
    is a JSON object such as ``ErrorContext.as_dict()``.
    """

    json_fields = ("context",)

    error_type: str
    message: str
    severity: ErrorSeverity
    occurred_at: float
    operation: str
    fingerprint: str | None = None
    task_name: str | None = None
    context: Any = field(default_factory=dict)
    recovery_attempted: bool = False
    recovery_successful: bool | None = None
    id: str = field(default_factory=new_id)

    def __post_init__(self) -> None:
        name = "ErrorEvent"
        check_record_id(self)
        check_text(name, "error_type", self.error_type)
        check_text(name, "operation", self.operation)
        check_optional_text(name, "fingerprint", self.fingerprint)
        check_optional_text(name, "task_name", self.task_name)
        check_flag(name, "recovery_attempted", self.recovery_attempted)
        if self.recovery_successful is not None:
            check_flag(name, "recovery_successful", self.recovery_successful)
        set_fields(
            self,
            message=storable_text(name, "message", self.message),
            severity=check_enum(name, "severity", ErrorSeverity, self.severity),
            occurred_at=check_timestamp(name, "occurred_at", self.occurred_at),
            context=check_json_object(name, "context", self.context),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class RecoveryAttempt(Record):
    """One attempt of the recovery system to heal ``service`` with ``strategy``."""

    json_fields = ("details",)

    service: str
    strategy: str
    started_at: float
    finished_at: float
    successful: bool
    attempts: int = 1
    error_type: str | None = None
    error_message: str | None = None
    details: Any = field(default_factory=dict)
    id: str = field(default_factory=new_id)

    def __post_init__(self) -> None:
        name = "RecoveryAttempt"
        check_record_id(self)
        check_text(name, "service", self.service)
        check_text(name, "strategy", self.strategy)
        check_flag(name, "successful", self.successful)
        check_count(name, "attempts", self.attempts, minimum=1)
        check_optional_text(name, "error_type", self.error_type)
        if self.error_message is not None:
            set_fields(self, error_message=storable_text(name, "error_message", self.error_message))
        set_fields(
            self,
            started_at=check_timestamp(name, "started_at", self.started_at),
            finished_at=check_timestamp(name, "finished_at", self.finished_at),
            details=check_json_object(name, "details", self.details),
        )
        check_order(name, "started_at", self.started_at, "finished_at", self.finished_at)


class AlertStatus(enum.Enum):
    """Whether an alert still needs attention."""

    ACTIVE = "active"
    RESOLVED = "resolved"


@dataclass(frozen=True, slots=True, kw_only=True)
class Alert(Record):
    """An alert raised by monitoring; ``id`` is its deduplication key.

    Raising an alert whose ``id`` is already active merges into it (see
    :func:`merge_alert`); a resolved alert is resolved by ``Store.resolve_alert``.
    ``labels`` identify the alert (monitoring derives ``id`` from them);
    ``acknowledged_at``/``acknowledged_by`` record who took it; ``notified_at`` is its first
    notification (the escalation clock starts there) and ``last_notified_at`` its latest;
    ``notifications`` lists the notifications planned for it (JSON objects, oldest first).
    """

    json_fields = ("details", "labels", "notifications")

    alert_type: str
    severity: ErrorSeverity
    title: str
    message: str
    created_at: float
    updated_at: float
    source: str | None = None
    status: AlertStatus = AlertStatus.ACTIVE
    resolved_at: float | None = None
    occurrences: int = 1
    escalation_level: int = 0
    details: Any = field(default_factory=dict)
    labels: Any = field(default_factory=dict)
    acknowledged_at: float | None = None
    acknowledged_by: str | None = None
    notified_at: float | None = None
    last_notified_at: float | None = None
    notifications: Any = field(default_factory=list)
    id: str = field(default_factory=new_id)

    def __post_init__(self) -> None:
        name = "Alert"
        check_record_id(self)
        check_text(name, "alert_type", self.alert_type)
        check_text(name, "title", self.title)
        check_optional_text(name, "source", self.source)
        check_count(name, "occurrences", self.occurrences, minimum=1)
        check_count(name, "escalation_level", self.escalation_level)
        set_fields(
            self,
            message=storable_text(name, "message", self.message),
            severity=check_enum(name, "severity", ErrorSeverity, self.severity),
            status=check_enum(name, "status", AlertStatus, self.status),
            created_at=check_timestamp(name, "created_at", self.created_at),
            updated_at=check_timestamp(name, "updated_at", self.updated_at),
            resolved_at=check_optional_timestamp(name, "resolved_at", self.resolved_at),
            details=check_json_object(name, "details", self.details),
        )
        self._check_lifecycle(name)
        check_order(name, "created_at", self.created_at, "updated_at", self.updated_at)
        self._check_resolution()

    def _check_lifecycle(self, name: str) -> None:
        labels = check_json_object(name, "labels", self.labels)
        for key, value in labels.items():
            if not isinstance(value, str):
                raise InvalidRecordError(name, f"labels[{key!r}]", "must be a string")
        notifications = check_json(name, "notifications", self.notifications)
        if not isinstance(notifications, list) or not all(
            isinstance(item, dict) for item in notifications
        ):
            raise InvalidRecordError(name, "notifications", "must be a list of JSON objects")
        check_optional_text(name, "acknowledged_by", self.acknowledged_by)
        set_fields(
            self,
            labels=labels,
            notifications=notifications,
            acknowledged_at=check_optional_timestamp(name, "acknowledged_at", self.acknowledged_at),
            notified_at=check_optional_timestamp(name, "notified_at", self.notified_at),
            last_notified_at=check_optional_timestamp(
                name, "last_notified_at", self.last_notified_at
            ),
        )

    def _check_resolution(self) -> None:
        resolved = self.status is AlertStatus.RESOLVED
        if resolved != (self.resolved_at is not None):
            raise InvalidRecordError(
                "Alert", "resolved_at", "must be set exactly when status is 'resolved'"
            )
        if self.resolved_at is not None:
            check_order("Alert", "created_at", self.created_at, "resolved_at", self.resolved_at)


def merge_alert(existing: Alert | None, incoming: Alert) -> Alert:
    """The alert stored after raising ``incoming`` over ``existing`` (same id).

    Over an active alert: the new severity, title, message and details win; ``created_at``
    stays the first raise; occurrences add up; the escalation level never goes down (a
    re-raise must not undo an escalation); labels are the incoming ones when it has any;
    acknowledgement, notification times and planned notifications stay as stored. Over
    nothing or a resolved alert: ``incoming`` starts afresh.
    """
    if incoming.status is not AlertStatus.ACTIVE:
        raise InvalidRecordError("Alert", "status", "only an active alert can be raised")
    if existing is None or existing.status is not AlertStatus.ACTIVE:
        return incoming
    return replace(
        incoming,
        created_at=existing.created_at,
        updated_at=max(existing.updated_at, incoming.updated_at),
        occurrences=existing.occurrences + incoming.occurrences,
        escalation_level=max(existing.escalation_level, incoming.escalation_level),
        labels=incoming.labels or existing.labels,
        acknowledged_at=existing.acknowledged_at,
        acknowledged_by=existing.acknowledged_by,
        notified_at=existing.notified_at,
        last_notified_at=existing.last_notified_at,
        notifications=existing.notifications,
    )


def changed_alert(alert: Alert, change: Callable[[Alert], Alert]) -> Alert:
    """``change(alert)``, refused if it changes the id or brings a resolved alert back."""
    changed = change(alert)
    if not isinstance(changed, Alert) or changed.id != alert.id:
        raise InvalidRecordError("Alert", "id", "an alert update must keep the alert's id")
    if alert.status is AlertStatus.RESOLVED and changed.status is AlertStatus.ACTIVE:
        raise InvalidRecordError("Alert", "status", "an update cannot reactivate an alert")
    return changed


def resolved_alert(alert: Alert, *, at: float) -> Alert:
    """``alert`` resolved at ``at`` (an already-resolved alert is returned unchanged)."""
    if alert.status is AlertStatus.RESOLVED:
        return alert
    when = max(at, alert.updated_at)
    return replace(alert, status=AlertStatus.RESOLVED, resolved_at=when, updated_at=when)


@dataclass(frozen=True, slots=True, kw_only=True)
class Snapshot(Record):
    """A point-in-time copy of some statistics (``kind`` names which), such as monitoring
    stats or the health report, kept for trends and for readers that cannot compute it."""

    json_fields = ("data",)

    kind: str
    taken_at: float
    data: Any = field(default_factory=dict)
    id: str = field(default_factory=new_id)

    def __post_init__(self) -> None:
        name = "Snapshot"
        check_record_id(self)
        check_text(name, "kind", self.kind)
        set_fields(
            self,
            taken_at=check_timestamp(name, "taken_at", self.taken_at),
            data=check_json_object(name, "data", self.data),
        )
