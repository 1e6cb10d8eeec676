"""Alerting over the real shared state: events recorded through ``ErrorMonitor`` into real
Redis windows and a real store (Redis, and MongoDB through mongomock-motor) raise, inhibit,
silence, escalate and resolve alerts on a fake clock; a new monitor carries on from the
stored alerts."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest
from mongomock_motor import AsyncMongoMockClient

from outlast.errors import ErrorContext, ErrorSeverity, ValidationError
from outlast.monitoring import ErrorMonitor
from outlast.monitoring._alert_lifecycle import GroupTimers
from outlast.monitoring._alerting import AlertingConfig, escalate, evaluate_alerts
from outlast.store import AlertStatus, MongoStore, RedisStore, Store
from outlast.testing import FakeClock

CONFIG = AlertingConfig()
NO_BREAKERS: dict[str, str] = {}
OpenStore = Callable[[], Store]


@pytest.fixture
def clock() -> FakeClock:
    """A fake clock at the real wall time (the store's retention counts from it)."""
    return FakeClock(wall_start=time.time())


@pytest.fixture(params=["redis", "mongomock"])
def open_store(
    request: pytest.FixtureRequest, redis_url: str, namespace: str, clock: FakeClock
) -> OpenStore:
    """Opens a store of the test's namespace on the parametrized backend."""
    if request.param == "redis":
        return lambda: RedisStore(redis_url, namespace=namespace, clock=clock)
    database: Any = AsyncMongoMockClient()["outlast_test"]
    return lambda: MongoStore(database, namespace=namespace, clock=clock)


def monitor_for(redis_url: str, namespace: str, open_store: OpenStore, clock: FakeClock
                ) -> ErrorMonitor:  # fmt: skip
    """A monitor on the test's namespace and store, on the fake clock."""
    return ErrorMonitor(redis_url=redis_url, namespace=namespace, open_store=open_store,
                        clock=clock, flush_interval=0.05)  # fmt: skip


def raised(error: BaseException) -> BaseException:
    """``error`` with a traceback, as a caught exception has."""
    try:
        raise error
    except BaseException as caught:
        return caught


def fail(monitor: ErrorMonitor, operation: str, error: BaseException, times: int,
         severity: ErrorSeverity | None = None, **flags: bool) -> None:  # fmt: skip
    """Record ``times`` failures of ``operation``."""
    for _ in range(times):
        monitor.record(raised(error), ErrorContext(operation=operation), severity, **flags)


def succeed(monitor: ErrorMonitor, operation: str, times: int) -> None:
    """Record ``times`` successful calls of ``operation``."""
    for _ in range(times):
        monitor.note_success(operation)


async def evaluate(monitor: ErrorMonitor) -> set[str]:
    """Flush, evaluate, and return the alert types raised."""
    assert monitor.flush(timeout=20)
    found = await evaluate_alerts(monitor=monitor, config=CONFIG, breakers=NO_BREAKERS)
    assert found is not None
    return {a.alert_type for a in found}


async def test_alert_calm_baseline_raises_nothing(
    redis_url: str, namespace: str, open_store: OpenStore, clock: FakeClock
) -> None:
    """A 1% failure rate with a few different errors raises no alert at all."""
    monitor = monitor_for(redis_url, namespace, open_store, clock)
    succeed(monitor, "payments.charge", 300)
    fail(monitor, "payments.charge", RuntimeError("card declined"), 2)
    fail(monitor, "emails.send", ConnectionError("smtp reset"), 1)
    assert await evaluate(monitor) == set()
    assert await monitor.aget_active_alerts() == []
    assert await escalate(clock.time() + 60, monitor=monitor) == []
    monitor.close()


async def test_alert_error_rate_inhibits_escalates_and_survives_a_restart(
    redis_url: str, namespace: str, open_store: OpenStore, clock: FakeClock
) -> None:
    """40% failures raise the high and critical error-rate alerts (one each however often
    evaluated); the high one is inhibited; the critical one reaches level 1 after
    group_wait and level 2 thirty minutes later through a new monitor; acknowledged, it
    stops there with PagerDuty's acknowledgement planned, and every planned notification
    is stored on it."""
    monitor = monitor_for(redis_url, namespace, open_store, clock)
    succeed(monitor, "payments.charge", 60)
    fail(monitor, "payments.charge", RuntimeError("gateway said no"), 40, ErrorSeverity.HIGH)
    assert {"error_rate_high", "error_rate_critical"} <= await evaluate(monitor)
    await evaluate(monitor)
    active = {a.alert_type: a for a in await monitor.aget_active_alerts()}
    critical, high = active["error_rate_critical"], active["error_rate_high"]
    assert critical.occurrences == 2
    assert critical.labels == {"alertname": "error_rate_critical", "service": "payments"}
    assert await escalate(clock.time() + 10, monitor=monitor) == []
    clock.advance(30)
    first = await escalate(monitor=monitor)
    assert {(p.alert_id, p.level, p.channel.value) for p in first if p.alert_id == critical.id} == {
        (critical.id, 1, "slack"), (critical.id, 1, "email")
    }  # fmt: skip
    assert all(p.alert_id != high.id for p in first)
    monitor.close()

    restarted = monitor_for(redis_url, namespace, open_store, clock)
    clock.advance(30 * 60)
    second = await escalate(monitor=restarted)
    mine = [p for p in second if p.alert_id == critical.id]
    assert [(p.level, p.channel.value, p.severity) for p in mine] == [
        (2, "pagerduty", "critical"), (2, "slack", "critical"), (2, "email", "critical")
    ]  # fmt: skip
    acked = await restarted.aacknowledge(critical.id, by="oncall")
    assert acked is not None
    assert acked.acknowledged_by == "oncall"
    clock.advance(90 * 60)
    later = await escalate(monitor=restarted)
    assert all(p.alert_id != critical.id for p in later)
    store = open_store()
    try:
        stored = await store.get_alert(critical.id)
    finally:
        await store.close()
    assert stored is not None
    assert stored.escalation_level == 2
    assert [(n["level"], n["kind"]) for n in stored.notifications] == [
        (1, "firing"), (1, "firing"), (2, "escalation"), (2, "escalation"), (2, "escalation"),
        (2, "acknowledged"),
    ]  # fmt: skip
    assert stored.notifications[-1]["channel"] == "pagerduty"
    restarted.close()


async def test_alert_resolves_when_its_rule_stops_and_is_announced(
    redis_url: str, namespace: str, open_store: OpenStore, clock: FakeClock
) -> None:
    """Once the window holds only successes the error-rate alerts resolve; the notified
    one announces its resolution at the next group flush."""
    monitor = monitor_for(redis_url, namespace, open_store, clock)
    succeed(monitor, "payments.charge", 60)
    fail(monitor, "payments.charge", RuntimeError("gateway said no"), 40)
    assert "error_rate_critical" in await evaluate(monitor)
    clock.advance(30)
    await escalate(monitor=monitor)
    clock.advance(6 * 60)
    succeed(monitor, "payments.charge", 100)
    assert await evaluate(monitor) == set()
    assert await monitor.aget_active_alerts() == []
    announced = await escalate(monitor=monitor)
    assert {p.kind for p in announced} == {"resolved"}
    assert await escalate(clock.time() + 600, monitor=monitor) == []
    monitor.close()


async def test_alert_types_from_recorded_events(
    redis_url: str, namespace: str, open_store: OpenStore, clock: FakeClock
) -> None:
    """Injection-marked validation rejections, failed recoveries, timeouts and high-severity
    errors in two services raise security_concern, recovery_failure, performance_impact,
    repeated_errors and system_degradation."""
    monitor = monitor_for(redis_url, namespace, open_store, clock)
    injection = ValidationError("name: keys starting with '$' or containing '.' are not allowed")
    fail(monitor, "auth.login", injection, 1)
    fail(monitor, "db.query", ConnectionError("db gone"), 3, ErrorSeverity.HIGH,
         recovery_attempted=True, recovery_successful=False)  # fmt: skip
    fail(monitor, "search.find", TimeoutError("search took too long"), 10, ErrorSeverity.HIGH)
    found = await evaluate(monitor)
    assert found == {
        "security_concern", "recovery_failure", "performance_impact", "repeated_errors",
        "system_degradation",
    }  # fmt: skip
    monitor.close()


async def test_alert_anomaly_from_the_shared_windows(
    redis_url: str, namespace: str, open_store: OpenStore, clock: FakeClock
) -> None:
    """After 50 quiet minutes (one error every other minute) a burst of 12 errors in one
    minute raises anomaly_detected; the quiet minutes alone raise nothing."""
    monitor = monitor_for(redis_url, namespace, open_store, clock)
    clock.advance(60 - clock.time() % 60)
    for minute in range(50):
        if minute % 2 == 0:
            fail(monitor, "reports.build", RuntimeError(f"report {minute} failed"), 1)
        clock.advance(60)
    assert "anomaly_detected" not in await evaluate(monitor)
    fail(monitor, "reports.build", RuntimeError("report failed"), 12)
    clock.advance(60)
    assert "anomaly_detected" in await evaluate(monitor)
    monitor.close()


async def test_alert_silence_mutes_until_it_ends(
    redis_url: str, namespace: str, open_store: OpenStore, clock: FakeClock
) -> None:
    """A silence of service=payments mutes its alerts' notifications while it lasts, seen
    by another monitor too; after it ends the alert is notified."""
    monitor = monitor_for(redis_url, namespace, open_store, clock)
    succeed(monitor, "payments.charge", 60)
    fail(monitor, "payments.charge", RuntimeError("gateway said no"), 40)
    await evaluate(monitor)
    silence = await monitor.asilence(["service=payments"], clock.time() + 600, comment="deploy")
    assert silence.ends_at == clock.time() + 600
    other = monitor_for(redis_url, namespace, open_store, clock)
    clock.advance(60)
    assert await escalate(monitor=other) == []
    clock.advance(600)
    assert await escalate(monitor=other) != []
    with pytest.raises(ValueError, match="matcher"):
        await monitor.asilence(["service"], clock.time() + 60)
    monitor.close()
    other.close()


async def test_alert_silence_longer_than_the_retention_lasts(
    redis_url: str, namespace: str, open_store: OpenStore, clock: FakeClock
) -> None:
    """A ten-day silence (the store keeps snapshots seven days) still mutes on day nine."""
    monitor = monitor_for(redis_url, namespace, open_store, clock)
    await monitor.asilence(["service=payments"], clock.time() + 10 * 86400)
    clock.advance(9 * 86400)
    succeed(monitor, "payments.charge", 60)
    fail(monitor, "payments.charge", RuntimeError("gateway said no"), 40)
    assert "error_rate_critical" in await evaluate(monitor)
    clock.advance(60)
    assert await escalate(monitor=monitor) == []
    monitor.close()


async def test_alert_resolve_by_hand(
    redis_url: str, namespace: str, open_store: OpenStore, clock: FakeClock
) -> None:
    """error_monitor.resolve resolves an active alert; an unknown id gives None."""
    monitor = monitor_for(redis_url, namespace, open_store, clock)
    succeed(monitor, "payments.charge", 60)
    fail(monitor, "payments.charge", RuntimeError("gateway said no"), 40)
    await evaluate(monitor)
    alert = (await monitor.aget_active_alerts())[0]
    done = await monitor.aresolve(alert.id)
    assert done is not None
    assert done.status is AlertStatus.RESOLVED
    assert await monitor.aresolve("no-such-alert") is None
    assert await monitor.aacknowledge("no-such-alert") is None
    monitor.close()


async def test_alert_sync_twins_act_on_the_store(
    redis_url: str, namespace: str, open_store: OpenStore, clock: FakeClock
) -> None:
    """acknowledge, silence and resolve work from sync code (even inside a running loop)."""
    monitor = monitor_for(redis_url, namespace, open_store, clock)
    succeed(monitor, "payments.charge", 60)
    fail(monitor, "payments.charge", RuntimeError("gateway said no"), 40)
    await evaluate(monitor)
    alert = monitor.get_active_alerts()[0]
    acked = monitor.acknowledge(alert.id, by="ana")
    assert acked is not None
    assert (acked.acknowledged_at, acked.acknowledged_by) == (clock.time(), "ana")
    assert monitor.acknowledge(alert.id, by="bob") == acked
    assert (
        monitor.silence(["alertname=~error_rate_.*"], clock.time() + 60).matchers[0].operator
        == "=~"
    )
    resolved = monitor.resolve(alert.id)
    assert resolved is not None
    assert alert.id not in {a.id for a in monitor.get_active_alerts()}
    monitor.close()


async def test_alert_concurrent_escalations_plan_nothing_twice(
    redis_url: str, namespace: str, open_store: OpenStore, clock: FakeClock
) -> None:
    """Four escalate passes from two monitors at once plan each notification exactly once."""
    monitor = monitor_for(redis_url, namespace, open_store, clock)
    other = monitor_for(redis_url, namespace, open_store, clock)
    succeed(monitor, "payments.charge", 60)
    fail(monitor, "payments.charge", RuntimeError("gateway said no"), 40)
    await evaluate(monitor)
    for minutes in (1, 31):
        clock.advance(minutes * 60)
        passes = await asyncio.gather(*(escalate(monitor=m) for m in (monitor, other) * 2))
        planned = [(p.alert_id, p.level, p.channel, p.kind) for step in passes for p in step]
        assert planned
        assert len(planned) == len(set(planned))
    stored = {a.id: a for a in await monitor.aget_active_alerts()}
    total = sum(len(a.notifications) for a in stored.values())
    assert total == len({(n["alert_id"], n["level"], n["channel"]) for a in stored.values()
                         for n in a.notifications})  # fmt: skip
    monitor.close()
    other.close()


async def test_alert_escalation_reaches_four_levels_through_the_store(
    redis_url: str, namespace: str, open_store: OpenStore, clock: FakeClock
) -> None:
    """With escalate run every minute for three hours (group_wait 0), the critical
    error-rate alert reaches levels 1-4 at minutes 0, 30, 60 and 120 and nothing else."""
    config = AlertingConfig(timers=GroupTimers(group_wait=0.0))
    monitor = monitor_for(redis_url, namespace, open_store, clock)
    succeed(monitor, "payments.charge", 60)
    fail(monitor, "payments.charge", RuntimeError("gateway said no"), 40)
    await evaluate(monitor)
    critical = next(a for a in await monitor.aget_active_alerts()
                    if a.alert_type == "error_rate_critical")  # fmt: skip
    start = clock.time()
    reached: dict[int, list[tuple[int, str]]] = {}
    for minute in range(181):
        clock.advance(start + minute * 60 - clock.time())
        planned = await escalate(monitor=monitor, config=config)
        mine = [(p.level, p.channel.value) for p in planned if p.alert_id == critical.id]
        if mine:
            reached[minute] = mine
    assert reached == {
        0: [(1, "slack"), (1, "email")],
        30: [(2, "pagerduty"), (2, "slack"), (2, "email")],
        60: [(3, "phone"), (3, "email")],
        120: [(4, "phone"), (4, "sms")],
    }
    monitor.close()
