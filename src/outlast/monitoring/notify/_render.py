"""What every channel says about an alert: :class:`AlertMessage`, built from the planned
notification and the alert as stored when it is sent.

The message is the alert's title, message, severity (PagerDuty's names: info, warning,
error, critical), service and labels, the escalation level, and what happened: ``firing``
(a first notification, an escalation or a repeat), ``acknowledged`` or ``resolved``. An
alert the store no longer holds is described from the notification alone, so a delivery
never fails for want of it. Pure: no I/O, no clock.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field, replace
from typing import Any, Final

from outlast.monitoring._escalation import PlannedNotification
from outlast.store import Alert

__all__ = ["AlertMessage", "iso_time", "message_for"]

_STATE: Final = {"resolved": "resolved", "acknowledged": "acknowledged"}


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertMessage:
    """One alert as the channels render it (see the module doc)."""

    alert_id: str
    alert_type: str
    title: str
    text: str
    severity: str
    state: str
    kind: str
    level: int
    source: str
    labels: dict[str, str] = field(default_factory=dict)
    occurrences: int = 1
    started_at: float | None = None
    resolved_at: float | None = None
    link: str | None = None

    @property
    def headline(self) -> str:
        """``[CRITICAL] title (firing, level 2)``: the one line every channel starts with."""
        return f"[{self.severity.upper()}] {self.title} ({self.state}, level {self.level})"

    def details(self) -> dict[str, Any]:
        """The facts a reader needs beyond the headline, as a JSON object."""
        return {
            "alert_id": self.alert_id, "alert_type": self.alert_type, "service": self.source,
            "labels": self.labels, "occurrences": self.occurrences, "kind": self.kind,
            "level": self.level, "message": self.text,
        }  # fmt: skip


def message_for(
    notification: PlannedNotification, alert: Alert | None, *, link: str | None = None
) -> AlertMessage:
    """The message for ``notification`` about ``alert`` (None: no longer stored)."""
    title = f"alert {notification.alert_id}"
    bare = AlertMessage(
        alert_id=notification.alert_id, alert_type=notification.alert_id.split(":")[0],
        title=title, text=title, severity=notification.severity,
        state=_STATE.get(notification.kind, "firing"), kind=notification.kind,
        level=notification.level, source="outlast", link=link,
    )  # fmt: skip
    if alert is None:
        return bare
    labels = {str(k): str(v) for k, v in dict(alert.labels).items()}
    return replace(
        bare, alert_type=alert.alert_type, title=alert.title, text=alert.message or alert.title,
        source=alert.source or labels.get("service") or "outlast", labels=labels,
        occurrences=alert.occurrences, started_at=alert.created_at, resolved_at=alert.resolved_at,
    )  # fmt: skip


def iso_time(moment: float) -> str:
    """``moment`` (epoch seconds) as RFC 3339 in UTC, as Alertmanager and PagerDuty read it."""
    text = _dt.datetime.fromtimestamp(moment, _dt.UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")
