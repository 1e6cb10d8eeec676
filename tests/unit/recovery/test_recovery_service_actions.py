"""Heal and restart on request (the bodies of outlast.recovery.heal and .restart): a heal
is recorded either way; a restart runs within the limit shared with the sweep, waits out
no delay, and past the burst is refused and announced as a failed recovery."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from outlast.recovery import (
    ProbeResult,
    RecoveryManager,
    RecoveryStatistics,
    RestartLimit,
    Service,
    ServiceRegistry,
    SweepMemory,
)
from outlast.recovery._service_actions import (
    heal_service,
    heal_service_quietly,
    restart_service,
)
from outlast.resilience import RecoveryFailed, add_listener
from outlast.testing import FakeClock


class Box:
    """A service that is down until a restart (or, when ``heal_fixes``, a heal) runs."""

    def __init__(self, *, heal_fixes: bool = False) -> None:
        self.healthy = False
        self.heal_fixes = heal_fixes
        self.restarts = 0

    async def probe(self) -> ProbeResult:
        return ProbeResult(healthy=self.healthy)

    async def heal(self) -> None:
        self.healthy = self.healthy or self.heal_fixes

    async def restart(self) -> None:
        self.restarts += 1
        self.healthy = True


@pytest.fixture
def failures() -> Iterator[list[RecoveryFailed]]:
    seen: list[RecoveryFailed] = []

    def keep(event: object) -> None:
        if isinstance(event, RecoveryFailed):
            seen.append(event)

    stop = add_listener(keep)
    yield seen
    stop()


def manager_of(clock: FakeClock, box: Box, limit: RestartLimit) -> RecoveryManager:
    registry = ServiceRegistry(clock=clock)
    registry.allow_restart_hook(box)
    registry.register(
        Service(name="db", probe=box.probe, heal=box.heal, restart=box, restart_limit=limit)
    )
    return RecoveryManager(
        registry=registry, statistics=RecoveryStatistics(None), clock=clock, ready_timeout=1.0
    )


async def test_a_requested_heal_is_answered_and_counted() -> None:
    """A heal that takes answers healed and counts one successful recovery."""
    manager = manager_of(FakeClock(), Box(heal_fixes=True), RestartLimit())
    assert (await heal_service(manager, "db"))["healed"] is True
    stats = await manager.get_recovery_stats()
    assert stats["successful_recoveries"] == 1
    assert (await heal_service(manager, "nope"))["healed"] is False


async def test_a_quiet_heal_records_only_when_it_takes(failures: list[RecoveryFailed]) -> None:
    """Between sweeps, a heal that fails is neither counted nor announced."""
    manager = manager_of(FakeClock(), Box(), RestartLimit())
    assert (await heal_service_quietly(manager, "db"))["healed"] is False
    assert (await manager.get_recovery_stats())["total_recoveries"] == 0
    assert failures == []


async def test_restarts_past_the_burst_are_refused_and_announced(
    failures: list[RecoveryFailed],
) -> None:
    """Burst 2, no delay: two restarts run, the third is refused as a failed recovery; a
    delay not yet passed answers when the restart is due, without sleeping."""
    clock, box, memory = FakeClock(), Box(), SweepMemory(None)
    manager = manager_of(clock, box, RestartLimit(burst=2, initial_delay=0.0))
    for _ in range(2):
        box.healthy = False
        assert (await restart_service(manager, "db", memory=memory))["restarted"] is True
    third = await restart_service(manager, "db", memory=memory)
    assert third["restarted"] is False
    assert third["limit_hit"] is True
    assert box.restarts == 2
    assert [f.reason for f in failures] == ["restart limit hit"]
    delayed = manager_of(clock, Box(), RestartLimit(initial_delay=60.0))
    fresh = SweepMemory(None)
    assert (await restart_service(delayed, "db", memory=fresh))["restarted"] is True
    assert (await restart_service(delayed, "db", memory=fresh))["due_in"] == 60.0
    assert clock.sleeps == []
