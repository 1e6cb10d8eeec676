"""Escalation on a fake clock: the seed's four levels at 0, 30, 60 and 120 minutes after the
first notification, each with its channels and severity filter; acknowledgement stops it."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from outlast.errors import ErrorSeverity
from outlast.monitoring._alert_lifecycle import GroupTimers, advance, group_due
from outlast.monitoring._escalation import (
    DEFAULT_POLICY,
    Channel,
    EscalationLevel,
    EscalationPolicy,
    PlannedNotification,
)
from outlast.store import Alert
from outlast.store._records import resolved_alert
from outlast.testing import FakeClock

NO_WAIT = GroupTimers(group_wait=0.0)


def raised(clock: FakeClock, severity: ErrorSeverity) -> Alert:
    """An alert of ``severity`` raised now."""
    now = clock.time()
    return Alert(
        id="error_rate_critical:abc", alert_type="error_rate_critical", severity=severity,
        title="payments failing", message="30% failed", created_at=now, updated_at=now,
        labels={"alertname": "error_rate_critical", "service": "payments"},
    )  # fmt: skip


def run(
    alert: Alert, clock: FakeClock, minutes: Sequence[float], timers: GroupTimers = NO_WAIT
) -> tuple[Alert, dict[float, list[PlannedNotification]]]:
    """Advance ``alert`` once at each of ``minutes`` (from now), its group flushed when due."""
    start = clock.time()
    seen: dict[float, list[PlannedNotification]] = {}
    for minute in minutes:
        clock.advance(start + minute * 60 - clock.time())
        flush = group_due([alert], clock.time(), timers)
        alert, planned = advance(
            alert, now=clock.time(), flush=flush, timers=timers, policy=DEFAULT_POLICY
        )
        if planned:
            seen[minute] = planned
    return alert, seen


def channels(planned: list[PlannedNotification]) -> list[tuple[int, str, str]]:
    """(level, channel, severity) of each planned notification."""
    return [(p.level, p.channel.value, p.severity) for p in planned]


def test_a_critical_alert_reaches_all_four_levels_on_time() -> None:
    """Unacknowledged, a critical alert reaches levels 1-4 at 0, 30, 60 and 120 minutes
    with the seed's channels, and nothing in between."""
    clock = FakeClock()
    minutes = [0, 1, 29, 30, 31, 59, 60, 90, 119, 120, 180]
    alert, seen = run(raised(clock, ErrorSeverity.CRITICAL), clock, minutes)
    assert sorted(seen) == [0, 30, 60, 120]
    assert channels(seen[0]) == [(1, "slack", "critical"), (1, "email", "critical")]
    assert channels(seen[30]) == [
        (2, "pagerduty", "critical"), (2, "slack", "critical"), (2, "email", "critical")
    ]  # fmt: skip
    assert channels(seen[60]) == [(3, "phone", "critical"), (3, "email", "critical")]
    assert channels(seen[120]) == [(4, "phone", "critical"), (4, "sms", "critical")]
    assert {p.kind for p in seen[0]} == {"firing"}
    assert {p.kind for p in seen[30] + seen[60] + seen[120]} == {"escalation"}
    assert alert.escalation_level == 4
    assert len(alert.notifications) == 9
    assert alert.notifications[0]["alert_id"] == alert.id


def test_severity_filters_stop_lesser_alerts_early() -> None:
    """A high (error) alert stops at level 2; a medium (warning) one at level 1; a low one
    notifies nobody."""
    clock = FakeClock()
    high, seen = run(raised(clock, ErrorSeverity.HIGH), clock, [0, 30, 60, 120])
    assert sorted(seen) == [0, 30]
    assert {p.severity for p in seen[30]} == {"error"}
    assert high.escalation_level == 2
    _, seen = run(raised(clock, ErrorSeverity.MEDIUM), clock, [0, 30, 60, 120])
    assert sorted(seen) == [0]
    assert channels(seen[0]) == [(1, "slack", "warning"), (1, "email", "warning")]
    low, seen = run(raised(clock, ErrorSeverity.LOW), clock, [0, 30, 60, 120])
    assert seen == {}
    assert low.escalation_level == 0


def test_acknowledgement_stops_escalation() -> None:
    """Acknowledged at minute 40, a critical alert never reaches levels 3 and 4."""
    clock = FakeClock()
    alert, seen = run(raised(clock, ErrorSeverity.CRITICAL), clock, [0, 30])
    assert alert.escalation_level == 2
    acked = Alert.from_document({**alert.to_document(), "acknowledged_at": clock.time() + 600})
    later, seen = run(acked, clock, [40, 60, 120, 300])
    assert seen == {}
    assert later.escalation_level == 2


def test_resolution_stops_escalation_and_is_announced_once() -> None:
    """Resolved at minute 45 after level 2, the alert escalates no more; its resolution goes
    once to every channel it reached."""
    clock = FakeClock()
    alert, _ = run(raised(clock, ErrorSeverity.CRITICAL), clock, [0, 30])
    clock.advance(15 * 60)
    done = resolved_alert(alert, at=clock.time())
    after, seen = run(done, clock, [0, 30, 120])
    assert list(seen) == [0]
    assert sorted(p.channel.value for p in seen[0]) == ["email", "pagerduty", "slack"]
    assert {p.kind for p in seen[0]} == {"resolved"}
    assert after.escalation_level == 2


def test_the_escalation_clock_starts_at_the_first_notification() -> None:
    """With the default 30 s group_wait, level 1 comes at 30 s and level 2 30 min later."""
    clock = FakeClock()
    alert = raised(clock, ErrorSeverity.CRITICAL)
    _, seen = run(alert, clock, [0, 0.5, 30, 30.5], timers=GroupTimers())
    assert sorted(seen) == [0.5, 30.5]
    assert [p.level for p in seen[30.5]] == [2, 2, 2]


def test_a_custom_policy_is_followed() -> None:
    """A two-level policy (email at once, sms after 10 minutes for high) is what runs."""
    policy = EscalationPolicy(
        (
            EscalationLevel(level=1, name="team", after=0, channels=(Channel.EMAIL,),
                            min_severity=ErrorSeverity.LOW),
            EscalationLevel(level=2, name="lead", after=600, channels=(Channel.SMS,),
                            min_severity=ErrorSeverity.HIGH),
        )
    )  # fmt: skip
    clock = FakeClock()
    alert = raised(clock, ErrorSeverity.HIGH)
    planned = []
    for minute in (0, 10):
        clock.advance(minute * 60 - (clock.time() - alert.created_at))
        alert, step = advance(alert, now=clock.time(), flush=True, timers=NO_WAIT, policy=policy)
        planned += step
    assert [(p.level, p.channel) for p in planned] == [(1, Channel.EMAIL), (2, Channel.SMS)]


def test_bad_policies_are_refused() -> None:
    """Levels out of order or with shrinking delays are refused, naming the problem."""
    one = DEFAULT_POLICY.levels[0]
    two = DEFAULT_POLICY.levels[1]
    with pytest.raises(ValueError, match="numbered"):
        EscalationPolicy((two, one))
    late = EscalationLevel(
        level=2, name="late", after=7200, channels=(Channel.SMS,), min_severity=ErrorSeverity.HIGH
    )
    early = EscalationLevel(
        level=3, name="early", after=60, channels=(Channel.SMS,), min_severity=ErrorSeverity.HIGH
    )
    with pytest.raises(ValueError, match="must not decrease"):
        EscalationPolicy((one, late, early))
