"""The consumer watchdog: each worker's main process keeps itself consuming.

A worker can stay alive and connected yet never take another message: its broker came
back without its consumers (Celery #8030, #9054, #10205, #10302), or an operator cancelled
a queue's consumer. No task on a queue can notice, since the stuck worker would never take
it, so the check runs inside the worker: a consumer bootstep whose timer, on the worker's
own event loop, every ``worker_watchdog_interval`` seconds compares what the worker
consumes with the queues it was started for, and reads how many messages wait in those
queues (``_queue_depth``: Redis or RabbitMQ).

- A queue it was started for but no longer consumes: the consumer is re-added at once.
- Work waiting, a free pool process, and no message received for ``worker_watchdog_stall``
  seconds: the consumer is stalled. First every queue's consumer is re-added; if it is
  still stalled after another ``worker_watchdog_stall``, the broker connection is dropped
  so Celery reconnects and restarts every consumer; if that does not help either, the
  worker shuts down with exit code ``WATCHDOG_EXIT_CODE`` so its supervisor restarts it
  (and exits with it anyway ``EXIT_GRACE`` seconds after the soft shutdown window, should
  the warm shutdown hang on a dead socket).

Each action is a recovery event: a structured log line (``outlast.workers.watchdog``) and
a ``RecoveryAttempt`` (service ``worker:<name>``) written to the store from a thread of
its own, so the event loop never waits on the store. On a broker whose depth cannot be
read (neither Redis nor RabbitMQ) only missing consumers are re-added. The watchdog never
touches a message, never stops a running task itself, and never raises out of a check
except to reconnect or exit.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import os
import threading
from dataclasses import dataclass
from typing import Any, Final

from celery import bootsteps
from celery.exceptions import WorkerShutdown
from celery.worker import state as worker_state

from outlast._clock import SYSTEM_CLOCK, Clock
from outlast.workers._queue_depth import QueueDepths

__all__ = [
    "WATCHDOG_EXIT_CODE",
    "Action",
    "ConsumerWatchdog",
    "Observation",
    "Watch",
    "WatchdogReconnect",
]

log = logging.getLogger("outlast.workers.watchdog")

WATCHDOG_EXIT_CODE: Final = 75
"""The worker's exit status when re-establishing its consumers failed (EX_TEMPFAIL)."""

DEPTH_TIMEOUT: Final = 0.5
"""Seconds a queue-depth read may take on the worker's event loop."""

EXIT_GRACE: Final = 5.0
"""Seconds the warm shutdown gets beyond the soft shutdown window before the process exits
anyway: closing a channel whose socket silently died can block for ever."""


class WatchdogReconnect(ConnectionResetError):
    """Raised on the event loop to make Celery drop and re-establish the broker connection."""


class Action(enum.Enum):
    """What the watchdog does after a check."""

    NOTHING = "nothing"
    RECONSUME = "reconsume"
    RECONNECT = "reconnect"
    EXIT = "exit"


@dataclass(frozen=True, slots=True)
class Observation:
    """What one check saw."""

    missing: tuple[str, ...]
    """Queues the worker was started for that its consumer does not consume."""
    waiting: int | None
    """Messages waiting in the worker's queues; None when unknown (not Redis, or no answer)."""
    busy: bool
    """Every pool process has a task: not receiving is then expected."""


class Watch:
    """The decision: when is the consumer stalled, and how far recovery has escalated."""

    def __init__(self, *, stall: float, clock: Clock = SYSTEM_CLOCK) -> None:
        self.stall = stall
        self.clock = clock
        self.last_progress = clock.monotonic()
        self.strikes = 0

    def received(self) -> None:
        """A message arrived: the consumer works, recovery starts over."""
        self.last_progress = self.clock.monotonic()
        self.strikes = 0

    def restarted(self) -> None:
        """The consumer (re)started: it gets a full stall period, but a stall that
        outlives a reconnect keeps escalating (to the exit)."""
        self.last_progress = self.clock.monotonic()

    def decide(self, seen: Observation) -> Action:
        """The action for ``seen``; a stall escalates one step per ``stall`` seconds."""
        now = self.clock.monotonic()
        if seen.missing:
            self.last_progress = now
            return Action.RECONSUME
        if not seen.waiting or seen.busy:
            self.last_progress = now
            self.strikes = 0
            return Action.NOTHING
        if now - self.last_progress < self.stall:
            return Action.NOTHING
        self.last_progress = now
        self.strikes += 1
        return (Action.RECONSUME, Action.RECONNECT, Action.EXIT)[min(self.strikes, 3) - 1]


