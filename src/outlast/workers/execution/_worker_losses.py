"""Work that kills its worker process: each message's starts, counted in Redis.

Late acks with reject-on-worker-lost requeue a message whose pool process died, so a
message that kills the process running it (a segfault in a C extension, the OOM killer)
would otherwise be redelivered forever. Each start of an operation's message is counted in
Redis under its task id, so the count survives the process that died and works on every
broker. Every finish of the start (a result, a retry, a deferral, a dead letter) deletes
the count; after a result, together with the process's next count (one round trip per
message). A start that finds ``max_worker_losses`` earlier starts that never finished does
not run the work: it is dead-lettered (reason ``worker_lost``) with the number of starts
and the signal or exit code the pool reported (which the worker's main process records
here when it sees the pool process die), and the message is acknowledged.

The trade-off: Celery cannot tell a process its task killed from one killed from outside
(a deploy's SIGKILL, the host going down). Only starts of *this* message count, and only
while it was the one running: a prefetched message waiting in a killed worker never
started, and a message killed once from outside usually finishes at its next start, which
resets its count. So outside kills dead-letter a message only when it was running at
``max_worker_losses`` kills in a row (a very long task on a worker restarted that often);
its letter can be replayed, with a count of its own.

This module never runs an operation, and never raises when Redis does not answer: the
start then goes uncounted (logged), and the work runs.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import redis

from outlast._clock import SYSTEM_CLOCK
from outlast.config import Settings, get_settings
from outlast.workers._app import DEFAULT_REDIS_URL
from outlast.workers.execution._envelope import Envelope
from outlast.workers.execution._operations import OperationSpec

if TYPE_CHECKING:
    from outlast.workers.execution._task import ResilientTask

__all__ = [
    "RECORD_TTL",
    "Starts",
    "WorkerLostTooOftenError",
    "count_start",
    "forget_starts",
    "pool_status",
    "record_loss",
    "refuse_after_losses",
    "too_many_losses",
]

log = logging.getLogger("outlast.workers")

# Only starts that never finished leave a record behind; a day outlives any redelivery.
RECORD_TTL: Final = 86_400

_DRIVER_ERRORS = (redis.RedisError, OSError)

# Task ids whose starts ended in a result, deleted with the process's next start count.
_finished: list[str] = []
_finished_lock = threading.Lock()

# KEYS[1] the record, KEYS[2..] records of finished starts; ARGV now, ttl. Deletes the
# finished ones, counts one more start: {starts, first start, last loss}.
_COUNT_START: Final = """
if #KEYS > 1 then redis.call('DEL', unpack(KEYS, 2)) end
local starts = redis.call('HINCRBY', KEYS[1], 'starts', 1)
redis.call('HSETNX', KEYS[1], 'first_started_at', ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[2])
local first = redis.call('HGET', KEYS[1], 'first_started_at')
return {starts, first, redis.call('HGET', KEYS[1], 'lost_to') or ''}
"""


@dataclass(frozen=True, slots=True)
class Starts:
    """The starts of one message so far, this one included, none of which finished before."""

    count: int
    first_started_at: float
    lost_to: str = ""
    """What the pool last reported when a process running it died ("signal 9 (SIGKILL)")."""

    @property
    def unfinished(self) -> int:
        """Earlier starts that never finished: each one's process died running it."""
        return self.count - 1


class WorkerLostTooOftenError(Exception):
    """The message's worker process died during each of its last ``starts`` starts.

    Built by :meth:`after` (the message) and rebuilt from its message alone by Celery's
    result backend, so the count and the pool's report live in the text as well.
    """

    def __init__(self, message: str, *, starts: int = 0, lost_to: str = "") -> None:
        super().__init__(message)
        self.starts = starts
        self.lost_to = lost_to

    @classmethod
    def after(cls, *, starts: int, lost_to: str) -> WorkerLostTooOftenError:
        """The error of a message whose ``starts`` starts each lost their process."""
        reported = f"; the pool reported {lost_to}" if lost_to else ""
        message = f"started {starts} times without finishing, its worker process died each time"
        return cls(message + reported, starts=starts, lost_to=lost_to)


def too_many_losses(starts: Starts | None, limit: int) -> WorkerLostTooOftenError | None:
    """The error to dead-letter the message with when ``limit`` starts died, else None."""
    if starts is None or starts.unfinished < limit:
        return None
    return WorkerLostTooOftenError.after(starts=starts.unfinished, lost_to=starts.lost_to)


