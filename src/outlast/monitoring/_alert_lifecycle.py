"""An alert's life after its rule fired, as Alertmanager leads it: raised and deduplicated
by identity, grouped, inhibited, notified after ``group_wait``, updated no more often than
``group_interval``, repeated every ``repeat_interval``, and resolved when its rule stops.

- Alerts group by ``GroupTimers.group_by`` labels (default ``alertname`` and ``service``).
  A group is first notified ``group_wait`` after its first alert was raised (an alert
  resolved before that is never notified); later it is flushed when ``group_interval`` has
  passed since its last notification: new alerts are notified, resolved ones announced, and
  an unacknowledged alert notified ``repeat_interval`` ago is notified again.
- An :class:`InhibitRule` mutes a target alert while a source alert is active with equal
  ``equal`` labels (by default, a critical alert mutes the high one of the same service;
  ``security_concern`` is never muted). Muted or silenced alerts are neither notified nor
  escalated.

Pure: the functions here decide on records and ``now``; ``_alerting`` does the I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Final

from outlast.monitoring._alert_rules import ALERT_TYPES, AlertCandidate
from outlast.monitoring._escalation import (
    EscalationPolicy,
    PlannedNotification,
    escalation_step,
    notifications_for,
)
from outlast.monitoring._silences import Matcher, matches_all
from outlast.store import Alert, AlertStatus

__all__ = [
    "DEFAULT_INHIBIT_RULES",
    "GroupTimers",
    "InhibitRule",
    "advance",
    "alert_of",
    "group_due",
    "groups_of",
    "inhibited",
    "label_view",
    "muted_ids",
    "pending_resolution",
    "stale",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupTimers:
    """Alertmanager's grouping timers, in seconds, with its defaults."""

    group_wait: float = 30.0
    group_interval: float = 300.0
    repeat_interval: float = 4 * 3600.0
    group_by: tuple[str, ...] = ("alertname", "service")

    def __post_init__(self) -> None:
        if self.group_wait < 0 or self.group_interval <= 0 or self.repeat_interval <= 0:
            raise ValueError(
                "GroupTimers needs group_wait >= 0 and positive group_interval and "
                f"repeat_interval, got {self.group_wait}, {self.group_interval}, "
                f"{self.repeat_interval}"
            )


@dataclass(frozen=True, slots=True)
class InhibitRule:
    """While an alert matching ``source`` is active, alerts matching ``target`` with the
    same values of the ``equal`` labels are muted (an alert never mutes itself)."""

    source: tuple[Matcher, ...]
    target: tuple[Matcher, ...]
    equal: tuple[str, ...] = ()


DEFAULT_INHIBIT_RULES: Final = (
    InhibitRule(
        source=(Matcher("severity", "critical"),),
        target=(Matcher("severity", "high"), Matcher("alertname", "security_concern", "!=")),
        equal=("service",),
    ),
)


def label_view(alert: Alert) -> dict[str, str]:
    """The labels matchers see: the alert's labels plus ``alertname`` and ``severity``."""
    return {"alertname": alert.alert_type, **alert.labels, "severity": alert.severity.value}


def alert_of(candidate: AlertCandidate, now: float) -> Alert:
    """The alert record a firing candidate raises at ``now``."""
    return Alert(
        id=candidate.id,
        alert_type=candidate.labels["alertname"],
        severity=candidate.severity,
        title=candidate.title,
        message=candidate.message,
        created_at=now,
        updated_at=now,
        source=candidate.labels.get("service"),
        labels=dict(candidate.labels),
        details=candidate.details,
    )


def stale(active: Iterable[Alert], firing: Iterable[AlertCandidate]) -> list[Alert]:
    """The active rule-made alerts no rule fires any more (to be resolved)."""
    still = {c.id for c in firing}
    return [a for a in active if a.alert_type in ALERT_TYPES and a.labels and a.id not in still]