class ConsumerWatchdog(bootsteps.StartStopStep):  # type: ignore[misc]  # Celery is untyped
    """The consumer bootstep that runs the watch on the worker's event loop timer."""

    label = "outlast watchdog"
    requires = ("celery.worker.consumer.tasks:Tasks",)

    def __init__(self, c: Any, **kwargs: Any) -> None:
        super().__init__(c, **kwargs)
        from outlast.config import get_settings  # the worker's settings, read at start

        settings = get_settings()
        self.interval = settings.worker_watchdog_interval
        self.exit_grace = settings.worker_soft_shutdown_timeout + EXIT_GRACE
        self.watch = Watch(stall=settings.worker_watchdog_stall)
        self.queues: tuple[str, ...] = ()
        self.depth: QueueDepths | None = None
        self.timer_entry: Any = None

    def start(self, c: Any) -> None:
        if not self.queues:  # the queues it was started for, before anyone cancels one
            self.queues = tuple(c.app.amqp.queues.consume_from)
            depths = QueueDepths(c.app, timeout=DEPTH_TIMEOUT)
            self.depth = depths if depths.readable else None
            c.on_task_message.add(lambda _request: self.watch.received())
        self.watch.restarted()
        self.timer_entry = c.timer.call_repeatedly(self.interval, self.check, (c,))

    def stop(self, c: Any) -> None:
        if self.timer_entry is not None:
            self.timer_entry.cancel()
            self.timer_entry = None

    def shutdown(self, c: Any) -> None:
        self.stop(c)
        if self.depth is not None:
            self.depth.close()

    def check(self, c: Any) -> None:
        """One check on the event loop: observe, decide, act."""
        if c.task_consumer is None:
            return
        seen = self.observe(c)
        action = self.watch.decide(seen)
        if action is not Action.NOTHING:
            self.act(c, action, seen)

    def observe(self, c: Any) -> Observation:
        consumer = c.task_consumer
        missing = tuple(q for q in self.queues if not consumer.consuming_from(q))
        waiting = _total(self.depth.read(self.queues)) if self.depth is not None else None
        busy = len(worker_state.reserved_requests) >= max(1, c.pool.num_processes)
        return Observation(missing=missing, waiting=waiting, busy=busy)

    def act(self, c: Any, action: Action, seen: Observation) -> None:
        report(c.hostname, action, seen, self.watch.strikes)
        if action is Action.RECONSUME:
            for queue in seen.missing or self.queues:  # a stall: every queue's consumer
                if queue not in seen.missing:
                    c.cancel_task_queue(queue)
                c.add_task_queue(queue)
        elif action is Action.RECONNECT:
            raise WatchdogReconnect("outlast watchdog: consumer stalled, reconnecting")
        else:
            _exit_after(self.exit_grace)
            raise WorkerShutdown(WATCHDOG_EXIT_CODE)


def _total(depths: dict[str, int | None]) -> int | None:
    """All the messages waiting, or None when any queue's count is unknown."""
    counts = list(depths.values())
    return None if None in counts else sum(c for c in counts if c is not None)


def _exit_after(seconds: float) -> None:
    """End the process with ``WATCHDOG_EXIT_CODE`` in ``seconds`` unless it ended before."""

    def exit_now() -> None:
        SYSTEM_CLOCK.sleep(seconds)
        log.error("watchdog: warm shutdown still running after %.0f s; exiting", seconds)
        logging.shutdown()
        os._exit(WATCHDOG_EXIT_CODE)

    threading.Thread(target=exit_now, name="outlast-watchdog-exit", daemon=True).start()


def report(worker: str, action: Action, seen: Observation, strikes: int) -> None:
    """Log the recovery event and record it in the store from a thread of its own."""
    log.warning(
        "watchdog: worker=%s action=%s missing=%s waiting=%s strikes=%d",
        worker, action.value, ",".join(seen.missing) or "-", seen.waiting, strikes,
    )  # fmt: skip
    details = {"action": action.value, "missing": list(seen.missing), "waiting": seen.waiting}
    threading.Thread(
        target=_record, args=(worker, details), name="outlast-watchdog-record", daemon=True
    ).start()


def _record(worker: str, details: dict[str, Any]) -> None:
    """Write the event as a ``RecoveryAttempt``; a store that does not answer is logged."""
    from outlast.store import RecoveryAttempt, open_store

    async def write() -> None:
        store = open_store()
        try:
            now = SYSTEM_CLOCK.time()
            attempt = RecoveryAttempt(
                service=f"worker:{worker}", strategy=f"watchdog_{details['action']}",
                started_at=now, finished_at=now, successful=details["action"] != "exit",
                details=details,
            )  # fmt: skip
            await store.record_recovery_attempt(attempt)
        finally:
            await store.close()

    try:
        asyncio.run(write())
    except Exception as error:  # the log line above is the event; the record is a copy
        log.warning("watchdog: recovery event not stored: %s", error)
