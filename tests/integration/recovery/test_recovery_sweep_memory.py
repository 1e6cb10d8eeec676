"""The sweep memory in a real Redis: what one process's sweep leaves (failed heals, the
restart limit's history) is what another process's sweep reads, and its lease lets one
sweep run at a time."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from _workers import fresh_namespace
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
from outlast.resilience.shared._redis_link import RedisLink


@pytest.fixture
def link(redis_url: str) -> Iterator[RedisLink]:
    with fresh_namespace(redis_url) as namespace:
        opened = RedisLink(redis_url, namespace=namespace)
        yield opened
        opened.close()


class Down:
    """A service no heal or restart brings back; counts its restarts."""

    def __init__(self) -> None:
        self.restarts = 0

    async def probe(self) -> ProbeResult:
        return ProbeResult(healthy=False, detail="down")

    async def restart(self) -> None:
        self.restarts += 1


def process_sweep(link: RedisLink, down: Down) -> HealthSweep:
    """A sweep as one worker process has it: its own registry, memory through Redis."""
    registry = ServiceRegistry()
    registry.allow_restart_hook(down)
    limit = RestartLimit(burst=2, initial_delay=0.0)
    registry.register(Service(name="db", probe=down.probe, restart=down, restart_limit=limit))
    manager = RecoveryManager(
        registry=registry, statistics=RecoveryStatistics(None), ready_timeout=0.05,
        probe_interval=0.01,
    )  # fmt: skip
    return HealthSweep(manager, memory=SweepMemory(link), heals_before_restart=2)


async def test_sweeps_of_separate_processes_share_heals_and_restart_limits(
    link: RedisLink,
) -> None:
    """Six sweeps, each by a fresh 'process': the second restarts (after two failed heals),
    and the burst of 2 holds across them all."""
    down = Down()
    reports = [await process_sweep(link, down).run() for _ in range(6)]
    assert reports[0].restarted == []
    assert down.restarts == 2
    remembered = await SweepMemory(link).load("services")
    assert remembered["db"]["failed_heals"] == 6
    assert len(remembered["db"]["limiter"]["history"]) == 2


async def test_the_sweep_lease_is_held_once_and_given_back(link: RedisLink) -> None:
    """A second lease is refused while the first holds; released, it is granted again."""
    memory = SweepMemory(link)
    token = await memory.lease("sweep", 30.0)
    assert token is not None
    assert await memory.lease("sweep", 30.0) is None
    await memory.release("sweep", token)
    assert await memory.lease("sweep", 30.0) is not None
