"""``GET /metrics`` through the API collects a prefork worker's children: the tasks they
ran are counted once each, and Prometheus's own parser reads the whole exposition.

The API process and the worker share ``OUTLAST_METRICS_DIR`` (same host), as documented.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families

from _api_support import READ_TOKEN, auth
from _servers import delete_keys_with_prefix
from _workers import TESTS_DIR, WorkerProcess, celery_worker_command, start_worker
from outlast.config import Settings, reload_settings

TASKS = 4


@pytest.fixture
def env(
    redis_url: str, namespace: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    core_settings: Settings,
) -> dict[str, str]:  # fmt: skip
    """The worker's settings; this process (the API) shares its metrics directory."""
    root = tmp_path / "metrics"
    monkeypatch.setenv("OUTLAST_METRICS_DIR", str(root))
    reload_settings()
    return {
        "OUTLAST_REDIS_URL": redis_url,
        "OUTLAST_BROKER_URL": redis_url,
        "OUTLAST_TEST_REDIS_URL": redis_url,
        "OUTLAST_NAMESPACE": namespace,
        "OUTLAST_METRICS_DIR": str(root),
        "OUTLAST_TASK_MODULES": '["_metrics_ops"]',
        "PYTHONPATH": os.pathsep.join([str(TESTS_DIR), os.environ.get("PYTHONPATH", "")]),
    }


@pytest.fixture
def worker(env: dict[str, str]) -> Iterator[WorkerProcess]:
    """A prefork worker with two children on the operations queue."""
    with start_worker(env, celery_worker_command(["operations"], concurrency=2)) as running:
        yield running


def enqueue_ok(env: dict[str, str], prefix: str) -> None:
    """Send ``TASKS`` succeeding tasks from a separate process."""
    script = (
        "import json, sys, _metrics_ops\n"
        "from outlast.workers import enqueue\n"
        "for _ in range(int(sys.argv[2])): enqueue('tests.metrics_ok', sys.argv[1])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, prefix, str(TASKS)],
        capture_output=True, text=True, env={**os.environ, **env}, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


def ok_runs(text: str) -> float:
    """Successful ``tests.metrics_ok`` runs the latency histogram counted, over children."""
    return sum(
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "outlast_task_duration_seconds_count"
        and s.labels.get("task") == "tests.metrics_ok"
        and s.labels.get("state") == "SUCCESS"
    )


async def test_metrics_collect_the_workers_children(
    client: httpx.AsyncClient, env: dict[str, str], worker: WorkerProcess, namespace: str,
    redis_url: str,
) -> None:  # fmt: skip
    """Each task the children ran is counted once in the API's exposition."""
    await asyncio.to_thread(enqueue_ok, env, f"{namespace}:ok")
    text = ""
    for _ in range(150):  # at most 30 s
        response = await client.get("/metrics", headers=auth(READ_TOKEN))
        assert response.status_code == 200, response.text
        text = response.text
        if ok_runs(text) >= TASKS:
            break
        await asyncio.sleep(0.2)
    assert ok_runs(text) == TASKS, worker.log()
    names = {family.name for family in text_string_to_metric_families(text)}
    assert {"outlast_task_duration_seconds", "outlast_circuit_breaker_state"} <= names
    with redis.Redis.from_url(redis_url) as keys:
        delete_keys_with_prefix(keys, f"{namespace}:ok")
