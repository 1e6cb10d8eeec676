"""The queues and the route table: the single source of truth for where a task runs.

Every task name maps to one of :data:`QUEUES` through :data:`ROUTES` (glob patterns,
first match wins) or through a route registered with :func:`add_route` (operations an
application registers). A task name that matches nothing is a configuration error, never
a silent fall-through to some default queue.
"""

from __future__ import annotations

import fnmatch
import threading
from types import MappingProxyType
from typing import Any, Final

from outlast.errors import ConfigurationError

__all__ = ["QUEUES", "ROUTES", "add_route", "queue_for", "route_task"]

QUEUES: Final = ("payments", "emails", "operations", "recovery", "monitoring")

ROUTES: Final = MappingProxyType(
    {
        "outlast.payments.*": "payments",
        "outlast.emails.*": "emails",
        "outlast.operations.*": "operations",
        "outlast.recovery.*": "recovery",
        "outlast.monitoring.*": "monitoring",
        "outlast.maintenance.*": "monitoring",
    }
)

_registered: dict[str, str] = {}
_lock = threading.Lock()


def add_route(task_name: str, queue: str) -> None:
    """Route ``task_name`` to ``queue`` (one of QUEUES); a different earlier route is an error."""
    if queue not in QUEUES:
        raise ConfigurationError(f"queue {queue!r} of task {task_name!r} is not one of {QUEUES}")
    with _lock:
        existing = _registered.get(task_name)
        if existing is not None and existing != queue:
            raise ConfigurationError(
                f"task {task_name!r} is already routed to {existing!r}, not {queue!r}"
            )
        _registered[task_name] = queue


def queue_for(task_name: str) -> str:
    """The queue ``task_name`` runs on; ConfigurationError if the route table has none."""
    queue = _registered.get(task_name)
    if queue is not None:
        return queue
    for pattern, queue in ROUTES.items():
        if fnmatch.fnmatchcase(task_name, pattern):
            return queue
    raise ConfigurationError(f"task {task_name!r} has no route; add one to the route table")


def route_task(
    name: str, args: Any, kwargs: Any, options: Any, **extra: Any
) -> dict[str, str] | None:
    """Celery's ``task_routes`` hook: the queue the table names for ``name``.

    A name the table does not know gets no route here (Celery then uses the queue the
    sender gave, else ``operations``); the route-table test keeps every task of ours routed.
    """
    try:
        return {"queue": queue_for(name)}
    except ConfigurationError:
        return None
