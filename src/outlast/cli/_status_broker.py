"""What the broker says for ``outlast status``: each queue's depth and consumers, and the
workers that answer a ping.

Depths come from the broker itself: the length of the queue's Redis lists (its priority
lists included) or, on RabbitMQ, the message count of a passive declare (which creates
nothing). Consumers and workers come from the workers' own answers to
``inspect().active_queues()`` and ``inspect().ping()``, each waited for ``timeout`` seconds.
A broker that cannot be reached is one line naming it, never a wait on Celery's retries.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from celery import Celery

from outlast.cli._console import CommandError
from outlast.store._errors import redact_url
from outlast.workers._queue_depth import queue_depths

__all__ = ["broker_view", "check_broker"]


def broker_view(app: Celery, *, timeout: float) -> dict[str, Any]:
    """``{"queues": {name: {depth, consumers}}, "workers": [names]}``."""
    check_broker(app, timeout)
    with ThreadPoolExecutor(max_workers=2) as pool:  # each waits ``timeout``: wait once
        asked = pool.submit(_ask, app, timeout, "active_queues")
        pinged = pool.submit(_ask, app, timeout, "ping")
        active: dict[str, Any] = asked.result() or {}
        workers = sorted((pinged.result() or {}).keys() | active.keys())
    consumed = {w: {q["name"] for q in queues} for w, queues in active.items()}
    names = sorted(set(_declared()) | {q for qs in consumed.values() for q in qs})
    depths = queue_depths(app, names, timeout=timeout)
    queues = {
        name: {"depth": depths.get(name),
               "consumers": sorted(w for w, qs in consumed.items() if name in qs)}
        for name in names
    }  # fmt: skip
    return {"queues": queues, "workers": workers}


def _ask(app: Celery, timeout: float, question: str) -> Any:
    """Every worker's answer to ``inspect().<question>()``, over a connection of its own
    that is closed afterwards (a pooled one would be left waiting on its reply queue)."""
    with app.connection_for_write() as connection:
        return getattr(app.control.inspect(timeout=timeout, connection=connection), question)()


def _declared() -> tuple[str, ...]:
    from outlast.workers import QUEUES

    return tuple(QUEUES)


def check_broker(app: Celery, timeout: float) -> None:
    """CommandError unless the broker accepts a connection within ``timeout`` seconds."""
    with app.connection_for_write() as connection:
        try:
            connection.ensure_connection(max_retries=1, interval_start=0, timeout=timeout)
        except Exception as error:  # kombu raises the transport's own errors
            url = redact_url(str(app.conf.broker_url))
            raise CommandError(
                f"the broker at {url} does not answer ({type(error).__name__})"
            ) from None
