"""The monitoring beat tasks run by a real worker process: the statistics snapshot lands
in the store, alerts are raised from the shared numbers, and escalation sends each planned
notification to the notifier as ``outlast.monitoring.notify`` on the monitoring queue."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from celery import Celery

from _workers import WorkerProcess, celery_worker_command, fresh_namespace, start_worker
from outlast.config import Settings
from outlast.errors import ErrorContext
from outlast.monitoring import ErrorMonitor
from outlast.monitoring._escalation import PlannedNotification
from outlast.monitoring._jobs import STATS_KIND
from outlast.store import RedisStore
from outlast.workers import create_app

JOBS_QUEUE = "monitoring-jobs-test"  # the notifications' own queue stays unconsumed


@pytest.fixture
def namespace(redis_url: str) -> Iterator[str]:
    """A namespace of its own; its broker, result, store and monitoring keys go after."""
    with fresh_namespace(redis_url) as name:
        yield name


@pytest.fixture
def env(redis_url: str, namespace: str) -> dict[str, str]:
    """The worker's settings: the test Redis and namespace, groups notified at once."""
    return {
        "OUTLAST_REDIS_URL": redis_url, "OUTLAST_BROKER_URL": redis_url,
        "OUTLAST_NAMESPACE": namespace, "OUTLAST_ALERT_GROUP_WAIT": "0",
    }  # fmt: skip


@pytest.fixture
def worker(env: dict[str, str]) -> Iterator[WorkerProcess]:
    """One prefork process consuming the jobs' test queue."""
    with start_worker(env, celery_worker_command([JOBS_QUEUE])) as running:
        yield running


@pytest.fixture
def app(redis_url: str, namespace: str) -> Iterator[Celery]:
    """A client app on the test's broker and result backend."""
    client = create_app(Settings(broker_url=redis_url, redis_url=redis_url, namespace=namespace))
    yield client
    client.close()


def run(app: Celery, name: str) -> Any:
    """Send task ``name`` to the worker and wait for its result."""
    return app.send_task(f"outlast.monitoring.{name}", queue=JOBS_QUEUE).get(timeout=30)


def queued_notifications(redis_url: str, namespace: str) -> list[dict[str, Any]]:
    """The kwargs of the notify messages waiting on the monitoring queue."""
    with redis.Redis.from_url(redis_url) as client:
        raw = client.lrange(f"outlast:{namespace}:monitoring", 0, -1)
    found = []
    for message in map(json.loads, raw):
        assert message["headers"]["task"] == "outlast.monitoring.notify"
        _, kwargs, _ = json.loads(base64.b64decode(message["body"]))
        found.append(kwargs)
    return found


async def test_beat_tasks_snapshot_alert_and_notify(
    worker: WorkerProcess, app: Celery, redis_url: str, namespace: str
) -> None:
    """25 failures of one service: compute_stats stores them, evaluate_alerts raises the
    error-rate alerts, escalate plans level-1 notifications and sends one notify message
    for each, carrying PlannedNotification.as_dict()."""
    monitor = ErrorMonitor(redis_url=redis_url, namespace=namespace, flush_interval=0.05)
    for _ in range(25):
        monitor.record(ConnectionError("refused"), ErrorContext(operation="payments.charge"))
    assert monitor.flush(timeout=20)
    monitor.close()

    assert run(app, "compute_stats")["stored"] is True
    store = RedisStore(redis_url, namespace=namespace)
    try:
        snapshot = await store.latest_snapshot(STATS_KIND)
    finally:
        await store.close()
    assert snapshot is not None
    assert snapshot.data["total_errors"] == 25

    evaluated = run(app, "evaluate_alerts")
    assert evaluated["evaluated"] is True
    assert any(a.startswith("error_rate_critical:") for a in evaluated["firing"])

    escalated = run(app, "escalate")
    assert escalated["planned"] == escalated["sent"] > 0
    sent = queued_notifications(redis_url, namespace)
    assert len(sent) == escalated["sent"]
    planned = [PlannedNotification.from_dict(k["notification"]) for k in sent]
    assert {p.level for p in planned} == {1}
    assert {p.alert_id for p in planned} <= set(evaluated["firing"])
    assert run(app, "escalate") == {"planned": 0, "sent": 0}

    pruned = run(app, "prune")
    assert pruned == {"events": 0, "snapshots": 0, "alerts": 0, "patterns": 0}
