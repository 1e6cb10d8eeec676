"""A retry a worker sends through the broker is in the ledger of sent work, as what
``enqueue`` sent is: a broker that loses the retry message before it starts loses no work.
Redis broker only (the ledger guards kombu's Redis transport)."""

from __future__ import annotations

import json

import pytest
import redis
from celery import Celery

from _workers import WorkerProcess, enqueue_from_app
from outlast.workers.execution._envelope import ENVELOPE_KEY

pytestmark = pytest.mark.parametrize("broker_url", ["redis"], indirect=True)


def test_a_retry_sent_through_the_broker_is_recorded_in_the_ledger(
    env: dict[str, str], worker: WorkerProcess, results: Celery, redis_url: str, namespace: str
) -> None:
    """tests.flaky fails once and retries on the broker: the ledger's entry for its task
    is the retry (attempt 2, with its ETA), written by the worker that sent it."""
    [sent] = enqueue_from_app(env, [("tests.flaky", [f"{namespace}:retry", 1], {}, None)])
    assert results.AsyncResult(sent["task_id"]).get(timeout=30) == "charged"
    client = redis.Redis.from_url(redis_url)
    try:
        raw = client.hget(f"outlast:{namespace}:ledger:messages", sent["task_id"])
    finally:
        client.close()
    assert raw is not None, "the ledger holds no entry for the task"
    entry = json.loads(raw)
    assert entry["kwargs"][ENVELOPE_KEY]["attempt"] == 2
    assert entry["eta"] is not None
