"""Two real prefork workers, each with a local breaker opened by a task in its pool
process: the health report shows both breakers, open, while the workers run.

The workers run ``tests/_snapshot_worker_app.py`` (Outlast's worker with the registry
snapshot bootstep); each consumes its own queue, so each breaker lives in a different
worker's pool process.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from celery import Celery

from _api_support import READ_TOKEN, auth
from _workers import TESTS_DIR, WorkerProcess, celery_worker_command, start_worker
from outlast.config import Settings
from outlast.workers import create_app

WORKER_QUEUES = ("payments", "emails")


@pytest.fixture
def workers(redis_url: str, namespace: str) -> Iterator[list[WorkerProcess]]:
    """One snapshot-publishing prefork worker per queue of ``WORKER_QUEUES``."""
    env = {
        "OUTLAST_REDIS_URL": redis_url,
        "OUTLAST_BROKER_URL": redis_url,
        "OUTLAST_NAMESPACE": namespace,
        "PYTHONPATH": os.pathsep.join([str(TESTS_DIR), os.environ.get("PYTHONPATH", "")]),
    }
    started: list[WorkerProcess] = []
    try:
        for queue in WORKER_QUEUES:
            command = celery_worker_command([queue], name=f"snap-{queue}")
            command[command.index("outlast.workers")] = "_snapshot_worker_app"
            started.append(start_worker(env, command))
        yield started
    finally:
        for worker in started:
            worker.stop()


@pytest.fixture
def sender(redis_url: str, namespace: str) -> Iterator[Celery]:
    """A client app on the workers' broker."""
    app = create_app(Settings(broker_url=redis_url, redis_url=redis_url, namespace=namespace))
    yield app
    app.close()


async def breakers_when(
    client: httpx.AsyncClient, wanted: set[str], within: float = 20.0
) -> dict[str, Any]:
    """The report's breakers once every name of ``wanted`` is in it (or after ``within`` s)."""
    deadline = time.monotonic() + within
    while True:
        response = await client.get("/family/health/error-handling", headers=auth(READ_TOKEN))
        breakers: dict[str, Any] = response.json()["error_handling"]["circuit_breakers"]
        if wanted <= set(breakers) or time.monotonic() > deadline:
            return breakers
        await asyncio.sleep(0.2)


async def test_report_shows_each_workers_breaker(
    client: httpx.AsyncClient, workers: list[WorkerProcess], sender: Celery
) -> None:
    """A breaker opened in each worker's pool process shows in the report, open."""
    for queue in WORKER_QUEUES:
        sender.send_task("tests.snapshots.trip", args=[f"{queue}-breaker"], queue=queue)
    wanted = {f"{queue}-breaker" for queue in WORKER_QUEUES}
    breakers = await breakers_when(client, wanted)
    logs = "\n".join(worker.log() for worker in workers)
    assert wanted <= set(breakers), logs
    assert {breakers[name]["state"] for name in wanted} == {"open"}
