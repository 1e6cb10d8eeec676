"""A worker's pool process that shuts down sends what its cluster breakers still hold:
pool processes end with ``os._exit``, so ``atexit`` never runs there, and outcomes recorded
since the last flush would be lost to the cluster's numbers."""

from __future__ import annotations

import pytest
import redis
from celery import Celery

from _workers import celery_worker_command, enqueue_from_app, start_worker
from outlast.resilience.shared._redis_link import RedisLink

pytestmark = pytest.mark.parametrize("broker_url", ["redis"], indirect=True)


def test_a_stopping_pool_process_flushes_its_breaker_outcomes(
    env: dict[str, str], results: Celery, redis_url: str, namespace: str
) -> None:
    """Two successes through the cluster breaker `tests_guarded`, the flusher's next tick a
    minute away: after a warm shutdown the shared state counts both."""
    slow_flush = {**env, "OUTLAST_STATE_FLUSH_INTERVAL": "60"}
    with start_worker(slow_flush, celery_worker_command(["operations"], concurrency=1)):
        for _ in range(2):  # one after the other: the first warms the breaker's view
            [sent] = enqueue_from_app(slow_flush, [("tests.guarded", [f"{namespace}:x"], {}, None)])
            assert results.AsyncResult(sent["task_id"]).get(timeout=30) == "ran"
    key = RedisLink(redis_url, namespace=namespace).key("cb", "tests_guarded")
    client = redis.Redis.from_url(redis_url)
    try:
        assert client.hget(key, "succ") == b"2"
    finally:
        client.close()
