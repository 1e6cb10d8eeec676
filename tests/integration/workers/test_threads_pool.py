"""``outlast worker -P threads``: each pool thread runs async bodies on a loop of its own.

A loop runs one task at a time, so a process-wide loop would refuse the second of two
tasks that run at once in two pool threads. Redis broker only: the pool, not the broker,
is what this checks (the broker suites run the prefork pool on both).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from celery import Celery

from _workers import celery_worker_command, enqueue_from_app, start_worker
from outlast.config import Settings
from outlast.workers import create_app

TESTS_DIR = Path(__file__).resolve().parents[2]


def test_concurrent_async_and_claiming_tasks_run_on_a_threads_pool(
    redis_url: str, namespace: str
) -> None:
    """Twelve async and twelve idempotent (claiming) operations on three pool threads all
    succeed, with no thread refused by a loop another thread is running."""
    env = {
        "OUTLAST_BROKER_URL": redis_url,
        "OUTLAST_REDIS_URL": redis_url,
        "OUTLAST_TEST_REDIS_URL": redis_url,
        "OUTLAST_NAMESPACE": namespace,
        "OUTLAST_TASK_MODULES": '["_ops_for_tests"]',
        "PYTHONPATH": os.pathsep.join([str(TESTS_DIR), os.environ.get("PYTHONPATH", "")]),
    }
    command = celery_worker_command(["operations"], concurrency=3, pool="threads")
    results: Celery = create_app(Settings(broker_url=redis_url, namespace=namespace))
    try:
        with start_worker(env, command) as worker:
            items: list[list[Any]] = [
                ["tests.async_flaky", [f"{namespace}:a{i}", 0], {}, None] for i in range(12)
            ]
            items += [["tests.flaky", [f"{namespace}:s{i}", 0], {}, None] for i in range(12)]
            outcomes = [
                results.AsyncResult(sent["task_id"]).get(timeout=60)
                for sent in enqueue_from_app(env, items)
            ]
            log = worker.log()
    finally:
        results.close()
    assert outcomes == ["async charged"] * 12 + ["charged"] * 12
    assert "already running" not in log
