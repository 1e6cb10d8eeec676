"""The health sweep: probe, heal, restart after repeated failed heals, within the restart
limit (a storm is capped and announced once), remembered across processes; fake clock."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from outlast.recovery import (
    HealthSweep,
    ProbeResult,
    RecoveryManager,
    RecoveryStatistics,
    RestartLimit,
    Service,
    ServiceRegistry,
    SweepMemory,
)
from outlast.resilience import RecoveryFailed, add_listener
from outlast.testing import FakeClock


class Flaky:
    """A service's state: healthy or not; heals and restarts may bring it back."""

    def __init__(self, *, healthy: bool, heal_fixes: bool = False, restart_fixes: bool = True):
        self.healthy = healthy
        self.heal_fixes = heal_fixes
        self.restart_fixes = restart_fixes
        self.heals = 0
        self.restarts = 0

    async def probe(self) -> ProbeResult:
        return ProbeResult(healthy=self.healthy, detail="up" if self.healthy else "down")

    async def heal(self) -> None:
        self.heals += 1
        self.healthy = self.healthy or self.heal_fixes

    async def restart(self) -> None:
        self.restarts += 1
        self.healthy = self.healthy or self.restart_fixes


@pytest.fixture
def failures() -> Iterator[list[RecoveryFailed]]:
    seen: list[RecoveryFailed] = []
    stop = add_listener(
        lambda event: seen.append(event) if isinstance(event, RecoveryFailed) else None
    )
    yield seen
    stop()


def sweep_of(
    clock: FakeClock,
    state: Flaky,
    memory: SweepMemory,
    *,
    limit: RestartLimit | None = None,
    heals_before_restart: int = 2,
) -> HealthSweep:
    registry = ServiceRegistry(clock=clock)
    registry.allow_restart_hook(state)
    registry.register(
        Service(
            name="cache", probe=state.probe, heal=state.heal, restart=state,
            restart_limit=limit or RestartLimit(),
        )
    )  # fmt: skip
    manager = RecoveryManager(
        registry=registry, statistics=RecoveryStatistics(None), clock=clock,
        probe_interval=0.5, ready_timeout=2.0,
    )  # fmt: skip
    return HealthSweep(manager, memory=memory, heals_before_restart=heals_before_restart)


async def test_a_healthy_service_is_only_probed_and_its_health_remembered() -> None:
    """Healthy: no heal, no restart; the health and its time are in the sweep memory."""
    clock, state, memory = FakeClock(), Flaky(healthy=True), SweepMemory(None)
    report = await sweep_of(clock, state, memory).run()
    assert report.health["cache"]["healthy"] is True
    assert (report.healed, report.restarted, report.failed) == ([], [], [])
    assert (state.heals, state.restarts) == (0, 0)
    remembered = (await memory.load("services"))["cache"]
    assert remembered["health"]["checked_at"] == clock.time()


async def test_an_unhealthy_service_is_healed_and_counted() -> None:
    """Unhealthy, and healing brings it back: reported healed, counted as a success."""
    clock, state = FakeClock(), Flaky(healthy=False, heal_fixes=True)
    sweep = sweep_of(clock, state, SweepMemory(None))
    report = await sweep.run()
    assert report.healed == ["cache"]
    assert state.heals == 1
    stats = await sweep.manager.get_recovery_stats()
    assert stats["by_service"]["cache"]["successful_recoveries"] == 1


async def test_restart_only_after_repeated_failed_heals(failures: list[RecoveryFailed]) -> None:
    """Heals that do not take: the first sweep only heals (a failure monitoring hears), the
    second restarts through the hook and the service is back."""
    clock, state = FakeClock(), Flaky(healthy=False)
    sweep = sweep_of(clock, state, SweepMemory(None), heals_before_restart=2)
    first = await sweep.run()
    assert (first.failed, state.restarts) == (["cache"], 0)
    assert [f.service for f in failures] == ["cache"]
    second = await sweep.run()
    assert second.restarted == ["cache"]
    assert state.restarts == 1
    assert state.healthy


async def test_a_restart_storm_is_capped_and_announced_once(
    failures: list[RecoveryFailed],
) -> None:
    """A service no restart fixes, swept 40 times 30 s apart: restarted exactly the burst
    (3), each after the growing delay, never sleeping in a sweep; the limit hit is one
    RecoveryFailed, not one per sweep."""
    clock = FakeClock()
    state = Flaky(healthy=False, restart_fixes=False)
    limit = RestartLimit(burst=3, window=3600.0, initial_delay=30.0, max_delay=120.0)
    sweep = sweep_of(clock, state, SweepMemory(None), limit=limit, heals_before_restart=1)
    due: list[float] = []
    for _ in range(40):
        report = await sweep.run()
        due += report.restart_due_in.values()
        clock.advance(30.0)
    assert state.restarts == 3
    assert due, "a restart inside the growing delay waits for a later sweep"
    limit_hits = [f for f in failures if f.reason == "restart limit hit"]
    assert len(limit_hits) == 1


async def test_the_restart_limit_is_shared_by_processes_through_the_memory() -> None:
    """Two sweeps with registries of their own (two worker processes) share one memory:
    together they restart no more than the burst allows."""
    clock, memory = FakeClock(), SweepMemory(None)
    state = Flaky(healthy=False, restart_fixes=False)
    limit = RestartLimit(burst=2, window=3600.0, initial_delay=0.0)
    sweeps = [sweep_of(clock, state, memory, limit=limit, heals_before_restart=1) for _ in "ab"]
    for number in range(10):
        await sweeps[number % 2].run()
        clock.advance(5.0)
    assert state.restarts == 2


async def test_a_service_that_recovers_is_forgiven_its_failed_heals() -> None:
    """A failed heal, then a healthy sweep: the count starts over, so one more failure does
    not restart it (heals_before_restart=2)."""
    clock, state = FakeClock(), Flaky(healthy=False)
    sweep = sweep_of(clock, state, SweepMemory(None), heals_before_restart=2)
    await sweep.run()
    state.healthy = True
    await sweep.run()
    state.healthy = False
    report = await sweep.run()
    assert report.failed == ["cache"]
    assert state.restarts == 0
