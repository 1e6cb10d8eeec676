"""Escalation: who hears of an alert, and when, as PagerDuty escalation policies do.

An :class:`EscalationPolicy` is a list of levels, each reached ``after`` seconds from the
alert's first notification, with its channels and the least severity it takes. The default
is the seed's four levels:

==========  ===========  ==========  =========================  ======================
level       who          after       channels                   severity
==========  ===========  ==========  =========================  ======================
1           development  at once     slack, email               warning and above
2           operations   30 min      pagerduty, slack, email    error and above
3           management   60 min      phone, email               critical
4           executive    120 min     phone, sms                 critical
==========  ===========  ==========  =========================  ======================

Alert severities map to notification severities as PagerDuty names them: low is ``info``,
medium ``warning``, high ``error``, critical ``critical``. An acknowledged or resolved
alert, or one never notified, escalates no further. :func:`escalation_step` only plans:
its :class:`PlannedNotification` s are stored on the alert for a notifier to deliver.
Pure: no I/O, the caller passes ``now``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from typing import Any, Final

from outlast.errors import ErrorSeverity
from outlast.store import Alert, AlertStatus

__all__ = [
    "DEFAULT_POLICY",
    "NOTIFY_SEVERITY",
    "Channel",
    "EscalationLevel",
    "EscalationPolicy",
    "PlannedNotification",
    "escalation_step",
    "notifications_for",
]

_RANK: Final = {s: i for i, s in enumerate(ErrorSeverity)}

NOTIFY_SEVERITY: Final = {
    ErrorSeverity.LOW: "info",
    ErrorSeverity.MEDIUM: "warning",
    ErrorSeverity.HIGH: "error",
    ErrorSeverity.CRITICAL: "critical",
}


class Channel(enum.Enum):
    """Where a notification goes. ``ALERTMANAGER`` posts the alert to an Alertmanager, for
    teams that route alerts there; no default level lists it: add it to a policy level."""

    SLACK = "slack"
    EMAIL = "email"
    PAGERDUTY = "pagerduty"
    PHONE = "phone"
    SMS = "sms"
    ALERTMANAGER = "alertmanager"


@dataclass(frozen=True, slots=True, kw_only=True)
class EscalationLevel:
    """One step of a policy."""

    level: int
    name: str
    after: float
    channels: tuple[Channel, ...]
    min_severity: ErrorSeverity

    def __post_init__(self) -> None:
        if self.level < 1 or self.after < 0 or not self.channels:
            raise ValueError(
                f"escalation level {self.level!r} needs level >= 1, after >= 0 and a channel"
            )

    def takes(self, severity: ErrorSeverity) -> bool:
        """Whether an alert of ``severity`` reaches this level."""
        return _RANK[severity] >= _RANK[self.min_severity]


@dataclass(frozen=True, slots=True)
class EscalationPolicy:
    """Levels numbered 1, 2, ... in order, each reached no earlier than the one before."""

    levels: tuple[EscalationLevel, ...]

    def __post_init__(self) -> None:
        numbers = [lv.level for lv in self.levels]
        if numbers != list(range(1, len(numbers) + 1)):
            raise ValueError(f"escalation levels must be numbered 1, 2, ... got {numbers}")
        delays = [lv.after for lv in self.levels]
        if delays != sorted(delays):
            raise ValueError(f"escalation delays must not decrease, got {delays}")

    def level(self, number: int) -> EscalationLevel:
        """Level ``number`` (1-based)."""
        return self.levels[number - 1]


DEFAULT_POLICY: Final = EscalationPolicy(
    (
        EscalationLevel(level=1, name="development", after=0.0,
                        channels=(Channel.SLACK, Channel.EMAIL),
                        min_severity=ErrorSeverity.MEDIUM),
        EscalationLevel(level=2, name="operations", after=30 * 60.0,
                        channels=(Channel.PAGERDUTY, Channel.SLACK, Channel.EMAIL),
                        min_severity=ErrorSeverity.HIGH),
        EscalationLevel(level=3, name="management", after=60 * 60.0,
                        channels=(Channel.PHONE, Channel.EMAIL),
                        min_severity=ErrorSeverity.CRITICAL),
        EscalationLevel(level=4, name="executive", after=120 * 60.0,
                        channels=(Channel.PHONE, Channel.SMS),
                        min_severity=ErrorSeverity.CRITICAL),
    )
)  # fmt: skip


@dataclass(frozen=True, slots=True, kw_only=True)
class PlannedNotification:
    """One message a notifier should send: ``kind`` is firing, escalation, repeat or
    resolved."""

    alert_id: str
    level: int
    channel: Channel
    severity: str
    kind: str
    planned_at: float

    def as_dict(self) -> dict[str, Any]:
        """The JSON object stored in ``Alert.notifications``."""
        return {
            "alert_id": self.alert_id, "level": self.level, "channel": self.channel.value,
            "severity": self.severity, "kind": self.kind, "planned_at": self.planned_at,
        }  # fmt: skip

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PlannedNotification:
        """The notification an :meth:`as_dict` object describes."""
        return cls(alert_id=data["alert_id"], level=int(data["level"]),
                   channel=Channel(data["channel"]), severity=str(data["severity"]),
                   kind=str(data["kind"]), planned_at=float(data["planned_at"]))  # fmt: skip


def notifications_for(
    alert: Alert, level: EscalationLevel, *, kind: str, now: float
) -> list[PlannedNotification]:
    """One notification per channel of ``level`` for ``alert``."""
    severity = NOTIFY_SEVERITY[alert.severity]
    return [
        PlannedNotification(
            alert_id=alert.id,
            level=level.level,
            channel=channel,
            severity=severity,
            kind=kind,
            planned_at=now,
        )
        for channel in level.channels
    ]


def escalation_step(
    alert: Alert, policy: EscalationPolicy, now: float, *, kind: str = "escalation"
) -> tuple[Alert, list[PlannedNotification]]:
    """``alert`` raised to every level now due, and the notifications that plans."""
    if (
        alert.status is not AlertStatus.ACTIVE
        or alert.acknowledged_at is not None
        or alert.notified_at is None
    ):
        return alert, []
    elapsed = now - alert.notified_at
    planned: list[PlannedNotification] = []
    reached = alert.escalation_level
    for level in policy.levels[alert.escalation_level :]:
        if level.after > elapsed:
            break
        if level.takes(alert.severity):
            planned += notifications_for(alert, level, kind=kind, now=now)
            reached = level.level
    if not planned:
        return alert, []
    stored = [*alert.notifications, *(p.as_dict() for p in planned)]
    return replace(alert, escalation_level=reached, notifications=stored), planned
