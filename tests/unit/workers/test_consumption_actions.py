"""What the consumption check does about a finding, by setting: restart the workers
through their hook (once per sweep, within the restart limit) or only record it; either
way a recovery attempt is counted and a failure announced."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from outlast.recovery import RecoveryManager, RecoveryStatistics, RestartLimit, SweepMemory
from outlast.resilience import RecoveryFailed, add_listener
from outlast.testing import FakeClock
from outlast.workers.health._consumption_check import ConsumptionCheck, Observation


class CountingRestart:
    """A restart hook that counts its runs."""

    def __init__(self) -> None:
        self.runs = 0

    async def restart(self) -> None:
        self.runs += 1


@pytest.fixture
def failures() -> Iterator[list[RecoveryFailed]]:
    seen: list[RecoveryFailed] = []

    def keep(event: object) -> None:
        if isinstance(event, RecoveryFailed):
            seen.append(event)

    stop = add_listener(keep)
    yield seen
    stop()


def lost_both_queues() -> Iterator[Observation]:
    """Two workers seen consuming `emails`, then both without it, for ever."""
    yield Observation({"w1": ["emails"], "w2": ["emails"]}, {}, {})
    while True:
        yield Observation({"w1": [], "w2": []}, {}, {})


def check_of(clock: FakeClock, action: str, hook: CountingRestart | None) -> ConsumptionCheck:
    manager = RecoveryManager(statistics=RecoveryStatistics(None), clock=clock)
    views = lost_both_queues()
    return ConsumptionCheck(
        None, manager, memory=SweepMemory(None), action=action,  # type: ignore[arg-type]
        restart=hook, restart_limit=RestartLimit(burst=2, initial_delay=0.0),
        canary_timeout=None, observer=lambda: next(views),
    )  # fmt: skip


async def test_restart_runs_once_per_sweep_and_stops_at_the_limit(
    failures: list[RecoveryFailed],
) -> None:
    """Both workers lost `emails` in every sweep: the hook runs once per sweep (not once
    per worker) and twice in all (burst 2); later sweeps record failures."""
    clock, hook = FakeClock(), CountingRestart()
    check = check_of(clock, "restart", hook)
    assert await check.run() == []
    for _ in range(4):
        done = await check.run()
        assert [d["worker"] for d in done] == ["w1", "w2"]
        clock.advance(30.0)
    assert hook.runs == 2
    assert any("restart limit hit" in str(f.error) for f in failures)


async def test_record_only_leaves_the_workers_alone_and_announces_it(
    failures: list[RecoveryFailed],
) -> None:
    """Action `record`: no repair, each finding a failed recovery of `worker:<name>`."""
    check = check_of(FakeClock(), "record", None)
    await check.run()
    done = await check.run()
    assert [d["repaired"] for d in done] == [False, False]
    assert sorted(f.service for f in failures) == ["worker:w1", "worker:w2"]
    stats = await check.manager.get_recovery_stats()
    assert stats["total_recoveries"] == 2
