"""The ledger of sent work: what ``enqueue`` sent, kept in the broker's Redis until it starts.

kombu's Redis transport takes a message off its queue with BRPOP and records it as
unacknowledged in a later command; a broker that dies between the two (a crash, a
failover) loses the message: it is in no queue, not unacknowledged, and never ran. The
ledger makes such a message findable again. ``record_sent`` is called by ``enqueue`` right
after the broker took the message, in one pipelined round trip: the task id in a sorted
set by send time and, in a hash, what it takes to send it again (name, arguments, queue,
ETA). Nothing is written while the work runs or finishes: the sweep
(``outlast.workers.sending._ledger_sweep``) drops entries whose work has started, lazily.

Why this design rather than a reliable fetch (an atomic move into a per-worker list, as
Sidekiq Pro's super_fetch does): the fetch is kombu's, and replacing it means forking the
transport; the ledger leaves Celery's and kombu's semantics intact and costs the happy path
one pipelined round trip per send, paid by the sender, none by the worker.

The ledger lives only on a Redis broker (RabbitMQ does not lose a delivered message that
way). It is never written when the broker refused the message (that work is parked in the
store's retry schedule instead), and a ledger write that fails is logged, never raised: the
message itself was sent.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import redis

from outlast.config import get_settings
from outlast.workers._app import app

__all__ = [
    "PARKED_STATE",
    "Ledger",
    "LedgerEntry",
    "forget_sent",
    "ledger_for",
    "process_ledger",
    "record_sent",
]

log = logging.getLogger("outlast.workers.ledger")

PARKED_STATE: Final = "PARKED"
"""The Celery state of a task whose next attempt waits in the store's retry schedule."""

_DRIVER_ERRORS = (redis.RedisError, OSError)
_REDIS_SCHEMES: Final = ("redis://", "rediss://", "unix://")


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One sent message as the ledger keeps it: enough to send it again, same task id."""

    task_id: str
    name: str
    args: list[Any]
    kwargs: dict[str, Any]
    queue: str
    eta: float | None = None
    """Wall-clock time before which it must not run (a countdown), if any."""

    def to_json(self) -> str:
        return json.dumps(
            {"name": self.name, "args": self.args, "kwargs": self.kwargs, "queue": self.queue,
             "eta": self.eta},
        )  # fmt: skip

    @classmethod
    def from_json(cls, task_id: str, raw: str | bytes) -> LedgerEntry:
        data = json.loads(raw)
        return cls(
            task_id=task_id, name=data["name"], args=data["args"], kwargs=data["kwargs"],
            queue=data["queue"], eta=data.get("eta"),
        )  # fmt: skip


class Ledger:
    """The ledger's keys in one Redis: ``<prefix>ledger`` (sorted set of task ids by send
    time), ``<prefix>ledger:messages`` (hash of entries), ``<prefix>ledger:suspects`` (hash
    of how many sweeps in a row found each one lost)."""

    def __init__(self, client: redis.Redis, *, namespace: str) -> None:
        self.client = client
        base = f"outlast:{namespace}:ledger"
        self.index, self.messages, self.suspects = base, f"{base}:messages", f"{base}:suspects"

    def record(self, entry: LedgerEntry, *, sent_at: float) -> None:
        """Add ``entry`` (one round trip); raises the driver's error when Redis fails."""
        with self.client.pipeline(transaction=False) as pipe:
            pipe.zadd(self.index, {entry.task_id: sent_at})
            pipe.hset(self.messages, entry.task_id, entry.to_json())
            pipe.execute()

    def older_than(self, moment: float, *, limit: int, offset: int = 0) -> list[str]:
        """Task ids sent before ``moment``, oldest first, at most ``limit`` after ``offset``."""
        raw = self.client.zrangebyscore(self.index, "-inf", moment, start=offset, num=limit)
        return [_text(task_id) for task_id in raw]

    def entries(self, task_ids: Sequence[str]) -> list[LedgerEntry]:
        """The entries of ``task_ids`` (an id whose entry is gone is skipped)."""
        raw = self.client.hmget(self.messages, list(task_ids)) if task_ids else []
        return [LedgerEntry.from_json(t, r) for t, r in zip(task_ids, raw, strict=True) if r]

    def drop(self, task_ids: Sequence[str]) -> None:
        """Forget ``task_ids``: their work started or finished."""
        if not task_ids:
            return
        with self.client.pipeline(transaction=False) as pipe:
            pipe.zrem(self.index, *task_ids)
            pipe.hdel(self.messages, *task_ids)
            pipe.hdel(self.suspects, *task_ids)
            pipe.execute()

    def suspect(self, task_ids: Sequence[str], *, cleared: Sequence[str]) -> dict[str, int]:
        """One more sweep found ``task_ids`` lost (``cleared`` were found): the counts."""
        with self.client.pipeline(transaction=False) as pipe:
            if cleared:
                pipe.hdel(self.suspects, *cleared)
            for task_id in task_ids:
                pipe.hincrby(self.suspects, task_id, 1)
            counts = pipe.execute()[1 if cleared else 0 :]
        return {t: int(n) for t, n in zip(task_ids, counts, strict=True)}

    def resent(self, task_id: str, *, at: float) -> None:
        """``task_id`` was sent again at ``at``: its grace starts over, it is no suspect."""
        with self.client.pipeline(transaction=False) as pipe:
            pipe.zadd(self.index, {task_id: at})
            pipe.hdel(self.suspects, task_id)
            pipe.execute()


_clients: dict[tuple[int, str], redis.Redis] = {}


def ledger_for(broker_url: str, namespace: str) -> Ledger | None:
    """This process's ledger on ``broker_url``; None when the broker is not Redis."""
    if not broker_url.startswith(_REDIS_SCHEMES):
        return None
    key = (os.getpid(), broker_url)  # a forked child makes its own connection
    client = _clients.get(key)
    if client is None:
        client = _clients[key] = redis.Redis.from_url(
            broker_url, socket_timeout=2.0, socket_connect_timeout=2.0
        )
    return Ledger(client, namespace=namespace)


_process_ledgers: dict[int, Ledger | None] = {}


def process_ledger() -> Ledger | None:
    """The ledger of this process's app and namespace (None when the broker is not Redis)."""
    pid = os.getpid()
    if pid not in _process_ledgers:
        _process_ledgers[pid] = ledger_for(str(app.conf.broker_url), get_settings().namespace)
    return _process_ledgers[pid]


def record_sent(ledger: Ledger | None, entry: LedgerEntry, *, sent_at: float) -> None:
    """Record a message the broker took; a Redis that fails is logged, never raised."""
    if ledger is None:
        return
    try:
        ledger.record(entry, sent_at=sent_at)
    except _DRIVER_ERRORS as error:
        log.warning("ledger: %s (%s) sent but not recorded: %s", entry.task_id, entry.name, error)


def forget_sent(ledger: Ledger | None, task_id: str) -> bool:
    """Drop ``task_id``'s entry (its work waits elsewhere now); False when Redis failed,
    logged, never raised."""
    if ledger is None:
        return True
    try:
        ledger.drop([task_id])
    except _DRIVER_ERRORS as error:
        log.warning("ledger: %s could not be dropped: %s", task_id, error)
        return False
    return True


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
