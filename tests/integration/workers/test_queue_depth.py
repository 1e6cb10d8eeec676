"""Queue depths on the real brokers: messages waiting are counted on Redis (every priority
list) and on RabbitMQ (a passive declare); what cannot be read is None, never 0."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from celery import Celery
from kombu.entity import Exchange, Queue

from outlast.config import Settings
from outlast.workers import create_app
from outlast.workers._queue_depth import QueueDepths, queue_depths


@pytest.fixture
def queue(results: Celery) -> Iterator[str]:
    """A queue of this test's own on the test's broker, deleted afterwards."""
    name = f"depth-{uuid.uuid4().hex[:8]}"
    with results.connection_for_write() as connection:
        _entity(name)(connection.default_channel).declare()
    yield name
    with results.connection_for_write() as connection:
        _entity(name)(connection.default_channel).delete()


def _entity(name: str) -> Any:
    exchange = Exchange(name, type="direct")  # type: ignore[no-untyped-call]
    return Queue(name, exchange, routing_key=name, queue_arguments={"x-max-priority": 9})  # type: ignore[no-untyped-call]


def publish(app: Celery, queue: str, count: int, priority: int = 0) -> None:
    with app.connection_for_write() as connection:
        producer = connection.Producer()
        for n in range(count):
            producer.publish({"n": n}, exchange=queue, routing_key=queue, priority=priority)


def test_waiting_messages_are_counted_whatever_their_priority(results: Celery, queue: str) -> None:
    """Two plain and three high-priority messages: five waiting."""
    publish(results, queue, 2)
    publish(results, queue, 3, priority=9)
    assert queue_depths(results, [queue]) == {queue: 5}


def test_a_reader_reads_again_after_a_queue_it_could_not_read(
    results: Celery, queue: str, broker_url: str
) -> None:
    """A queue that does not exist is 0 on Redis (an empty list) and unknown on RabbitMQ
    (the declare is refused); the same reader then still reads a real queue."""
    publish(results, queue, 1)
    depths = QueueDepths(results, timeout=1.0)
    try:
        missing = depths.read(["no-such-queue-" + uuid.uuid4().hex[:6]])
        assert list(missing.values()) == [0 if broker_url.startswith("redis") else None]
        assert depths.read([queue]) == {queue: 1}
    finally:
        depths.close()


@pytest.mark.parametrize("url", ["redis://127.0.0.1:1/0", "amqp://guest:guest@127.0.0.1:1//"])
def test_a_broker_that_does_not_answer_gives_unknown_depths_at_once(url: str) -> None:
    """Nothing listens on the broker's port: every depth is None, within the timeout."""
    app = create_app(Settings(broker_url=url, redis_url="redis://127.0.0.1:1/0"))
    started = time.monotonic()
    try:
        assert queue_depths(app, ["a", "b"], timeout=0.5) == {"a": None, "b": None}
    finally:
        app.close()
    assert time.monotonic() - started < 3.0
