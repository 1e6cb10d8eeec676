"""A worker whose store is down degrades, never crashes, and loses nothing.

The store (and the cluster breaker state) live on a redis-server this test owns; the
broker and the task results on the test Redis. With the store stopped, an idempotent
operation cannot be claimed, so it is deferred, spending no attempt, and the worker keeps
running; once the store is back on the same port the operation runs, exactly once. Redis
broker only: the outage is the store's, which is the same whatever the broker.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import redis
from celery import Celery

from _servers import start_redis_server
from _workers import celery_worker_command, enqueue_from_app, start_worker
from outlast.config import Settings
from outlast.workers import create_app

TESTS_DIR = Path(__file__).resolve().parents[2]


def test_work_waits_out_a_store_outage_and_then_runs_once(redis_url: str, namespace: str) -> None:
    """Store stopped: the operation is deferred (logged), not run and not dead-lettered;
    store back: it succeeds with exactly one attempt, on the same worker."""
    store = start_redis_server()
    port = store.port
    env = {
        "OUTLAST_BROKER_URL": redis_url,
        "OUTLAST_RESULT_BACKEND": redis_url,
        "OUTLAST_REDIS_URL": store.url,
        "OUTLAST_TEST_REDIS_URL": redis_url,
        "OUTLAST_NAMESPACE": namespace,
        "OUTLAST_TASK_MODULES": '["_ops_for_tests"]',
        "PYTHONPATH": os.pathsep.join([str(TESTS_DIR), os.environ.get("PYTHONPATH", "")]),
    }
    results: Celery = create_app(Settings(broker_url=redis_url, namespace=namespace))
    prefix = f"{namespace}:outage"
    try:
        with start_worker(env, celery_worker_command(["operations"])) as worker:
            store.stop()
            [sent] = enqueue_from_app(env, [["tests.flaky", [prefix, 0], {}, "outage-1"]])
            deadline = time.monotonic() + 30
            while "store unavailable for the claim" not in worker.log():
                assert time.monotonic() < deadline, worker.log()
                time.sleep(0.05)
            store = start_redis_server(port)
            outcome = results.AsyncResult(sent["task_id"]).get(timeout=30)
            alive = worker.running
    finally:
        store.stop()
        results.close()
    client = redis.Redis.from_url(redis_url)
    try:
        attempts = client.llen(f"{prefix}:attempts")
    finally:
        client.close()
    assert (outcome, attempts, alive) == ("charged", 1, True)
