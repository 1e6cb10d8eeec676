"""The worker bootstep that publishes each worker process's breakers and bulkheads.

A worker's tasks run in its pool processes (prefork children), so that is where their local
breakers and bulkheads live. :class:`RegistrySnapshotStep` starts a publisher
(:mod:`outlast.resilience.shared._registry_snapshot`) in the worker's main process that
follows forks, and starts one in each pool process at its start (``worker_process_init``)
in case the pool forked first; each publishes its own snapshot to the settings' Redis
every few seconds, and withdraws it when it stops. The health API merges them.

Add it to an app with ``app.steps["worker"].add(RegistrySnapshotStep)``.
"""

from __future__ import annotations

from typing import Any

from celery import bootsteps
from celery.signals import worker_process_init, worker_process_shutdown

from outlast.config import get_settings
from outlast.resilience.shared._redis_link import link_for
from outlast.resilience.shared._registry_snapshot import (
    start_registry_publisher,
    stop_registry_publisher,
)
from outlast.store import DEFAULT_REDIS_URL

__all__ = ["RegistrySnapshotStep", "publish_this_process"]


def publish_this_process(**_: Any) -> None:
    """Start this process's publisher on the settings' Redis (once per process)."""
    settings = get_settings()
    link = link_for(settings.redis_url or DEFAULT_REDIS_URL, settings.namespace)
    start_registry_publisher(link, follow_forks=True)


def withdraw_this_process(**_: Any) -> None:
    """Stop this process's publisher and delete its snapshot."""
    stop_registry_publisher()


class RegistrySnapshotStep(bootsteps.StartStopStep):  # type: ignore[misc]  # celery is untyped
    """Publishes the registries of the worker's main process and of every pool process."""

    label = "registry snapshots"

    def __init__(self, worker: Any, **kwargs: Any) -> None:
        super().__init__(worker, **kwargs)
        worker_process_init.connect(publish_this_process, weak=False)
        worker_process_shutdown.connect(withdraw_this_process, weak=False)

    def start(self, worker: Any) -> None:
        publish_this_process()

    def stop(self, worker: Any) -> None:
        withdraw_this_process()
