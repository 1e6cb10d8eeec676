"""One health sweep as the ``outlast.recovery.health_sweep`` task runs it: every configured
service probed, healed or restarted (``outlast.recovery._sweep``), then every worker's
consumption checked and repaired (``_consumption_check``), all from the settings.

The two share the sweep memory in the settings' Redis, so whichever worker process takes
the next sweep goes on where this one stopped, and one sweep runs at a time (a lease).
Never raises a service's or worker's error.
"""

from __future__ import annotations

from typing import Any

from outlast.config import get_recovery_settings
from outlast.recovery import HealthSweep, recovery_manager
from outlast.recovery._configured import configured_services, restart_hook, restart_limit_of
from outlast.recovery._sweep_memory import SweepMemory
from outlast.workers.health._consumption_check import ConsumptionCheck

__all__ = ["run_health_sweep"]


SWEEP_LEASE = 300.0
"""Seconds a sweep holds its lease at most: longer than any sweep (probe, heal, restart
and its wait for the probe), short enough that a sweep killed mid-way blocks few others."""


async def run_health_sweep(app: Any, *, memory: SweepMemory) -> dict[str, Any]:
    """Sweep the services, then the workers, unless another sweep still runs (then the
    report says ``skipped``); the report (the task's result)."""
    token = await memory.lease("sweep", SWEEP_LEASE)
    if token is None:
        return {"skipped": True, "health": {}, "healed": [], "restarted": [], "failed": [],
                "restart_due_in": {}, "consumers": []}  # fmt: skip
    try:
        return await _sweep(app, memory)
    finally:
        await memory.release("sweep", token)


async def _sweep(app: Any, memory: SweepMemory) -> dict[str, Any]:
    settings = get_recovery_settings()
    configured_services()
    sweep = HealthSweep(
        recovery_manager, memory=memory, heals_before_restart=settings.recovery_heals_before_restart
    )
    report = (await sweep.run()).as_dict()
    hook_name = settings.recovery_worker_restart
    hook = restart_hook(settings.recovery_restart_hooks[hook_name]) if hook_name else None
    check = ConsumptionCheck(
        app, recovery_manager, memory=memory, action=settings.recovery_consumption_action,
        restart=hook, restart_limit=restart_limit_of(settings),
        timeout=settings.recovery_inspect_timeout,
        canary_timeout=settings.recovery_canary_timeout or None,
    )  # fmt: skip
    report["consumers"] = await check.run()
    return report
