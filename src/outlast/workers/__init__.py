"""The Celery worker system: ``celery -A outlast.workers worker`` (or ``outlast worker``).

``app`` is configured from ``outlast.config.Settings`` at import; the route table in
``_queues`` decides every task's queue; async task bodies run on one event loop per worker
process.
"""

from __future__ import annotations

from typing import Any

from celery import signals

from outlast.workers._app import DEFAULT_REDIS_URL, TASK_MODULES, celery_config, create_app
from outlast.workers._loop import close_process_loop, process_loop, run_on_process_loop
from outlast.workers._queues import QUEUES, ROUTES, add_route, queue_for

__all__ = [
    "DEFAULT_REDIS_URL",
    "QUEUES",
    "ROUTES",
    "TASK_MODULES",
    "add_route",
    "app",
    "celery_config",
    "create_app",
    "process_loop",
    "queue_for",
    "run_on_process_loop",
]

app = create_app()


@signals.worker_process_init.connect
def _start_loop(**_: Any) -> None:
    process_loop()


@signals.worker_process_shutdown.connect
def _stop_loop(**_: Any) -> None:
    close_process_loop()
