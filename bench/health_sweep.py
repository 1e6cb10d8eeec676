"""Health-sweep timing under real faults: fault to detection, and service return to healed,
with the cadence the recovery workers use.

A driver runs ``HealthSweep.run()`` every ``INTERVAL`` s (beat's
``OUTLAST_RECOVERY_SWEEP_INTERVAL``) and, between sweeps, heals each service the last
sweep could not heal every ``REHEAL`` s (``OUTLAST_RECOVERY_REHEAL_INTERVAL``, as the
``outlast.recovery.heal`` follow-up tasks do). Services come from recovery settings, as
in a worker. The bench injects a fault at a random moment of the sweep cycle and times
the end of the first sweep that reports the service unhealthy (target: one interval plus
the probe timeout); after a random 0.5-1.5 s it removes the fault and times the first
heal or sweep that reports it healthy (target: 1 s). Faults: Redis SIGKILLed (the bench
starts it again on its port), Redis and SMTP behind a TCP fault proxy that refuses or
stalls, HTTP answering 503 or stalled. In-process: a real worker adds the broker's
latency to each follow-up heal (a few ms on loopback).

Run: ``.venv/bin/python bench/health_sweep.py [--quick]``. Servers run on loopback and
are stopped by pid at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import time
from collections.abc import Callable
from typing import Any

import _recovery_bench as shared
from _servers import RedisServer, start_redis_server
from outlast.config import RecoverySettings
from outlast.recovery import (
    HealthSweep,
    RecoveryManager,
    RecoveryStatistics,
    ServiceRegistry,
    SweepMemory,
)
from outlast.recovery._configured import configure_services
from outlast.recovery._service_actions import heal_service_quietly

RUNS = 3 if shared.QUICK else 8
INTERVAL = 3.0
REHEAL = 0.5  # the default OUTLAST_RECOVERY_REHEAL_INTERVAL
PROBE_TIMEOUT = 1.0  # the default probe timeout (Kubernetes' timeoutSeconds)
TABLE = shared.Table(
    "detected", shared.Figures("5.2f", "s"), shared.Figures("6.0f", "ms"), INTERVAL + PROBE_TIMEOUT
)
MODES: dict[shared.Kind, tuple[shared.Mode, ...]] = {
    "redis": ("refuse", "stall"),
    "smtp": ("refuse", "stall"),
    "http": ("503", "stall"),
}


class Driver:
    """Sweeps every INTERVAL s and, beside it (as the follow-up heal tasks run beside the
    sweep), re-heals what the last sweep left unhealthy every REHEAL s; notes (wall time,
    healthy) for the service at each probe answer or heal."""

    def __init__(self, sweep: HealthSweep, name: str) -> None:
        self.sweep = sweep
        self.name = name
        self.seen: list[tuple[float, bool]] = []
        self.unhealed: set[str] = set()
        self.stopped = asyncio.Event()
        self.changed = asyncio.Event()

    def note(self, at: float, healthy: bool) -> None:
        self.seen.append((at, healthy))
        self.changed.set()

    async def run(self) -> None:
        await asyncio.gather(self.sweeping(), self.healing())

    async def sweeping(self) -> None:
        next_sweep = time.monotonic()
        while not self.stopped.is_set():
            report = await self.sweep.run()
            health = report.health[self.name]
            self.note(health["checked_at"], health["healthy"])
            if self.name in report.healed:  # healed by the sweep itself, just now
                self.note(time.time(), True)
            self.unhealed = set(report.failed)
            next_sweep += INTERVAL
            await self.pause(next_sweep - time.monotonic())

    async def healing(self) -> None:
        took = 0.0
        while not self.stopped.is_set():
            await self.pause(REHEAL - took)  # the next heal is due REHEAL after the last began
            started = time.monotonic()
            for name in sorted(self.unhealed):
                outcome = await heal_service_quietly(self.sweep.manager, name)
                self.note(time.time(), outcome["healed"])
                if outcome["healed"]:
                    self.unhealed.discard(name)
            took = time.monotonic() - started

    async def pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stopped.wait(), max(0.0, seconds))

    async def first(self, *, healthy: bool, after: float) -> float:
        """When the service was first seen ``healthy`` after ``after`` (waits for it)."""
        while True:
            for at, state in self.seen:
                if at > after and state == healthy:
                    return at
            self.changed.clear()
            await self.changed.wait()


def sweep_for(services: list[dict[str, Any]]) -> HealthSweep:
    registry = ServiceRegistry()
    configure_services(registry, RecoverySettings.model_validate({"recovery_services": services}))
    manager = RecoveryManager(registry=registry, statistics=RecoveryStatistics(None))
    return HealthSweep(manager, memory=SweepMemory(None))


async def measure(
    service: dict[str, Any], fault: Callable[[], Any], back: Callable[[], Any]
) -> shared.Results:
    """RUNS times: (fault to detection, return to healed) in seconds."""
    sweep = sweep_for([{**service, "probe_timeout": PROBE_TIMEOUT}])
    driver = Driver(sweep, service["name"])
    running = asyncio.ensure_future(driver.run())
    results = []
    try:
        for _ in range(RUNS):
            await asyncio.sleep(random.uniform(0.5, INTERVAL + 0.5))
            await asyncio.to_thread(fault)
            faulted = time.time()
            detected = await driver.first(healthy=False, after=faulted) - faulted
            await asyncio.sleep(random.uniform(0.5, 1.5))
            await asyncio.to_thread(back)
            returned = time.time()
            results.append((detected, await driver.first(healthy=True, after=returned) - returned))
    finally:
        driver.stopped.set()
        await running
        for name in sweep.manager.registry.client_services():
            client = sweep.manager.registry.get(name)
            if client is not None and client.client is not None:
                await client.client.close()
    return results


async def redis_sigkill() -> shared.Results:
    servers: list[RedisServer] = [start_redis_server()]
    port = servers[0].port

    def kill() -> None:
        os.kill(servers[-1].pid, signal.SIGKILL)
        servers[-1].stop()

    def back() -> None:
        servers.append(start_redis_server(port=port))

    try:
        return await measure(
            {"name": "redis", "kind": "redis", "url": f"redis://127.0.0.1:{port}/0"}, kill, back
        )
    finally:
        for server in servers:
            server.stop()


async def behind_proxy(kind: shared.Kind, mode: shared.Mode) -> shared.Results:
    with shared.fault_target(kind, mode) as target:
        return await measure(
            {"name": kind, "kind": kind, "url": target.url}, target.fault, target.back
        )


async def main() -> None:
    print(
        f"sweep every {INTERVAL} s, re-heal every {REHEAL} s, probe timeout {PROBE_TIMEOUT} s, "
        f"{RUNS} runs each; targets: detected <= {INTERVAL + PROBE_TIMEOUT} s "
        f"(interval + probe timeout), healed <= {shared.HEALED_TARGET} s after the return"
    )
    await TABLE.run(shared.fault_cases(redis_sigkill, behind_proxy, MODES))


if __name__ == "__main__":
    asyncio.run(main())