def refuse_after_losses(
    task: ResilientTask,
    spec: OperationSpec,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    envelope: Envelope,
) -> None:
    """Count this start; dead-letter the message instead of running it (the letter raises
    its error) when its worker process died during its last ``max_worker_losses`` starts."""
    task_id = str(task.request.id)
    limit = spec.max_worker_losses or get_settings().max_worker_losses
    starts = count_start(task_id, now=SYSTEM_CLOCK.time())
    lost = too_many_losses(starts, limit)
    if lost is None:
        if starts is not None and starts.unfinished:
            log.warning(
                "%s[%s]: start %d, after %d that did not finish (pool: %s)",
                spec.name, task_id, starts.count, starts.unfinished, starts.lost_to or "no report",
            )  # fmt: skip
        return
    try:
        task._dead(spec, args, kwargs, envelope, "worker_lost", lost)
    except WorkerLostTooOftenError:
        forget_starts(task_id)  # the letter is stored: this message is done with
        raise


def count_start(task_id: str, *, now: float) -> Starts | None:
    """Count a start of the message ``task_id``; None (logged) when Redis does not answer."""
    with _finished_lock:
        finished = [_key(done) for done in _finished]
        _finished.clear()
    try:
        raw: Any = _scripts().count_start(
            keys=[_key(task_id), *finished], args=[repr(now), RECORD_TTL]
        )
    except _DRIVER_ERRORS as error:
        log.warning("start of %s not counted, Redis unavailable: %s", task_id, error)
        return None
    count, first, lost_to = raw
    return Starts(int(count), float(first), _text(lost_to))


def forget_starts(task_id: str, *, lazily: bool = False) -> None:
    """The message's start finished: its count is reset (the record lapses if Redis is down).

    ``lazily`` is for a message done for good (a result: its task id is not sent again): its
    record goes with this process's next start count, a round trip saved per message.
    """
    if lazily:
        with _finished_lock:
            _finished.append(task_id)
        return
    try:
        _client().delete(_key(task_id))
    except _DRIVER_ERRORS as error:
        log.warning("starts of %s not reset, Redis unavailable: %s", task_id, error)


def record_loss(task_id: str, status: str) -> None:
    """Note what the pool reported when the process running ``task_id`` died."""
    try:
        with _client().pipeline(transaction=True) as pipe:
            pipe.hset(_key(task_id), "lost_to", status)
            pipe.expire(_key(task_id), RECORD_TTL)
            pipe.execute()
    except _DRIVER_ERRORS as error:
        log.warning("loss of %s (%s) not recorded, Redis unavailable: %s", task_id, status, error)


_PREMATURE = re.compile(r"exited prematurely: (?P<status>.+?)(?: Job: \d+)?\.?$")


def pool_status(error: BaseException) -> str:
    """The signal or exit code in the pool's report of a lost process (its text if none)."""
    if isinstance(error, SystemExit):
        return _exit_status(error.code if isinstance(error.code, int) else 1)
    found = _PREMATURE.search(str(error))
    return found.group("status") if found else str(error)


def _exit_status(code: int) -> str:
    """As billiard words it: "signal 9 (SIGKILL)", "exitcode 1"."""
    if code < 0:
        try:
            return f"signal {-code} ({signal.Signals(-code).name})"
        except ValueError:
            return f"signal {-code}"
    return f"exitcode {code}"


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def _key(task_id: str) -> str:
    settings = get_settings()
    return f"outlast:{settings.namespace}:worker-starts:{task_id}"


@dataclass(frozen=True, slots=True)
class _Connection:
    client: redis.Redis
    count_start: Any  # redis-py's Script: EVALSHA, loading the script when Redis lacks it


_connections: dict[tuple[int, str], _Connection] = {}


def _scripts() -> _Connection:
    """This process's client and script (a forked child makes its own)."""
    where = (os.getpid(), _redis_url(get_settings()))
    connection = _connections.get(where)
    if connection is None:
        client = redis.Redis.from_url(where[1], socket_timeout=2.0, socket_connect_timeout=2.0)
        connection = _connections[where] = _Connection(client, client.register_script(_COUNT_START))
    return connection


def _client() -> redis.Redis:
    return _scripts().client


def _redis_url(settings: Settings) -> str:
    """The Redis the counts live in: the settings' Redis, else a Redis broker, else local."""
    broker = settings.broker_url or ""
    if settings.redis_url:
        return settings.redis_url
    if broker.startswith(("redis://", "rediss://", "unix://")):
        return broker
    return DEFAULT_REDIS_URL
