"""Each move of a dead worker's messages, as a recovery: a ``RecoveryAttempt`` and a count.

Only the checker whose script moved the messages holds a non-zero count in its report
(``_orphans``), so a race of checkers records a move once: service ``worker:<node name>``
(the dead worker, as the watchdog and the health sweep name a worker), strategy
``requeue_orphans``, details with the dead worker's id, how many messages moved and to
which queues, and which checker moved them. (A worker holding more messages than one
script run moves, split between two racing checkers, is two records whose counts add up.)

The writing happens on a thread of its own, so the heartbeat thread that ran the check
never waits on the store; it counts into the shared recovery statistics first (quick,
never raises), then stores the records. A store or Redis that does not answer is logged,
never raised: the move is done, the record is its copy.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from outlast.workers.orphans._orphans import CheckReport

if TYPE_CHECKING:
    from outlast.recovery import RecoveryStatistics
    from outlast.store import RecoveryAttempt, Store

__all__ = ["STRATEGY", "MoveRecorder", "OrphanMove", "moves_of", "node_name"]

log = logging.getLogger("outlast.workers.orphans")

STRATEGY: Final = "requeue_orphans"


def node_name(worker_id: str) -> str:
    """The node name in a worker id (``<node>:<pid>:<suffix>``, ``new_worker_id``)."""
    parts = worker_id.rsplit(":", 2)
    return parts[0] if len(parts) == 3 else worker_id


@dataclass(frozen=True, slots=True)
class OrphanMove:
    """One checker moved ``moved`` messages of the dead worker ``worker_id`` back."""

    worker_id: str
    moved: int
    queues: dict[str, int] = field(default_factory=dict)
    started_at: float = 0.0
    finished_at: float = 0.0
    by: str | None = None
    """The checker that moved them (a worker id, or the task's node)."""

    @property
    def service(self) -> str:
        return f"worker:{node_name(self.worker_id)}"

    def attempt(self) -> RecoveryAttempt:
        """The store's record of this move."""
        from outlast.store import RecoveryAttempt

        details = {
            "worker": self.worker_id,
            "moved": self.moved,
            "queues": dict(sorted(self.queues.items())),
            "by": self.by,
        }
        return RecoveryAttempt(
            service=self.service, strategy=STRATEGY, started_at=self.started_at,
            finished_at=self.finished_at, successful=True, details=details,
        )  # fmt: skip


def moves_of(
    report: CheckReport, *, started_at: float, finished_at: float, by: str | None
) -> list[OrphanMove]:
    """The moves in ``report``: one per dead worker this check moved messages of."""
    return [
        OrphanMove(worker, count, report.queues.get(worker, {}), started_at, finished_at, by)
        for worker, count in report.moved.items()
        if count > 0
    ]


def _process_statistics() -> RecoveryStatistics | None:
    from outlast.recovery import recovery_manager

    return recovery_manager.statistics


def _process_store() -> Store:
    from outlast.store import open_store

    return open_store()


class MoveRecorder:
    """Records moves from a thread of its own, into the store ``store_source`` opens (a
    new one per batch, closed after) and the ``statistics`` source's counters (the
    process's shared recovery statistics by default)."""

    def __init__(
        self, *, store_source: Callable[[], Store] = _process_store,
        statistics: Callable[[], RecoveryStatistics | None] = _process_statistics,
    ) -> None:  # fmt: skip
        self.store_source = store_source
        self.statistics = statistics

    def record(self, moves: Sequence[OrphanMove], *, wait: float = 0.0) -> None:
        """Start recording ``moves`` (nothing when empty); wait up to ``wait`` seconds for
        it to end. Never raises."""
        if not moves:
            return
        try:
            thread = threading.Thread(
                target=self._write_now, args=(list(moves),), name="outlast-orphan-record",
                daemon=True,
            )  # fmt: skip
            thread.start()
        except RuntimeError as error:  # no thread to be had: the log line is the record
            log.warning("orphans: move not recorded: %s", error)
            return
        if wait > 0:
            thread.join(wait)

    def _write_now(self, moves: list[OrphanMove]) -> None:
        try:
            asyncio.run(self.write(moves))
        except Exception as error:
            log.warning("orphans: move not recorded: %s: %s", type(error).__name__, error)

    async def write(self, moves: Sequence[OrphanMove]) -> None:
        """Count each move, then store each one; failures are logged, never raised."""
        await self._count(moves)
        store = self.store_source()
        try:
            for move in moves:
                await _store_one(store, move)
        finally:
            await store.close()

    async def _count(self, moves: Sequence[OrphanMove]) -> None:
        try:
            statistics = self.statistics()
            for move in moves:
                if statistics is not None:
                    await statistics.record(
                        strategy=STRATEGY, service=move.service, successful=True
                    )
        except Exception as error:
            log.warning("orphans: move not counted: %s: %s", type(error).__name__, error)


async def _store_one(store: Store, move: OrphanMove) -> None:
    try:
        await store.record_recovery_attempt(move.attempt())
    except Exception as error:
        log.warning(
            "orphans: move of worker=%s not stored (%s: %s)",
            move.worker_id, type(error).__name__, error,
        )  # fmt: skip
