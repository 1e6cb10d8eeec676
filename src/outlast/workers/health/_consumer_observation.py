"""What the health sweep asks the Celery workers and the broker, to judge consumption.

``observe`` asks every worker that answers a ping what it consumes (``active_queues``), how
many tasks it started (``stats`` totals) and runs now (``active``), and reads each consumed
queue's depth (``_queue_depth``: Redis or RabbitMQ). Blocking (remote control round
trips): the sweep runs it in a thread. It never decides anything; ``_consumption_check``
does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from outlast.workers._queue_depth import queue_depths

__all__ = ["Observation", "observe"]


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
    many tasks it started and runs now; read the depth of every queue they consume.
    Blocking: run it in a thread.

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
