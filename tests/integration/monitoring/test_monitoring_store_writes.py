"""The flusher's store writes: events reach the store in batched writes (Redis pipeline
script, MongoDB insert_many), every one of them, none written twice."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from mongomock_motor import AsyncMongoMockClient

from outlast.errors import ErrorContext
from outlast.monitoring import ErrorMonitor
from outlast.monitoring._store_writer import CHUNK
from outlast.store import MongoStore, RedisStore, Store

EVENTS = 2 * CHUNK + 234  # two whole chunks and a part


@pytest.fixture(params=["redis", "mongomock"])
def open_store(request: pytest.FixtureRequest, redis_url: str, namespace: str
               ) -> Callable[[], Store]:  # fmt: skip
    """Opens a store of the test's namespace on the parametrized backend."""
    if request.param == "redis":
        return lambda: RedisStore(redis_url, namespace=namespace)
    database: Any = AsyncMongoMockClient()["outlast_test"]
    return lambda: MongoStore(database, namespace=namespace)


async def test_every_event_is_stored_once(
    redis_url: str, namespace: str, open_store: Callable[[], Store]
) -> None:
    """1,234 events recorded at once are all stored, each once, with nothing counted as
    unstored, and the store's records carry each event's fingerprint and context."""
    monitor = ErrorMonitor(redis_url=redis_url, namespace=namespace, open_store=open_store,
                           flush_interval=0.05, batch_size=EVENTS)  # fmt: skip
    for index in range(EVENTS):
        monitor.record(ConnectionError(f"refused {index}"), ErrorContext(operation="db.read"))
    assert monitor.flush(timeout=60)
    stats = monitor.get_monitoring_stats()
    monitor.close()
    assert stats["total_errors"] == EVENTS
    assert stats["unstored_here"] == 0
    store = open_store()
    try:
        assert await store.count_error_events() == EVENTS
        since = time.time() - 60
        records = await store.list_error_events(since=since, limit=EVENTS)
    finally:
        await store.close()
    assert len({r.id for r in records}) == EVENTS
    assert len({r.fingerprint for r in records}) == 1
    assert {r.context["service"] for r in records} == {"db"}
