"""The alerting entry points: ``evaluate_alerts(now)`` and ``escalate(now)`` (what beat
jobs call), and acknowledging, resolving and silencing alerts.

``evaluate_alerts`` runs the rules on the shared numbers, raises every firing alert in the
store (deduplicated by its label identity) and resolves the rule-made alerts that stopped
firing; while Redis does not answer it changes nothing. ``escalate`` flushes the alert
groups that are due, takes every notified, unacknowledged, unmuted alert to the escalation
levels now due, and stores the planned notifications on each alert, returning them for a
notifier to deliver. Both are plain async functions over the store: every change is one
``Store.update_alert``, so two processes running them at once plan nothing twice.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from outlast.config import get_settings
from outlast.monitoring._alert_config import AlertRules
from outlast.monitoring._alert_inputs import gather_inputs
from outlast.monitoring._alert_lifecycle import (
    DEFAULT_INHIBIT_RULES,
    GroupTimers,
    InhibitRule,
    advance,
    alert_of,
    group_due,
    groups_of,
    label_view,
    muted_ids,
    pending_resolution,
    stale,
)
from outlast.monitoring._alert_rules import evaluate_rules
from outlast.monitoring._breaker_states import cluster_open_breakers
from outlast.monitoring._escalation import DEFAULT_POLICY, EscalationPolicy, PlannedNotification
from outlast.monitoring._silences import SILENCE_KIND, Matcher, Silence, silenced
from outlast.store import Alert, AlertStatus, Store

if TYPE_CHECKING:
    from outlast.monitoring._monitor import ErrorMonitor

__all__ = [
    "AlertingConfig",
    "acknowledge_alert",
    "active_silences",
    "add_silence",
    "config_from_settings",
    "escalate",
    "evaluate_alerts",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertingConfig:
    """Rules, grouping timers, inhibition and escalation policy, with their defaults
    (``evaluate_alerts`` and ``escalate`` use :func:`config_from_settings` unless given one).

    ``max_alerts`` bounds how many active (and recently resolved) alerts one pass reads;
    ``max_events`` how many store events of the rules' window it looks at.
    """

    rules: AlertRules = field(default_factory=AlertRules)
    timers: GroupTimers = field(default_factory=GroupTimers)
    inhibit_rules: tuple[InhibitRule, ...] = DEFAULT_INHIBIT_RULES
    policy: EscalationPolicy = DEFAULT_POLICY
    max_alerts: int = 1000
    max_events: int = 5000

    def __post_init__(self) -> None:
        if self.max_alerts < 1 or self.max_events < 1:
            raise ValueError("AlertingConfig.max_alerts and max_events must be positive")


def config_from_settings() -> AlertingConfig:
    """The default config with the ``alert_*`` settings applied (see ``Settings``)."""
    settings = get_settings()
    rules = AlertRules(
        min_calls=settings.alert_min_calls,
        error_rate_high=settings.alert_error_rate_high,
        error_rate_high_resolve=settings.alert_error_rate_high_resolve,
        error_rate_critical=settings.alert_error_rate_critical,
        error_rate_critical_resolve=settings.alert_error_rate_critical_resolve,
    )
    timers = GroupTimers(
        group_wait=settings.alert_group_wait,
        group_interval=settings.alert_group_interval,
        repeat_interval=settings.alert_repeat_interval,
    )
    return AlertingConfig(rules=rules, timers=timers)


def _monitor(monitor: ErrorMonitor | None) -> ErrorMonitor:
    if monitor is not None:
        return monitor
    from outlast.monitoring import error_monitor

    return error_monitor


async def evaluate_alerts(
    now: float | None = None,
    *,
    monitor: ErrorMonitor | None = None,
    config: AlertingConfig | None = None,
    breakers: Mapping[str, str] | None = None,
) -> list[Alert] | None:
    """Raise what fires and resolve what stopped at ``now``; the alerts raised, or None
    when Redis did not answer (nothing changed). ``breakers`` (open breaker -> service)
    defaults to the open breakers of the whole cluster (``_breaker_states``)."""
    monitor = _monitor(monitor)
    config = config or config_from_settings()
    now = monitor.clock.time() if now is None else now
    reader = monitor.counter_reader()
    if breakers is None:
        breakers = await asyncio.to_thread(cluster_open_breakers, reader.counters.link)
        if breakers is None:
            return None  # Redis did not answer
    store = monitor.open_alert_store()
    try:
        inputs = await gather_inputs(
            reader, store, now, config.rules, breakers=breakers, max_events=config.max_events
        )
        if inputs is None:
            return None
        active = await store.list_alerts(limit=config.max_alerts)
        firing = evaluate_rules(inputs, active={a.id for a in active}, rules=config.rules)
        raised = await asyncio.gather(*(store.upsert_alert(alert_of(c, now)) for c in firing))
        await asyncio.gather(*(store.resolve_alert(a.id, at=now) for a in stale(active, firing)))
        return list(raised)
    finally:
        await store.close()


async def escalate(
    now: float | None = None,
    *,
    monitor: ErrorMonitor | None = None,
    config: AlertingConfig | None = None,
) -> list[PlannedNotification]:
    """Flush due groups and escalate at ``now``; the notifications planned (also stored on
    their alerts)."""
    monitor = _monitor(monitor)
    config = config or config_from_settings()
    now = monitor.clock.time() if now is None else now
    store = monitor.open_alert_store()
    try:
        active = await store.list_alerts(limit=config.max_alerts)
        resolved = await store.list_alerts(status=AlertStatus.RESOLVED, limit=config.max_alerts)
        silences = await active_silences(store, now)
        mute = {a.id: silenced(label_view(a), silences, now) for a in active}
        muted = muted_ids(active, mute, config.inhibit_rules)
        members = [a for a in active if a.id not in muted]
        members += [r for r in resolved if pending_resolution(r)]
        steps = []
        for group in groups_of(members, config.timers.group_by).values():
            flush = group_due(group, now, config.timers)
            steps += [_advance(store, a, now, flush, config) for a in group]
        return [p for found in await asyncio.gather(*steps) for p in found]
    finally:
        await store.close()


async def _advance(
    store: Store, alert: Alert, now: float, flush: bool, config: AlertingConfig
) -> list[PlannedNotification]:
    timers, policy = config.timers, config.policy
    if advance(alert, now=now, flush=flush, timers=timers, policy=policy)[0] == alert:
        return []  # nothing due as read; a change since then is the changer's to act on
    planned: list[PlannedNotification] = []

    def change(stored: Alert) -> Alert:
        nonlocal planned  # the run the store commits is the last one
        stored, planned = advance(stored, now=now, flush=flush, timers=timers, policy=policy)
        return stored

    await store.update_alert(alert.id, change)
    return planned


async def acknowledge_alert(
    store: Store,
    alert_id: str,
    *,
    now: float,
    by: str | None = None,
    policy: EscalationPolicy = DEFAULT_POLICY,
) -> Alert | None:
    """Acknowledge an active alert (stops its escalation and repeats); None if unknown.
    Acknowledging again keeps the first acknowledgement.

    An alert that reached a PagerDuty level gets its ``acknowledged`` notification planned
    on it (once), for beat's escalation job to send: PagerDuty's incident is acknowledged
    too. Planning is a second update, so acknowledging again plans what a failure missed.
    """
    from outlast.monitoring.notify import plan_acknowledgement  # its channels load on use

    def change(alert: Alert) -> Alert:
        if alert.acknowledged_at is not None or alert.status is not AlertStatus.ACTIVE:
            return alert
        return replace(alert, acknowledged_at=max(now, alert.created_at), acknowledged_by=by)

    acknowledged = await store.update_alert(alert_id, change)
    if acknowledged is None or acknowledged.acknowledged_at is None:
        return acknowledged
    if await plan_acknowledgement(store, alert_id, now=now, policy=policy):
        return await store.get_alert(alert_id)
    return acknowledged


async def add_silence(
    store: Store,
    matchers: Iterable[Matcher | str],
    *,
    until: float,
    now: float,
    starts_at: float | None = None,
    created_by: str = "",
    comment: str = "",
) -> Silence:
    """Store a silence of the alerts matching every matcher, from ``starts_at`` (default
    ``now``) until ``until``."""
    parsed = tuple(m if isinstance(m, Matcher) else Matcher.parse(m) for m in matchers)
    start = now if starts_at is None else starts_at
    if until <= now:
        raise ValueError(f"a silence must end in the future, got until={until} at now={now}")
    silence = Silence(
        id=uuid.uuid4().hex, matchers=parsed, starts_at=start, ends_at=until,
        created_by=created_by, comment=comment,
    )  # fmt: skip
    await store.put_snapshot(silence.to_snapshot())
    return silence


async def active_silences(store: Store, now: float, *, limit: int = 1000) -> list[Silence]:
    """The silences that mute at ``now``."""
    snapshots = await store.list_snapshots(kind=SILENCE_KIND, limit=limit)
    silences = [Silence.from_snapshot(s) for s in snapshots]
    return [s for s in silences if s.active(now)]
