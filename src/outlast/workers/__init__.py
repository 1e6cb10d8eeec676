"""The Celery worker system: ``celery -A outlast.workers worker`` (or ``outlast worker``).

``app`` is configured from ``outlast.config.Settings`` at import; the route table in
``_queues`` decides every task's queue; async task bodies run on one event loop per worker
process (per pool thread under ``-P threads``).
"""

from __future__ import annotations

from typing import Any

from celery import signals

from outlast.resilience.shared._state_sync import flush_pending_state
from outlast.workers import _startup_checks  # noqa: F401  (warns at start about endpoints it lacks)
from outlast.workers._app import DEFAULT_REDIS_URL, TASK_MODULES, app, celery_config, create_app
from outlast.workers._queues import QUEUES, ROUTES, add_route, queue_for
from outlast.workers.dead_letters import _keep_letter  # noqa: F401  (registers the letter-keeping task)
from outlast.workers.execution._loop import close_process_loop, process_loop, run_on_process_loop
from outlast.workers.execution._operations import OperationSpec, operation, operations, spec_for
from outlast.workers.execution._task import ResilientTask
from outlast.workers.sending._enqueue import enqueue, fallback_to_queue

__all__ = [
    "DEFAULT_REDIS_URL",
    "QUEUES",
    "ROUTES",
    "TASK_MODULES",
    "OperationSpec",
    "ResilientTask",
    "add_route",
    "app",
    "celery_config",
    "create_app",
    "enqueue",
    "fallback_to_queue",
    "operation",
    "operations",
    "process_loop",
    "queue_for",
    "run_on_process_loop",
    "spec_for",
]


@signals.worker_process_init.connect
def _start_loop(**_: Any) -> None:
    process_loop()


@signals.worker_process_shutdown.connect
def _stop_loop(**_: Any) -> None:
    close_process_loop()
    flush_pending_state()  # a pool process ends with os._exit: atexit does not run there
