"""A worker's Prometheus metrics: multiprocess files, task latency, dead letters, retries.

Connected to Celery's signals when ``outlast.workers`` is imported:

- ``worker_init`` (the worker's main process, before the pool forks): when
  ``OUTLAST_METRICS_DIR`` (or ``PROMETHEUS_MULTIPROC_DIR``) is set, the worker's own
  subdirectory (named after its node name) is made and emptied, the subdirectories of
  workers that are gone removed, and multiprocess mode switched on, so every pool child
  writes its own files; recoveries are counted from the recovery manager's callbacks.
- ``task_prerun`` / ``task_postrun`` (where the task runs): ``outlast_task_duration_seconds``
  by task and state; a task that will run again later (state RETRY, or an operation's
  IGNORED: parked in the store) counts in ``outlast_retries_total``, deferrals included;
  then the breakers and bulkheads are sampled (throttled).
- ``task_failure``: for an operation task (``ResilientTask``, whose every failure is a dead
  letter), a dead letter.
- ``worker_process_shutdown`` (a pool child leaving): its live gauges are removed.

The core's events are counted in every process that imports this module (``listen``).
A metric never fails a task: every handler logs and carries on.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
from collections.abc import Callable
from typing import Any, ParamSpec

from celery import signals

from outlast._clock import SYSTEM_CLOCK
from outlast.config import get_metrics_settings
from outlast.monitoring import metrics

__all__: list[str] = []

log = logging.getLogger("outlast.workers")

P = ParamSpec("P")

_starts: dict[str, float] = {}
_starts_lock = threading.Lock()
_sampler: metrics.Sampler | None = None


def _never_raises(handler: Callable[P, None]) -> Callable[P, None]:
    @functools.wraps(handler)
    def guarded(*args: P.args, **kwargs: P.kwargs) -> None:
        try:
            handler(*args, **kwargs)
        except Exception:
            log.exception("metrics: %s failed", handler.__name__)

    return guarded


@signals.worker_init.connect
@_never_raises
def _prepare(sender: Any = None, **_: Any) -> None:
    root = metrics.metrics_dir()
    if root is not None:
        metrics.prune_instances(root)
        node = getattr(sender, "hostname", None) or f"worker-{os.getpid()}"
        path = metrics.prepare(metrics.instance_dir(root, str(node)))
        log.info("metrics: multiprocess files in %s", path)
    from outlast.recovery import recovery_manager

    recovery_manager.add_recovery_callback(_count_recovery)


def _count_recovery(outcome: Any) -> None:
    metrics.count_recovery(outcome.strategy, successful=bool(outcome.successful))


@signals.task_prerun.connect
@_never_raises
def _task_started(task_id: str | None = None, **_: Any) -> None:
    if task_id is not None:
        with _starts_lock:
            _starts[task_id] = SYSTEM_CLOCK.monotonic()


@signals.task_postrun.connect
@_never_raises
def _task_finished(
    task_id: str | None = None, task: Any = None, state: str | None = None, **_: Any
) -> None:
    with _starts_lock:
        started = _starts.pop(task_id, None) if task_id is not None else None
    if started is not None and task is not None:
        elapsed = SYSTEM_CLOCK.monotonic() - started
        metrics.families().task_duration.labels(task.name, state or "UNKNOWN").observe(elapsed)
    if task is not None and _sent_again(task, state):
        metrics.families().retries.labels(task.name).inc()
    _sampler_of_process().maybe_sample()


def _sent_again(task: Any, state: str | None) -> bool:
    """Whether the task will run again later: a retry on the broker (RETRY), or an
    operation's retry or deferral parked in the store (IGNORED: nothing else ignores one)."""
    from outlast.workers.execution._task import (
        ResilientTask,  # _task imports the app, which imports us
    )

    return state == "RETRY" or (state == "IGNORED" and isinstance(task, ResilientTask))


def _sampler_of_process() -> metrics.Sampler:
    global _sampler
    if _sampler is None:
        _sampler = metrics.Sampler(get_metrics_settings().metrics_sample_interval)
    return _sampler


@signals.task_failure.connect
@_never_raises
def _task_failed(sender: Any = None, **_: Any) -> None:
    from outlast.workers.execution._task import (
        ResilientTask,  # _task imports the app, which imports us
    )

    if isinstance(sender, ResilientTask):
        metrics.families().dead_letters.labels(sender.name).inc()


@signals.worker_process_shutdown.connect
@_never_raises
def _child_leaving(**_: Any) -> None:
    if os.environ.get(metrics.ENV_VARIABLE):
        metrics.mark_dead(os.getpid())


metrics.listen()
