"""A real worker told to stop consuming a queue (``cancel_consumer``) is found by the next
health sweep (the ``outlast.recovery.health_sweep`` task, run by a worker) and repaired:
it consumes that queue again, and the repair is a ``RecoveryAttempt`` in the store.

The worker's own watchdog is slowed to an hour here, so only the sweep can repair it."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from celery import Celery

from _workers import celery_worker_command, fresh_namespace, start_worker
from outlast.config import Settings
from outlast.store import RedisStore
from outlast.workers import create_app

TESTS_DIR = Path(__file__).resolve().parents[2]


@pytest.fixture
def namespace(redis_url: str) -> Iterator[str]:
    with fresh_namespace(redis_url) as name:
        yield name


def sweep(client: Celery) -> dict[str, object]:
    """Run one health sweep on the worker and return its report."""
    report: dict[str, object] = client.send_task("outlast.recovery.health_sweep").get(timeout=30)
    return report


async def test_a_cancelled_consumer_is_found_by_the_next_sweep_and_repaired(
    redis_url: str, namespace: str
) -> None:
    """cancel_consumer("emails"): the next sweep reports lost_queue, re-adds the consumer,
    records the repair; a task sent to `emails` then runs on that worker."""
    env = {
        "OUTLAST_BROKER_URL": redis_url,
        "OUTLAST_REDIS_URL": redis_url,
        "OUTLAST_NAMESPACE": namespace,
        "OUTLAST_WORKER_WATCHDOG_INTERVAL": "3600",
        "PYTHONPATH": os.pathsep.join([str(TESTS_DIR), os.environ.get("PYTHONPATH", "")]),
    }
    command = celery_worker_command(["emails", "recovery"], concurrency=2, name="sweep")
    worker_name = command[command.index("-n") + 1].replace("%h", socket.gethostname())
    client = create_app(Settings(broker_url=redis_url, redis_url=redis_url, namespace=namespace))
    store = RedisStore(redis_url, namespace=namespace)
    try:
        with start_worker(env, command):
            assert sweep(client)["consumers"] == []  # first sight: its queues remembered
            client.control.cancel_consumer("emails", destination=[worker_name], reply=True)
            started = time.monotonic()
            found = sweep(client)["consumers"]
            assert found == [
                {"worker": worker_name, "queue": "emails", "kind": "lost_queue",
                 "action": "reconsume", "repaired": True},
            ]  # fmt: skip
            ping = client.send_task("outlast.maintenance.ping", queue="emails")
            assert ping.get(timeout=15)["pong"] is True
            repaired_in = time.monotonic() - started
        attempts = await store.list_recovery_attempts(service=f"worker:{worker_name}")
    finally:
        client.close()
        await store.close()
    assert [a.successful for a in attempts] == [True]
    assert attempts[0].details["original_error"] == "ConsumerRepairError"
    assert repaired_in < 15
