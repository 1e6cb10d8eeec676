"""The alert lifecycle on a fake clock: grouping timers, inhibition, silences, repeats and
resolution before group_wait, as Alertmanager does them."""

from __future__ import annotations

from dataclasses import replace

import pytest

from outlast.errors import ErrorSeverity
from outlast.monitoring._alert_lifecycle import (
    DEFAULT_INHIBIT_RULES,
    GroupTimers,
    advance,
    alert_of,
    group_due,
    groups_of,
    inhibited,
    label_view,
    stale,
)
from outlast.monitoring._alert_rules import AlertCandidate
from outlast.monitoring._escalation import DEFAULT_POLICY
from outlast.monitoring._silences import Matcher, Silence, silenced
from outlast.store import Alert
from outlast.store._records import resolved_alert
from outlast.testing import FakeClock

TIMERS = GroupTimers()


def make(name: str, service: str, severity: ErrorSeverity, now: float, **labels: str) -> Alert:
    """The alert a rule named ``name`` raises for ``service`` at ``now``."""
    candidate = AlertCandidate(
        {"alertname": name, "service": service, **labels}, severity, name, "msg", {}
    )
    return alert_of(candidate, now)


def step(alert: Alert, now: float, flush: bool) -> tuple[Alert, list[str]]:
    """``alert`` advanced at ``now``, with the kinds of what it planned."""
    alert, planned = advance(alert, now=now, flush=flush, timers=TIMERS, policy=DEFAULT_POLICY)
    return alert, [p.kind for p in planned]


def test_defaults_are_alertmanagers() -> None:
    """group_wait 30 s, group_interval 5 min, repeat_interval 4 h."""
    assert (TIMERS.group_wait, TIMERS.group_interval, TIMERS.repeat_interval) == (
        30.0, 300.0, 14_400.0,
    )  # fmt: skip


def test_a_new_group_waits_group_wait() -> None:
    """A group is not flushed before 30 s after its first alert, and is at 30 s."""
    clock = FakeClock()
    alert = make("error_rate_high", "payments", ErrorSeverity.HIGH, clock.time())
    assert not group_due([alert], clock.time() + 29.9, TIMERS)
    assert group_due([alert], clock.time() + 30, TIMERS)


def test_a_notified_group_waits_group_interval() -> None:
    """After a notification the group flushes again only 5 minutes later."""
    clock = FakeClock()
    first = make("repeated_errors", "payments", ErrorSeverity.MEDIUM, clock.time(), fingerprint="a")
    clock.advance(30)
    first, kinds = step(first, clock.time(), flush=group_due([first], clock.time(), TIMERS))
    assert kinds == ["firing", "firing"]
    clock.advance(60)
    second = make(
        "repeated_errors", "payments", ErrorSeverity.MEDIUM, clock.time(), fingerprint="b"
    )
    group = [first, second]
    assert list(groups_of(group, TIMERS.group_by)) == ["alertname=repeated_errors|service=payments"]
    assert not group_due(group, clock.time(), TIMERS)
    clock.advance(240)
    assert group_due(group, clock.time(), TIMERS)
    _, kinds = step(second, clock.time(), flush=True)
    assert kinds == ["firing", "firing"]


def test_an_unacknowledged_alert_repeats_every_repeat_interval() -> None:
    """A medium alert notified at 30 s is notified again 4 h later, not before; once
    acknowledged it no longer repeats."""
    clock = FakeClock()
    alert = make("performance_impact", "api", ErrorSeverity.MEDIUM, clock.time())
    alert, kinds = step(alert, clock.time() + 30, flush=True)
    assert kinds == ["firing", "firing"]
    alert, kinds = step(alert, clock.time() + 30 + 14_399, flush=True)
    assert kinds == []
    alert, kinds = step(alert, clock.time() + 30 + 14_400, flush=True)
    assert kinds == ["repeat", "repeat"]
    acked = replace(alert, acknowledged_at=clock.time() + 14_500)
    _, kinds = step(acked, clock.time() + 30 + 28_800, flush=True)
    assert kinds == []


