"""The ledger sweep: send again the work the broker lost before it ever started.

Beat runs it every ``ledger_sweep_interval`` seconds (``outlast.maintenance.sweep_ledger``).
It looks only at ledger entries (``outlast.workers.sending._ledger``) sent more than
``ledger_grace`` seconds ago, and for each reads, in the order a message moves: its result
state (anything but PENDING, RETRY or PARKED means it started: the entry is dropped; a
retry sent through the broker, or released from the store, is its task's entry from then
on), the broker's queue
lists, kombu's ``unacked`` hash, then its result state again. An entry found nowhere is a
suspect; a suspect found nowhere by the next sweep as well was lost, and is sent again
with the same task id, arguments and queue. Two sweeps in a row, because one reading can
fall between kombu's BRPOP and its unacked write, or between a restore's removal from
``unacked`` and its push back onto the queue.

Sending again is safe for work that is not idempotent: a lost message never started, so
the work runs once; an idempotency key guards what might have started unseen. The sweep
reads whole queue lists only when some entry is past its grace and not started, so a
healthy system pays one sorted-set read per sweep; a long backlog older than the grace
makes each sweep read that backlog (in pages).

It never drops an entry whose work has not started, never sends an entry found in a
queue or unacknowledged, and never raises for one entry's failed send (it stays, and is
tried again at the next sweep).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

import redis

from outlast.workers._queue_depth import redis_keys
from outlast.workers.sending._ledger import PARKED_STATE, Ledger, LedgerEntry

__all__ = ["BrokerView", "ResultStates", "SweepReport", "sweep"]

log = logging.getLogger("outlast.workers.ledger")

_WAITING: Final = frozenset({"PENDING", "RETRY", PARKED_STATE})

LOST_AFTER_SWEEPS: Final = 2
_PAGE = 1000

ResultStates = Callable[[Sequence[str]], dict[str, str]]
"""Reads the Celery result state of task ids ("PENDING" when there is no result)."""


@dataclass(frozen=True, slots=True)
class SweepReport:
    """What one sweep did."""

    checked: int = 0
    started: int = 0
    suspects: int = 0
    resent: int = 0


class BrokerView:
    """The task ids in a Redis broker's queues and in kombu's ``unacked`` hash."""

    def __init__(self, client: redis.Redis, *, prefix: str) -> None:
        self.client = client
        self.prefix = prefix

    def queued(self, queues: Iterable[str]) -> set[str]:
        """Task ids of every message in ``queues`` (each priority list, page by page)."""
        found: set[str] = set()
        for queue in queues:
            for key in redis_keys(f"{self.prefix}{queue}"):
                found.update(_message_id(raw) for raw in self._pages(key))
        return found

    def unacked(self) -> set[str]:
        """Task ids of every message kombu holds as delivered and not yet acknowledged."""
        values = self.client.hvals(f"{self.prefix}unacked")
        return {_message_id(raw, wrapped=True) for raw in values}

    def _pages(self, key: str) -> Iterable[Any]:
        start = 0
        while True:
            page = self.client.lrange(key, start, start + _PAGE - 1)
            yield from page
            if len(page) < _PAGE:
                return
            start += _PAGE


def sweep(
    ledger: Ledger,
    *,
    broker: BrokerView,
    states: ResultStates,
    send: Callable[[LedgerEntry], None],
    now: float,
    grace: float,
    page: int = 500,
    max_pages: int = 20,
) -> SweepReport:
    """One sweep at wall-clock ``now``, through at most ``max_pages`` pages of ``page``
    entries, oldest first (see the module docstring)."""
    seen = _Seen(broker)
    report, offset = SweepReport(), 0
    for _ in range(max_pages):
        ids = ledger.older_than(now - grace, limit=page, offset=offset)
        waiting = _drop_started(ledger, ids, states)
        found = _settle(ledger, ledger.entries(waiting), seen, states, send, now)
        report = SweepReport(
            checked=report.checked + len(ids),
            started=report.started + len(ids) - len(waiting),
            suspects=report.suspects + found.suspects,
            resent=report.resent + found.resent,
        )
        offset += len(waiting)  # the started ones left the sorted set
        if len(ids) < page:
            break
    return report


class _Seen:
    """What the broker holds, read once per sweep: queue lists as needed, then unacked."""

    def __init__(self, broker: BrokerView) -> None:
        self.broker = broker
        self.queued: dict[str, set[str]] = {}
        self.unacked: set[str] | None = None

    def anywhere(self, entries: Sequence[LedgerEntry]) -> set[str]:
        for queue in {e.queue for e in entries} - self.queued.keys():
            self.queued[queue] = self.broker.queued([queue])
        if self.unacked is None:  # after the queues: the order a message moves in
            self.unacked = self.broker.unacked()
        return self.unacked.union(*self.queued.values())


def _settle(
    ledger: Ledger,
    entries: Sequence[LedgerEntry],
    seen: _Seen,
    states: ResultStates,
    send: Callable[[LedgerEntry], None],
    now: float,
) -> SweepReport:
    """Count the entries found nowhere as suspects; send again those lost twice running."""
    if not entries:
        return SweepReport()
    anywhere = seen.anywhere(entries)
    unseen = [e.task_id for e in entries if e.task_id not in anywhere]
    unseen = _drop_started(ledger, unseen, states)  # it may have moved on while we read
    cleared = [e.task_id for e in entries if e.task_id not in unseen]
    counts = ledger.suspect(unseen, cleared=cleared)
    lost = [e for e in entries if counts.get(e.task_id, 0) >= LOST_AFTER_SWEEPS]
    resent = sum(1 for entry in lost if _send_again(ledger, entry, send, now))
    return SweepReport(suspects=len(unseen), resent=resent)


def _drop_started(ledger: Ledger, ids: Sequence[str], states: ResultStates) -> list[str]:
    """Drop the entries whose work has started; the ids still waiting to start (PENDING,
    or RETRY: an attempt ran and its retry message, the entry now, has not started)."""
    state_of = states(ids)
    ledger.drop([t for t in ids if state_of.get(t, "PENDING") not in _WAITING])
    return [t for t in ids if state_of.get(t, "PENDING") in _WAITING]


def _send_again(
    ledger: Ledger, entry: LedgerEntry, send: Callable[[LedgerEntry], None], now: float
) -> bool:
    try:
        send(entry)
    except Exception as error:  # kombu raises its own and OS errors; both mean "not sent"
        log.warning("ledger: %s (%s) lost, not sent again: %s", entry.task_id, entry.name, error)
        return False
    ledger.resent(entry.task_id, at=now)
    log.warning(
        "ledger: task_id=%s name=%s queue=%s lost by the broker before it started; sent again",
        entry.task_id, entry.name, entry.queue,
    )  # fmt: skip
    return True


def _message_id(raw: Any, *, wrapped: bool = False) -> str:
    """The task id in a kombu Redis message (``wrapped``: an unacked ``[message, ...]``)."""
    try:
        message = json.loads(raw)
        if wrapped:
            message = message[0]
        return str(message["headers"]["id"])
    except (ValueError, KeyError, IndexError, TypeError):
        return ""  # not a Celery task message: it names no task of ours
