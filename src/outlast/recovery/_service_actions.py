"""Heal or restart one named service on request (the ``outlast.recovery.heal`` and
``outlast.recovery.restart`` tasks), through the recovery manager so each is recorded.

A restart runs the service's hook within its restart limit: a restart the limit refuses
is recorded as a failed recovery (``RecoveryFailed``: an error event for monitoring), and
one whose growing delay has not passed is not run (the answer says when it is due). The
restart limit's memory is shared with the health sweep. Never raises a service's error.
"""

from __future__ import annotations

from typing import Any

from outlast.errors import ErrorContext, ServiceUnavailableError
from outlast.recovery._manager import RecoveryManager
from outlast.recovery._restart_limit import LIMIT_HIT
from outlast.recovery._strategy import RecoveryStrategy
from outlast.recovery._sweep_memory import SweepMemory

__all__ = ["heal_service", "heal_service_quietly", "restart_service"]

_SERVICES = "services"  # the health sweep's entry: restart limits live there too


async def heal_service(manager: RecoveryManager, name: str) -> dict[str, Any]:
    """Heal ``name`` once and probe it; what happened."""
    if manager.registry.get(name) is None:
        return {"service": name, "healed": False, "detail": f"no service {name!r}"}
    ok, answer = await manager.recover_from_error(
        ServiceUnavailableError(f"{name}: heal requested"), _context(name, "heal"),
        RecoveryStrategy.IMMEDIATE_RETRY, _healed(manager, name), 1, service=name,
    )  # fmt: skip
    detail = answer.detail if ok else f"{type(answer).__name__}: {answer}"
    return {"service": name, "healed": bool(ok), "detail": detail}


async def heal_service_quietly(manager: RecoveryManager, name: str) -> dict[str, Any]:
    """Heal ``name`` once between sweeps: only a heal that takes is recorded (the sweep
    already recorded the failure; a heal every second must not repeat it)."""
    healed = await manager.registry.heal(name)
    if healed.healthy:

        async def done() -> Any:
            return healed

        await manager.recover_from_error(
            ServiceUnavailableError(f"{name} was unhealthy"), _context(name, "heal"),
            RecoveryStrategy.IMMEDIATE_RETRY, done, 1, service=name,
        )  # fmt: skip
    return {"service": name, "healed": healed.healthy, "detail": healed.detail}


async def restart_service(
    manager: RecoveryManager, name: str, *, memory: SweepMemory
) -> dict[str, Any]:
    """Restart ``name`` through its hook within its restart limit; what happened."""
    registry, clock = manager.registry, manager.clock
    if registry.get(name) is None:
        return {"service": name, "restarted": False, "detail": f"no service {name!r}"}
    remembered = await memory.load(_SERVICES)
    shift = clock.monotonic() - clock.time()
    limiter = registry.limiter(name)
    limiter.restore(remembered.get(name, {}).get("limiter", {}), shift=shift)
    wait = limiter.decide(clock.monotonic())
    if wait > 0:
        return {"service": name, "restarted": False, "due_in": round(wait, 3)}
    ok, answer = await manager.recover_from_error(
        ServiceUnavailableError(f"{name}: restart requested"), _context(name, "restart"),
        RecoveryStrategy.SERVICE_RESTART, _healed(manager, name), 1, service=name,
    )  # fmt: skip
    entry = dict(remembered.get(name, {}))
    entry["limiter"] = limiter.snapshot(shift=-shift)
    await memory.save(_SERVICES, {**remembered, name: entry})
    detail = "restarted" if ok else f"{type(answer).__name__}: {answer}"
    return {"service": name, "restarted": bool(ok), "limit_hit": wait == LIMIT_HIT,
            "detail": detail}  # fmt: skip


def _healed(manager: RecoveryManager, name: str) -> Any:
    async def heal() -> Any:
        healed = await manager.registry.heal(name)
        if not healed.healthy:
            raise ServiceUnavailableError(f"{name} is still unhealthy: {healed.detail}")
        return healed

    return heal


def _context(name: str, action: str) -> ErrorContext:
    return ErrorContext(operation=f"recovery_{action}", metadata={"service": name})
