"""Restart limits: a burst per window, a growing delay, a reset after a healthy period, and
no restart storm from a service that fails every probe (fake clock)."""

from __future__ import annotations

import time
from collections.abc import Coroutine
from typing import Any

import pytest
from mongomock_motor import AsyncMongoMockClient

from outlast import ErrorContext
from outlast.recovery import (
    ProbeResult,
    RecoveryManager,
    RecoveryStatistics,
    RecoveryStrategy,
    RestartLimit,
    RestartLimiter,
    Service,
    ServiceRegistry,
)
from outlast.recovery._restart_limit import LIMIT_HIT
from outlast.resilience import RecoveryFailed, add_listener
from outlast.store import MongoStore
from outlast.testing import FakeClock


class CountingRestart:
    """A restart hook that only counts its runs (the service stays down)."""

    def __init__(self) -> None:
        self.runs = 0

    async def restart(self) -> None:
        self.runs += 1


def test_defaults_follow_systemd_and_kubernetes() -> None:
    """Burst 5 (systemd), delays 10, 20, 40 ... capped at 300 s, reset after 600 s (k8s)."""
    limit = RestartLimit()
    assert (limit.burst, limit.window, limit.reset_after) == (5, 600.0, 600.0)
    delays = [limit.delay_before(n) for n in range(1, 9)]
    assert delays == [0.0, 10.0, 20.0, 40.0, 80.0, 160.0, 300.0, 300.0]


def test_limiter_waits_then_refuses_past_the_burst() -> None:
    """Each restart waits the growing delay; the (burst+1)-th inside the window is refused."""
    limiter = RestartLimiter(RestartLimit(burst=3, window=100.0, initial_delay=10.0))
    now = 0.0
    waits = []
    for _ in range(3):
        wait = limiter.decide(now)
        waits.append(wait)
        now += wait
        limiter.restarted(now)
    assert waits == [0.0, 10.0, 20.0]
    assert limiter.decide(now) == LIMIT_HIT
    assert limiter.decide(99.0) == LIMIT_HIT
    assert limiter.decide(100.5) == 0.0  # the first restart left the window: allowed again


def test_a_healthy_period_resets_the_delay() -> None:
    """After reset_after seconds of passing probes the next restart runs at once."""
    limiter = RestartLimiter(RestartLimit(reset_after=60.0))
    limiter.restarted(0.0)
    limiter.restarted(10.0)
    assert limiter.decide(10.0) == 20.0
    limiter.observed(healthy=True, now=11.0)
    limiter.observed(healthy=True, now=71.0)
    assert limiter.decide(71.0) == 0.0
    assert limiter.restarts == 0


def test_bad_limits_are_named() -> None:
    """A burst below 1 or a negative window is refused naming the field."""
    with pytest.raises(ValueError, match=r"RestartLimit\.burst"):
        RestartLimit(burst=0)
    with pytest.raises(ValueError, match=r"RestartLimit\.window"):
        RestartLimit(window=-1.0)


async def test_restart_storm_is_capped_and_recorded_as_a_failure() -> None:
    """A service failing every probe is restarted burst times, then refused: the refusal is
    stored as a failed recovery and published for monitoring."""
    clock = FakeClock(wall_start=time.time())  # mongomock expires records by the real clock
    store = MongoStore(AsyncMongoMockClient()["outlast_test"], namespace="storm", clock=clock)
    hook = CountingRestart()

    async def never_healthy() -> ProbeResult:
        return ProbeResult(healthy=False, detail="refused")

    registry = ServiceRegistry(clock=clock)
    registry.allow_restart_hook(hook)
    registry.register(Service(name="search", probe=never_healthy, restart=hook))
    manager = RecoveryManager(
        registry=registry,
        store=store,
        statistics=RecoveryStatistics(None),
        clock=clock,
        probe_interval=1.0,
        ready_timeout=3.0,
    )
    events: list[object] = []
    remove = add_listener(events.append)
    try:
        success, _ = await manager.recover_from_error(
            ConnectionError("search down"),
            ErrorContext(operation="search"),
            RecoveryStrategy.SERVICE_RESTART,
            lambda: "never reached",
            max_attempts=50,
            service="search",
        )
    finally:
        remove()
    assert success is False
    assert hook.runs == 5
    failed = [e for e in events if isinstance(e, RecoveryFailed)]
    assert len(failed) == 1
    assert (failed[0].service, failed[0].reason) == ("search", "restart limit hit")
    # Later recoveries inside the window do not restart either.
    again, _ = await manager.recover_from_error(
        ConnectionError("still down"),
        ErrorContext(operation="search"),
        RecoveryStrategy.SERVICE_RESTART,
        lambda: "never reached",
        service="search",
    )
    assert (again, hook.runs) == (False, 5)
    stored = await store.list_recovery_attempts(service="search", successful=False)
    assert [record.details["limit_hit"] for record in stored] == [True, True]
    assert stored[0].details["reason"] == "restart limit hit"


def test_unlisted_restart_hooks_are_refused() -> None:
    """A service cannot be registered with a restart hook that is not allow-listed."""
    from outlast.errors import ConfigurationError

    async def probe() -> ProbeResult:
        return ProbeResult(healthy=True)

    registry = ServiceRegistry()
    with pytest.raises(ConfigurationError, match="not allow-listed"):
        registry.register(Service(name="db", probe=probe, restart=CountingRestart()))


async def test_concurrent_recoveries_share_one_restart() -> None:
    """Two recoveries of one service at once run its restart hook once, not twice."""
    import asyncio

    clock = FakeClock()
    state = {"healthy": False}

    class SlowRestart:
        runs = 0

        async def restart(self) -> None:
            self.runs += 1
            await asyncio.sleep(0.01)  # both recoveries arrive while this one runs
            state["healthy"] = True

    hook = SlowRestart()

    async def probe() -> ProbeResult:
        return ProbeResult(healthy=state["healthy"])

    registry = ServiceRegistry(clock=clock)
    registry.allow_restart_hook(hook)
    registry.register(Service(name="queue", probe=probe, restart=hook))
    manager = RecoveryManager(registry=registry, statistics=RecoveryStatistics(None), clock=clock)

    def recover() -> Coroutine[Any, Any, tuple[bool, Any]]:
        return manager.recover_from_error(
            ConnectionError(),
            ErrorContext(operation="publish"),
            "service_restart",
            lambda: "sent",
            service="queue",
        )

    results = await asyncio.gather(recover(), recover())
    assert list(results) == [(True, "sent"), (True, "sent")]
    assert hook.runs == 1
    assert {name: r.healthy for name, r in (await registry.probe_all()).items()} == {"queue": True}
