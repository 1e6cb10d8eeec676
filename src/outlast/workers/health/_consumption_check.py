"""The health sweep's check of the Celery workers: alive, but consuming their queues?

A worker can reconnect after a broker drop and answer ``inspect ping`` for ever while it
never takes another task (Celery #8030, #10205, #10302), and an operator's
``cancel_consumer`` leaves the same state behind. From outside, per queue, the sweep sees:

- **lost queue**: a worker's ``active_queues`` no longer holds a queue it was seen
  consuming by an earlier sweep (the queues each worker consumed are remembered in
  ``SweepMemory``);
- **stalled queue**: the queue's depth (Redis broker) grew since the last sweep while the
  workers consuming it started no task at all (their ``stats`` totals did not move) and
  run none now (a worker busy with one long task is not stuck);
- **canary lost**: a canary task sent to the queue by an earlier sweep did not run within
  ``canary_timeout`` while its consumers were idle (``_canary``; any broker).

What it does then is ``recovery_consumption_action``: ``reconsume`` (the default: cancel
and re-add the consumer of that queue on that worker through ``app.control``; for a lost
canary, whose consumer may sit on a frozen connection that a new consumer would share, the
worker is told to drop its broker connection and reconnect, once per sweep: the
``outlast_reconnect`` command of ``consuming._reconnect``), ``restart``
(the allow-listed hook ``recovery_worker_restart`` names, within the restart limit), or
``record`` only. Each finding goes through the recovery manager as service
``worker:<hostname>``: a ``RecoveryAttempt`` in the store, the shared statistics, and a
``RecoveryFailed`` (an error event for monitoring) when the repair failed. The decision
(``findings``) is pure; only ``observe`` and the repairs talk to the workers. Never raises
a worker's or broker's error into the sweep.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from outlast.errors import ErrorContext, ServiceUnavailableError
from outlast.recovery import (
    RecoveryManager,
    RecoveryStrategy,
    RestartHook,
    RestartLimit,
    RestartLimiter,
)
from outlast.recovery._restart_limit import LIMIT_HIT
from outlast.recovery._sweep_memory import SweepMemory
from outlast.workers.consuming._reconnect import RECONNECT_COMMAND
from outlast.workers.health._canary import canary_findings, canary_states, send_canaries
from outlast.workers.health._consumer_observation import Observation, observe

__all__ = [
    "ConsumerRepairError",
    "ConsumptionCheck",
    "Finding",
    "Observation",
    "findings",
    "observe",
]

log = logging.getLogger("outlast.workers.consumption")

_WORKERS = "workers"
_QUEUES = "queues"
_FORGET_WORKER_AFTER = 3600.0  # a worker unseen this long is gone (not stuck)

Action = Literal["reconsume", "restart", "record"]


class ConsumerRepairError(ServiceUnavailableError):
    """A worker did not consume a queue it should, and the repair did not take."""


@dataclass(frozen=True, slots=True)
class Finding:
    """Worker ``worker`` does not consume ``queue`` as it should (``kind`` says how seen)."""

    kind: Literal["lost_queue", "stalled_queue", "canary_lost"]
    worker: str
    queue: str


def findings(
    observed: Observation, remembered: Mapping[str, Any], now: float
) -> tuple[list[Finding], dict[str, Any]]:
    """The findings, and what to remember for the next sweep (pure)."""
    workers = dict(remembered.get(_WORKERS, {}))
    queues_before = remembered.get(_QUEUES, {})
    found: list[Finding] = []
    for worker, current in sorted(observed.consuming.items()):
        known = set(workers.get(worker, {}).get("queues", []))
        found += [Finding("lost_queue", worker, q) for q in sorted(known - set(current))]
        workers[worker] = {"queues": sorted(known | set(current)), "seen_at": now}
    workers = {w: e for w, e in workers.items() if now - e["seen_at"] < _FORGET_WORKER_AFTER}
    queues: dict[str, Any] = {}
    for queue, depth in sorted(observed.depths.items()):
        consumers = sorted(w for w, qs in observed.consuming.items() if queue in qs)
        started = sum(observed.started.get(w, 0) for w in consumers)
        queues[queue] = {"depth": depth, "started": started}
        before = queues_before.get(queue, {})
        idle = not any(observed.busy.get(w, 0) for w in consumers)
        if idle and _stalled(before, depth, started):
            found += [Finding("stalled_queue", w, queue) for w in consumers]
    return found, {_WORKERS: workers, _QUEUES: queues}


def _stalled(before: Mapping[str, Any], depth: int | None, started: int) -> bool:
    """Depth grew since the last sweep while the consumers started nothing."""
    previous = before.get("depth")
    if depth is None or previous is None:
        return False
    return bool(depth > previous and started == before.get("started"))


def reconnect(app: Any, worker: str, *, timeout: float) -> None:
    """Tell ``worker`` to drop its broker connection and reconnect every consumer;
    ConsumerRepairError if it did not confirm."""
    with app.connection_for_write() as connection:
        replies = app.control.broadcast(
            RECONNECT_COMMAND, destination=[worker], reply=True, timeout=timeout,
            connection=connection,
        )  # fmt: skip
    answers = [answer for reply in replies or [] for answer in reply.values()]
    if not any("ok" in answer for answer in answers):
        raise ConsumerRepairError(f"{worker} did not confirm a reconnect: {answers}")


def reconsume(app: Any, worker: str, queue: str, *, timeout: float) -> None:
    """Cancel and re-add ``worker``'s consumer of ``queue``; ConsumerRepairError if the
    worker did not confirm the new consumer."""
    control = app.control
    control.cancel_consumer(queue, destination=[worker], reply=True, timeout=timeout)
    replies = control.add_consumer(queue, destination=[worker], reply=True, timeout=timeout)
    answers = [answer for reply in replies or [] for answer in reply.values()]
    if not any("ok" in answer for answer in answers):
        raise ConsumerRepairError(f"{worker} did not re-add its consumer of {queue}: {answers}")


class ConsumptionCheck:
    """One check per sweep: observe, decide, repair each finding through ``manager``."""

    def __init__(
        self,
        app: Any,
        manager: RecoveryManager,
        *,
        memory: SweepMemory,
        action: Action = "reconsume",
        restart: RestartHook | None = None,
        restart_limit: RestartLimit | None = None,
        timeout: float = 1.0,
        canary_timeout: float | None = 10.0,
        observer: Callable[[], Observation] | None = None,
    ) -> None:
        self.app = app
        self.manager = manager
        self.memory = memory
        self.action: Action = action
        self.restart = restart
        self.limiter = RestartLimiter(restart_limit)
        self.timeout = timeout
        self.canary_timeout = canary_timeout
        self._observe = observer or (lambda: observe(app, timeout=timeout))
        self._restarted = False
        self._reconnected: set[str] = set()

    async def run(self) -> list[dict[str, Any]]:
        """Check once; what was found and whether its repair took."""
        try:
            seen = await asyncio.to_thread(self._observe)
        except Exception as error:  # workers or broker not answering: next sweep
            log.warning("consumption check: no answer: %s: %s", type(error).__name__, error)
            return []
        remembered = await self.memory.load("consumption")
        shift = self.manager.clock.monotonic() - _now(self.manager)
        self.limiter.restore(remembered.get("restarts", {}), shift=shift)
        found, keep = findings(seen, remembered, _now(self.manager))
        if self.canary_timeout is not None:
            found, keep["canaries"] = await self._canaries(seen, remembered, found)
        self._restarted = False
        self._reconnected = set()
        done = [await self._repair(finding) for finding in found]
        keep["restarts"] = self.limiter.snapshot(shift=-shift)
        await self.memory.save("consumption", keep)
        return done

    async def _canaries(
        self, seen: Observation, remembered: Mapping[str, Any], found: list[Finding]
    ) -> tuple[list[Finding], dict[str, Any]]:
        """Judge the canaries sent before, send new ones; the findings with the lost ones."""
        assert self.canary_timeout is not None
        pending = remembered.get("canaries", {})
        try:
            ids = [str(c.get("id")) for c in pending.values()]
            states = await asyncio.to_thread(canary_states, self.app, ids)
            lost, out = canary_findings(
                pending, states, seen.consuming, seen.busy,
                now=_now(self.manager), timeout=self.canary_timeout,
            )  # fmt: skip
            queues = sorted({q for qs in seen.consuming.values() for q in qs} - set(out))
            expires = max(self.canary_timeout * 3, 60.0)
            out |= await asyncio.to_thread(
                send_canaries, self.app, queues, now=_now(self.manager), expires=expires
            )
        except Exception as error:  # no result backend or broker: judged next sweep
            log.warning("consumption check: canaries: %s: %s", type(error).__name__, error)
            return found, dict(pending)
        seen_pairs = {(f.worker, f.queue) for f in found}
        extra = [Finding("canary_lost", w, q) for w, q in lost if (w, q) not in seen_pairs]
        return found + extra, out

    async def _repair(self, finding: Finding) -> dict[str, Any]:
        log.warning(
            "consumption check: worker=%s queue=%s %s; action=%s",
            finding.worker, finding.queue, finding.kind, self.action,
        )  # fmt: skip
        lost = ConsumerRepairError(f"{finding.worker} {finding.kind}: {finding.queue}")
        context = ErrorContext(
            operation="health_sweep",
            metadata={"queue": finding.queue, "finding": finding.kind, "action": self.action},
        )
        ok, _ = await self.manager.recover_from_error(
            lost, context, RecoveryStrategy.IMMEDIATE_RETRY, self._repair_function(finding), 1,
            service=f"worker:{finding.worker}",
        )  # fmt: skip
        return {"worker": finding.worker, "queue": finding.queue, "kind": finding.kind,
                "action": self.action, "repaired": bool(ok)}  # fmt: skip

    def _repair_function(self, finding: Finding) -> Callable[[], Any]:
        async def repair() -> None:
            if self.action == "reconsume" and finding.kind == "canary_lost":
                await self._reconnect(finding.worker)
            elif self.action == "reconsume":
                await asyncio.to_thread(
                    reconsume, self.app, finding.worker, finding.queue, timeout=self.timeout
                )
            elif self.action == "restart" and self.restart is not None:
                await self._restart_workers(self.restart)
            else:
                raise ConsumerRepairError(f"left as is (action {self.action!r})")

        return repair

    async def _reconnect(self, worker: str) -> None:
        """Have ``worker`` reconnect, once per sweep however many of its canaries were lost."""
        if worker in self._reconnected:
            return
        self._reconnected.add(worker)
        await asyncio.to_thread(reconnect, self.app, worker, timeout=self.timeout)

    async def _restart_workers(self, hook: RestartHook) -> None:
        """Run the workers' restart hook once per sweep, within its restart limit."""
        if self._restarted:
            return
        now = self.manager.clock.monotonic()
        wait = self.limiter.decide(now)
        if wait == LIMIT_HIT:
            raise ConsumerRepairError("workers' restart limit hit")
        if wait > 0:
            raise ConsumerRepairError(f"workers' next restart is due in {wait:.0f} s")
        self.limiter.restarted(now)
        self._restarted = True
        await hook.restart()


def _now(manager: RecoveryManager) -> float:
    return manager.clock.time()
