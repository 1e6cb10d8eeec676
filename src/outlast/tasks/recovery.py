"""Recovery tasks on the ``recovery`` queue: heal, restart and the health sweep.

- ``outlast.recovery.heal(service)``: heal the named service once (rebuild its client) and
  probe it.
- ``outlast.recovery.restart(service)``: run its allow-listed restart hook within its
  restart limit; a restart the limit refuses is recorded as a recovery failure.
- ``outlast.recovery.health_sweep()`` (beat, every ``OUTLAST_RECOVERY_SWEEP_INTERVAL`` s):
  probe every service, record health, heal what is unhealthy, restart after repeated
  failed heals; then find workers that stopped consuming a queue and repair them.

Services and hooks come from ``OUTLAST_RECOVERY_*`` (and whatever the application
registered on ``outlast.recovery.services``). Importing this module in a worker also
installs client healing (``outlast.workers.health._client_healing``) and makes monitoring hear
recovery failures (``RecoveryFailed`` becomes an error event with ``recovery_attempted``
and not ``recovery_successful``). The bodies are thin: the logic lives in
``outlast.recovery`` and ``outlast.workers``.
"""

from __future__ import annotations

from typing import Any

import outlast.monitoring  # noqa: F401  (its error monitor hears RecoveryFailed events)
from outlast._clock import SYSTEM_CLOCK
from outlast.config import get_recovery_settings
from outlast.recovery import recovery_manager
from outlast.recovery._configured import configured_services, shared_sweep_memory
from outlast.recovery._service_actions import (
    heal_service,
    heal_service_quietly,
    restart_service,
)
from outlast.workers import app, run_on_process_loop
from outlast.workers.health._canary import CANARY_TASK
from outlast.workers.health._client_healing import install_client_healing
from outlast.workers.health._health_sweep import run_health_sweep

__all__ = ["canary", "heal", "health_sweep", "restart"]


def _manager() -> Any:
    configured_services()
    return recovery_manager


install_client_healing(_manager)


@app.task(name="outlast.recovery.heal")
def heal(service: str, until: float | None = None, every: float = 1.0) -> dict[str, Any]:
    """Heal ``service`` (rebuild its client) and probe it; what happened. With ``until``
    (sent by the sweep for what it could not heal) a heal that did not take is tried again
    ``every`` seconds after the last began until then, and only the heal that takes is
    recorded."""
    if until is None:
        return run_on_process_loop(heal_service(_manager(), service))
    started = SYSTEM_CLOCK.monotonic()
    outcome = run_on_process_loop(heal_service_quietly(_manager(), service))
    took = SYSTEM_CLOCK.monotonic() - started  # a heal that timed out is due again at once
    if not outcome["healed"] and SYSTEM_CLOCK.time() + every < until:
        countdown = max(0.0, every - took)
        heal.apply_async((service,), {"until": until, "every": every}, countdown=countdown)
    return outcome


@app.task(name="outlast.recovery.restart")
def restart(service: str) -> dict[str, Any]:
    """Restart ``service`` through its hook, within its restart limit; what happened."""
    return run_on_process_loop(restart_service(_manager(), service, memory=shared_sweep_memory()))


@app.task(name=CANARY_TASK)
def canary() -> bool:
    """Prove a queue is consumed: the sweep sends one to each queue and checks it ran."""
    return True


@app.task(name="outlast.recovery.health_sweep")
def health_sweep() -> dict[str, Any]:
    """One health sweep over the services and the workers' consumers; its report. What it
    could not heal is healed again every ``recovery_reheal_interval`` s until the next."""
    report = run_on_process_loop(run_health_sweep(app, memory=shared_sweep_memory()))
    settings = get_recovery_settings()
    every = settings.recovery_reheal_interval
    until = SYSTEM_CLOCK.time() + settings.recovery_sweep_interval
    for service in report["failed"]:
        heal.apply_async((service,), {"until": until, "every": every}, countdown=every)
    return report
