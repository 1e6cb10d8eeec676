"""``HealthSweep``: probe every registered service, record its health, heal what is
unhealthy, and restart (through its hook, within its restart limit) what stayed unhealthy
after ``heals_before_restart`` failed heals in a row.

Each heal and restart goes through the recovery manager, so it is stored as a
``RecoveryAttempt``, counted in the shared statistics, and, when it fails, announced as
``RecoveryFailed`` (monitoring records it as an error event whose recovery failed). A
restart the limit refuses is one such failure, announced once until the limit lets a
restart through again; a restart whose growing delay has not passed waits for a later
sweep (a sweep never sleeps it out). What a sweep must remember lives in ``SweepMemory``.
This module never raises a probe's, healer's or hook's error.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from outlast.errors import ErrorContext, ServiceUnavailableError
from outlast.recovery._manager import RecoveryManager
from outlast.recovery._probe import ProbeResult
from outlast.recovery._restart_limit import LIMIT_HIT
from outlast.recovery._strategy import RecoveryStrategy
from outlast.recovery._sweep_memory import SweepMemory

__all__ = ["HealthSweep", "SweepReport"]

_SERVICES = "services"


@dataclass(frozen=True, slots=True, kw_only=True)
class SweepReport:
    """What one sweep saw (each probe's answer and when it came: ``checked_at``, wall
    clock) and did, by service name (JSON-friendly through ``as_dict``)."""

    health: dict[str, dict[str, Any]] = field(default_factory=dict)
    healed: list[str] = field(default_factory=list)
    restarted: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    restart_due_in: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-friendly copy (the task's result)."""
        return {
            "health": self.health,
            "healed": self.healed,
            "restarted": self.restarted,
            "failed": self.failed,
            "restart_due_in": self.restart_due_in,
        }


class HealthSweep:
    """One sweep over ``manager.registry``; ``run`` may be called again for the next."""

    def __init__(
        self,
        manager: RecoveryManager,
        *,
        memory: SweepMemory,
        heals_before_restart: int = 2,
    ) -> None:
        if heals_before_restart < 1:
            raise ValueError("heals_before_restart must be >= 1")
        self.manager = manager
        self.memory = memory
        self.heals_before_restart = heals_before_restart

    async def run(self) -> SweepReport:
        """Probe all, recover the unhealthy concurrently, remember, and report."""
        registry, clock = self.manager.registry, self.manager.clock
        remembered = await self.memory.load(_SERVICES)
        wall_to_mono = clock.monotonic() - clock.time()
        for name in registry.names():
            limiter = remembered.get(name, {}).get("limiter")
            if isinstance(limiter, dict):
                registry.limiter(name).restore(limiter, shift=wall_to_mono)
        results = await registry.probe_all()
        checked_at = clock.time()
        health = {n: {**r.as_dict(), "checked_at": checked_at} for n, r in results.items()}
        report = SweepReport(health=health)
        entries = {name: dict(remembered.get(name, {})) for name in results}
        await asyncio.gather(
            *(
                self._recover(name, result, entries[name], report)
                for name, result in results.items()
                if not result.healthy
            )
        )
        for name, result in results.items():
            if result.healthy:
                entries[name].update(failed_heals=0, limit_reported=False)
            entries[name]["health"] = health[name]
            entries[name]["limiter"] = registry.limiter(name).snapshot(shift=-wall_to_mono)
        await self.memory.save(_SERVICES, entries)
        return report

    async def _recover(
        self, name: str, seen: ProbeResult, entry: dict[str, Any], report: SweepReport
    ) -> None:
        if await self._heal(name, seen):
            entry["failed_heals"] = 0
            report.healed.append(name)
            return
        entry["failed_heals"] = int(entry.get("failed_heals", 0)) + 1
        service = self.manager.registry.get(name)
        if service is None or service.restart is None:
            report.failed.append(name)
            return
        if entry["failed_heals"] < self.heals_before_restart:
            report.failed.append(name)
            return
        await self._restart(name, seen, entry, report)

    async def _heal(self, name: str, seen: ProbeResult) -> bool:
        ok, _ = await self.manager.recover_from_error(
            _unhealthy(name, seen), _context(name), RecoveryStrategy.IMMEDIATE_RETRY,
            self._healed(name), 1, service=name,
        )  # fmt: skip
        return bool(ok)

    def _healed(self, name: str) -> Callable[[], Awaitable[ProbeResult]]:
        """The recovery function: heal ``name``; raises while it is still unhealthy."""
        registry = self.manager.registry

        async def heal() -> ProbeResult:
            healed = await registry.heal(name)
            if not healed.healthy:
                raise ServiceUnavailableError(f"{name} is still unhealthy: {healed.detail}")
            return healed

        return heal

    async def _restart(
        self, name: str, seen: ProbeResult, entry: dict[str, Any], report: SweepReport
    ) -> None:
        registry, clock = self.manager.registry, self.manager.clock
        wait = registry.limiter(name).decide(clock.monotonic())
        if wait == LIMIT_HIT and entry.get("limit_reported"):
            report.failed.append(name)
            return
        if wait > 0:
            report.restart_due_in[name] = round(wait, 3)
            report.failed.append(name)
            return
        ok, _ = await self.manager.recover_from_error(
            _unhealthy(name, seen), _context(name), RecoveryStrategy.SERVICE_RESTART,
            self._healed(name), 1, service=name,
        )  # fmt: skip
        if ok:
            entry.update(failed_heals=0, limit_reported=False)
            report.restarted.append(name)
            return
        entry["limit_reported"] = wait == LIMIT_HIT
        report.failed.append(name)


def _unhealthy(name: str, seen: ProbeResult) -> ServiceUnavailableError:
    return ServiceUnavailableError(f"{name} failed its probe: {seen.detail}")


def _context(name: str) -> ErrorContext:
    return ErrorContext(operation="health_sweep", metadata={"service": name})
