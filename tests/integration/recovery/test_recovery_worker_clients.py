"""Inside a real worker process, a task's Redis connection error heals the process's shared
client before the task's retry: a test-owned redis-server SIGKILLed and restarted on the
same port, and the worker's next attempt works on a new client, in the same process."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from _servers import start_redis_server
from _workers import celery_worker_command, fresh_namespace, start_worker
from outlast.config import Settings
from outlast.store import RedisStore
from outlast.workers import create_app

TESTS_DIR = Path(__file__).resolve().parents[2]


@pytest.fixture
def namespace(redis_url: str) -> Iterator[str]:
    with fresh_namespace(redis_url) as name:
        yield name


def _wait_for(read: Callable[[], str], text: str, *, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in read():
            return
        time.sleep(0.05)
    raise AssertionError(f"{text!r} not logged within {timeout} s")


async def test_a_task_heals_the_shared_redis_client_without_a_worker_restart(
    redis_url: str, namespace: str
) -> None:
    """SIGKILL the cache's server while a task needs it: the failed attempt rebuilds the
    client (logged, recorded), the server comes back on its port, the retry answers from
    the same worker process with a newer client generation."""
    server = start_redis_server()
    services = [{"name": "cache", "kind": "redis", "url": server.url, "probe_timeout": 0.5}]
    env = {
        "OUTLAST_BROKER_URL": redis_url,
        "OUTLAST_REDIS_URL": redis_url,
        "OUTLAST_NAMESPACE": namespace,
        "OUTLAST_TASK_MODULES": '["_ops_recovery_cache"]',
        "OUTLAST_RECOVERY_SERVICES": json.dumps(services),
        "PYTHONPATH": os.pathsep.join([str(TESTS_DIR), os.environ.get("PYTHONPATH", "")]),
    }
    client = create_app(Settings(broker_url=redis_url, redis_url=redis_url, namespace=namespace))
    store = RedisStore(redis_url, namespace=namespace)
    back = None
    try:
        with start_worker(env, celery_worker_command(["operations"], name="clients")) as worker:
            first = client.send_task("tests.cache_incr", args=["n"], queue="operations")
            before = first.get(timeout=20)
            os.kill(server.pid, signal.SIGKILL)
            server.stop()
            second = client.send_task("tests.cache_incr", args=["n"], queue="operations")
            _wait_for(worker.log, "client healing: cache", timeout=15)
            back = start_redis_server(port=server.port)
            after = second.get(timeout=30)
        attempts = await store.list_recovery_attempts(service="cache")
    finally:
        client.close()
        await store.close()
        server.stop()
        if back is not None:
            back.stop()
    assert before["value"] == 1
    assert after["value"] == 1  # the restarted server persisted nothing
    assert after["pid"] == before["pid"]
    assert after["generation"] > before["generation"]
    assert attempts, "each heal is recorded as a recovery attempt"
