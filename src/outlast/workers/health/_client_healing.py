"""Client healing inside worker processes: after a task attempt fails, the process's shared
Redis and MongoDB clients that no longer answer are replaced before the task's retry,
without a process restart.

After every task that ends in a retry (``RETRY``, or ``IGNORED``: a retry parked in the
store or a deferral), the process probes each service of its registry that has a shared
client (``Service.client``: the built-in Redis and MongoDB services), within the probe
timeout, and heals each that fails: its client is closed and rebuilt, so the retry (and
every later use in this process) connects anew. Each heal goes through the recovery
manager (a ``RecoveryAttempt``, the statistics, ``RecoveryFailed`` when it did not take).
A task that succeeded costs nothing. Errors from the bus of resilience events
(``CallFailed``, e.g. from ``@retry`` inside a task) drop the matching clients at once.
Nothing here raises into the task.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from typing import Any

from celery import signals

from outlast.errors import ErrorContext, ServiceUnavailableError
from outlast.recovery import RecoveryManager, RecoveryStrategy, ServiceRegistry
from outlast.resilience._events import CallFailed, ResilienceEvent, add_listener
from outlast.workers.execution._loop import run_on_process_loop

__all__ = ["heal_broken_clients", "heal_clients_on_failure", "install_client_healing"]

log = logging.getLogger("outlast.recovery")

_RETRY_STATES = frozenset({"RETRY", "IGNORED"})

_installed: list[Callable[[], None]] = []
_lock = threading.Lock()


async def heal_broken_clients(manager: RecoveryManager) -> list[str]:
    """Probe every shared-client service of ``manager.registry``; heal the ones that fail
    (through the manager, recorded); the names healed."""
    registry = manager.registry
    names = registry.client_services()
    results = await asyncio.gather(*(registry.probe(name) for name in names))
    healed = []
    for name, result in zip(names, results, strict=True):
        if result.healthy:
            continue

        async def heal(name: str = name) -> None:
            after = await registry.heal(name)
            if not after.healthy:
                raise ServiceUnavailableError(f"{name} still does not answer: {after.detail}")

        ok, _ = await manager.recover_from_error(
            ServiceUnavailableError(f"{name} failed its probe: {result.detail}"),
            ErrorContext(operation="client_healing", metadata={"service": name}),
            RecoveryStrategy.IMMEDIATE_RETRY, heal, 1, service=name,
        )  # fmt: skip
        log.warning("client healing: %s did not answer; rebuilt its client (%s)", name, ok)
        healed.append(name)
    return healed


def heal_clients_on_failure(
    registry: Callable[[], ServiceRegistry],
) -> Callable[[ResilienceEvent], None]:
    """The bus listener: on a failed call, drop the matching shared clients of ``registry()``."""

    def on_event(event: ResilienceEvent) -> None:
        if not isinstance(event, CallFailed):
            return
        try:
            dropped = registry().invalidate_for(event.error)
        except Exception:
            log.exception("client healing after %s failed", event.operation)
            return
        if dropped:
            log.warning("client healing: %s failed; new clients for %s",
                        event.operation, ", ".join(dropped))  # fmt: skip

    return on_event


def install_client_healing(manager: Callable[[], RecoveryManager]) -> None:
    """Heal after retried tasks and on failed calls, in this process (installed once)."""
    with _lock:
        if _installed:
            return
        _installed.append(add_listener(heal_clients_on_failure(lambda: manager().registry)))

        def after_task(state: str | None = None, **_: Any) -> None:
            if state not in _RETRY_STATES:
                return
            try:
                run_on_process_loop(heal_broken_clients(manager()))
            except Exception:
                log.exception("client healing after a retried task failed")

        signals.task_postrun.connect(after_task, weak=False)
        _installed.append(lambda: signals.task_postrun.disconnect(after_task))