def inhibited(alert: Alert, active: Sequence[Alert], rules: Sequence[InhibitRule]) -> bool:
    """Whether an active alert in ``active`` mutes ``alert`` under ``rules``."""
    target = label_view(alert)
    for rule in rules:
        if not matches_all(rule.target, target):
            continue
        for other in active:
            source = label_view(other)
            if other.id == alert.id or not matches_all(rule.source, source):
                continue
            if all(source.get(n, "") == target.get(n, "") for n in rule.equal):
                return True
    return False


def groups_of(alerts: Iterable[Alert], group_by: Sequence[str]) -> dict[str, list[Alert]]:
    """``alerts`` by group key (the values of the ``group_by`` labels)."""
    groups: dict[str, list[Alert]] = {}
    for alert in alerts:
        view = label_view(alert)
        key = "|".join(f"{name}={view.get(name, '')}" for name in group_by)
        groups.setdefault(key, []).append(alert)
    return groups


def group_due(members: Sequence[Alert], now: float, timers: GroupTimers) -> bool:
    """Whether a group is to be flushed at ``now`` (see the module doc)."""
    notified = [m.last_notified_at for m in members if m.last_notified_at is not None]
    if not notified:
        return now >= min(m.created_at for m in members) + timers.group_wait
    return now >= max(notified) + timers.group_interval


def advance(
    alert: Alert, *, now: float, flush: bool, timers: GroupTimers, policy: EscalationPolicy
) -> tuple[Alert, list[PlannedNotification]]:
    """``alert`` after a flush of its group (if ``flush``) and an escalation step, with the
    notifications planned (also appended to ``alert.notifications``)."""
    planned: list[PlannedNotification] = []
    if flush:
        alert, planned = _flush(alert, now, timers, policy)
    alert, escalated = escalation_step(alert, policy, now)
    return alert, planned + escalated


def _flush(
    alert: Alert, now: float, timers: GroupTimers, policy: EscalationPolicy
) -> tuple[Alert, list[PlannedNotification]]:
    if alert.status is AlertStatus.RESOLVED:
        return _announce_resolution(alert, now, policy)
    if alert.notified_at is None:
        first = replace(alert, notified_at=now, last_notified_at=now)
        return escalation_step(first, policy, now, kind="firing")
    last = alert.last_notified_at or alert.notified_at
    if alert.acknowledged_at is not None or now - last < timers.repeat_interval:
        return alert, []
    if alert.escalation_level == 0:
        return replace(alert, last_notified_at=now), []
    level = policy.level(min(alert.escalation_level, len(policy.levels)))
    return _noted(alert, notifications_for(alert, level, kind="repeat", now=now), now)


def _announce_resolution(
    alert: Alert, now: float, policy: EscalationPolicy
) -> tuple[Alert, list[PlannedNotification]]:
    assert alert.resolved_at is not None
    if alert.notified_at is None or (alert.last_notified_at or 0.0) >= alert.resolved_at:
        return alert, []
    planned: dict[str, PlannedNotification] = {}
    for level in policy.levels[: alert.escalation_level]:
        if level.takes(alert.severity):
            for item in notifications_for(alert, level, kind="resolved", now=now):
                planned.setdefault(item.channel.value, item)
    return _noted(alert, list(planned.values()), now)


def _noted(
    alert: Alert, planned: list[PlannedNotification], now: float
) -> tuple[Alert, list[PlannedNotification]]:
    stored = [*alert.notifications, *(p.as_dict() for p in planned)]
    return replace(alert, last_notified_at=now, notifications=stored), planned


def pending_resolution(alert: Alert) -> bool:
    """Whether a resolved alert was notified but not yet told resolved."""
    return (
        alert.resolved_at is not None
        and alert.notified_at is not None
        and (alert.last_notified_at or 0.0) < alert.resolved_at
    )


def muted_ids(
    active: Sequence[Alert], silences_mute: Mapping[str, bool], rules: Sequence[InhibitRule]
) -> set[str]:
    """Ids of the active alerts that are silenced (per ``silences_mute``) or inhibited."""
    return {a.id for a in active if silences_mute.get(a.id) or inhibited(a, active, rules)}
