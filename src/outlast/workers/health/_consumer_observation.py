"""What the health sweep asks the Celery workers and the broker, to judge consumption.

``observe`` asks every worker that answers a ping what it consumes (``active_queues``), how
many tasks it started (``stats`` totals) and runs now (``active``), and reads each consumed
queue's depth on a Redis broker. Blocking (remote control round trips): the sweep runs it
in a thread. It never decides anything; ``_consumption_check`` does.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import redis

from outlast.workers.consuming._watchdog import _PRIORITY_SEPARATOR, _PRIORITY_STEPS

__all__ = ["Observation", "observe", "queue_depths"]


@dataclass(frozen=True, slots=True)
class Observation:
    """What the workers and the broker answered: queues per worker, tasks started per
    worker (``stats`` totals), and each queue's depth (None: unknown)."""

    consuming: dict[str, list[str]]
    started: dict[str, int]
    depths: dict[str, int | None]
    busy: dict[str, int] = field(default_factory=dict)
    """Tasks each worker is running now (``inspect active``)."""


def observe(app: Any, *, timeout: float) -> Observation:
    """Ask every worker (those answering a ping within ``timeout``) what it consumes, how
    many tasks it started and runs now; read the depth of every queue they consume (Redis
    broker only). Blocking: run it in a thread.

    The questions go over a connection of their own, closed afterwards: a pooled one would
    stay behind waiting on its reply queue, and a process forked later (a prefork pool, a
    gunicorn worker) would hang in kombu's after-fork cleanup reading that wait's answer.
    """
    with app.connection_for_write() as connection:
        workers = sorted(app.control.inspect(timeout=timeout, connection=connection).ping() or {})
        if not workers:
            return Observation({}, {}, {})
        # Knowing who answers, each question returns as soon as they all did.
        inspect = app.control.inspect(
            timeout=timeout, destination=workers, limit=len(workers), connection=connection
        )
        active = inspect.active_queues() or {}
        stats = inspect.stats() or {}
        running = inspect.active() or {}
    consuming = {w: sorted(q["name"] for q in qs) for w, qs in active.items()}
    started = {w: sum((s.get("total") or {}).values()) for w, s in stats.items()}
    busy = {w: len(tasks) for w, tasks in running.items()}
    names = sorted({q for qs in consuming.values() for q in qs})
    return Observation(consuming, started, queue_depths(app, names), busy)


def queue_depths(app: Any, queues: Iterable[str]) -> dict[str, int | None]:
    """Messages waiting per queue on a Redis broker (all None on another broker, or when
    Redis does not answer)."""
    names = list(queues)
    url = str(app.conf.broker_url or "")
    if not url.startswith(("redis://", "rediss://", "unix://")):
        return dict.fromkeys(names)
    prefix = str((app.conf.broker_transport_options or {}).get("global_keyprefix", ""))
    client = redis.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
    try:
        with client.pipeline(transaction=False) as pipe:
            for name in names:
                keys = [f"{prefix}{name}"]
                keys += [f"{keys[0]}{_PRIORITY_SEPARATOR}{step}" for step in _PRIORITY_STEPS]
                for key in keys:
                    pipe.llen(key)
            lengths = [int(n) for n in pipe.execute()]
    except (redis.RedisError, OSError):
        return dict.fromkeys(names)
    finally:
        client.close()
    per_queue = 1 + len(_PRIORITY_STEPS)
    return {n: sum(lengths[i * per_queue : (i + 1) * per_queue]) for i, n in enumerate(names)}
