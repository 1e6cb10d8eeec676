"""A cluster bulkhead limits the calls to a service across every worker process.

Two workers of three pool processes each (six slots) run ten operations that each hold
a permit of the ``tests_gate`` bulkhead (capacity 2, no waiting) for 0.4 s. The operation
counts in Redis how many calls hold a permit at once. Runs once per broker."""

from __future__ import annotations

import os
from pathlib import Path

import redis

from _workers import celery_worker_command, enqueue_from_app, start_worker
from outlast.config import Settings
from outlast.workers import create_app

TESTS_DIR = Path(__file__).resolve().parents[2]
TASKS = 10


def test_a_full_bulkhead_defers_work_across_workers_without_spending_attempts(
    redis_url: str, broker_url: str, namespace: str
) -> None:
    """Six slots in two processes, capacity 2: never more than two calls at once, every
    operation runs exactly once, and the work that found the bulkhead full was deferred."""
    env = {
        "OUTLAST_BROKER_URL": broker_url,
        "OUTLAST_REDIS_URL": redis_url,
        "OUTLAST_TEST_REDIS_URL": redis_url,
        "OUTLAST_NAMESPACE": namespace,
        "OUTLAST_TASK_MODULES": '["_ops_for_tests"]',
        "OUTLAST_BULKHEADS__TESTS_GATE__CAPACITY": "2",
        "OUTLAST_BULKHEADS__TESTS_GATE__TIMEOUT": "0",
        "PYTHONPATH": os.pathsep.join([str(TESTS_DIR), os.environ.get("PYTHONPATH", "")]),
    }
    prefix = f"{namespace}:gate"
    items: list[list[object]] = [["tests.gated", [prefix, i, 0.4], {}, None] for i in range(TASKS)]
    # Two commands: each worker needs a node name of its own (RabbitMQ insists).
    first_command, second_command = (
        celery_worker_command(["operations"], concurrency=3, name=f"gate{n}") for n in (1, 2)
    )
    results = create_app(Settings(broker_url=broker_url, redis_url=redis_url, namespace=namespace))
    try:
        with start_worker(env, first_command) as first, start_worker(env, second_command) as second:
            sent = enqueue_from_app(env, items)
            outcomes = [results.AsyncResult(one["task_id"]).get(timeout=60) for one in sent]
            logs = first.log() + second.log()
    finally:
        results.close()
    client = redis.Redis.from_url(redis_url)
    try:
        peak = int(client.get(f"{prefix}:peak") or 0)
        attempts = [client.llen(f"{prefix}:{i}:attempts") for i in range(TASKS)]
    finally:
        client.close()
    assert outcomes == ["gated"] * TASKS
    assert peak == 2
    assert attempts == [1] * TASKS
    assert "Retry in" in logs  # some work found the bulkhead full and came back later