def test_an_alert_resolved_before_group_wait_is_never_notified() -> None:
    """Raised and resolved within 30 s, an alert plans nothing, not even its resolution."""
    clock = FakeClock()
    alert = make("error_rate_high", "payments", ErrorSeverity.HIGH, clock.time())
    done = resolved_alert(alert, at=clock.time() + 10)
    _, kinds = step(done, clock.time() + 30, flush=True)
    assert kinds == []


def test_a_critical_alert_inhibits_the_high_one_of_its_service() -> None:
    """error_rate_critical mutes error_rate_high of the same service, not of another, and
    never a security concern."""
    now = 0.0
    critical = make("error_rate_critical", "payments", ErrorSeverity.CRITICAL, now)
    high = make("error_rate_high", "payments", ErrorSeverity.HIGH, now)
    other = make("error_rate_high", "emails", ErrorSeverity.HIGH, now)
    security = make("security_concern", "payments", ErrorSeverity.HIGH, now)
    active = [critical, high, other, security]
    assert inhibited(high, active, DEFAULT_INHIBIT_RULES)
    assert not inhibited(other, active, DEFAULT_INHIBIT_RULES)
    assert not inhibited(security, active, DEFAULT_INHIBIT_RULES)
    assert not inhibited(critical, active, DEFAULT_INHIBIT_RULES)
    assert not inhibited(high, [high, other], DEFAULT_INHIBIT_RULES)


def test_silences_mute_matching_alerts_for_their_time() -> None:
    """A silence of service=payments, alertname=~error_rate_.* mutes matching alerts while
    it lasts, and no other alert."""
    alert = make("error_rate_high", "payments", ErrorSeverity.HIGH, 0.0)
    other = make("security_concern", "payments", ErrorSeverity.HIGH, 0.0)
    silence = Silence(
        id="s1",
        matchers=(Matcher.parse("service=payments"), Matcher.parse('alertname=~"error_rate_.*"')),
        starts_at=100.0,
        ends_at=200.0,
    )
    assert not silenced(label_view(alert), [silence], 99.0)
    assert silenced(label_view(alert), [silence], 100.0)
    assert not silenced(label_view(other), [silence], 150.0)
    assert not silenced(label_view(alert), [silence], 200.0)
    assert Silence.from_snapshot(silence.to_snapshot()) == silence


def test_matchers_follow_alertmanager() -> None:
    """=, !=, =~ (whole value) and !~ match as Alertmanager's do; a missing label is ''."""
    labels = {"service": "payments"}
    assert Matcher.parse("service=payments").matches(labels)
    assert Matcher.parse("service!=emails").matches(labels)
    assert not Matcher.parse("service=~pay").matches(labels)
    assert Matcher.parse("service!~pay").matches(labels)
    assert Matcher.parse("team=").matches(labels)


@pytest.mark.parametrize("text", ["service", "=x", "service=~(", "1service=x"])
def test_bad_matchers_are_refused(text: str) -> None:
    """A matcher without operator, name or with a broken regex is refused by its text."""
    with pytest.raises(ValueError, match="matcher"):
        Matcher.parse(text)


def test_a_silence_needs_matchers_and_a_duration() -> None:
    """A silence without matchers, or ending before it starts, is refused."""
    with pytest.raises(ValueError, match="at least one matcher"):
        Silence(id="s", matchers=(), starts_at=0.0, ends_at=1.0)
    with pytest.raises(ValueError, match="end after it starts"):
        Silence(id="s", matchers=(Matcher("a", "b"),), starts_at=1.0, ends_at=1.0)


def test_alerts_no_rule_fires_are_stale() -> None:
    """Rule-made alerts missing from the firing set are to be resolved; others are kept."""
    kept = make("error_rate_high", "payments", ErrorSeverity.HIGH, 0.0)
    gone = make("error_rate_high", "emails", ErrorSeverity.HIGH, 0.0)
    foreign = replace(gone, id="manual", alert_type="custom", labels={})
    firing = [AlertCandidate(dict(kept.labels), kept.severity, "t", "m", {})]
    assert stale([kept, gone, foreign], firing) == [gone]
