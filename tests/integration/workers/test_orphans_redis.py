"""The orphan check against real workers on the Redis broker: a live worker's messages
are never moved, however often checks run while it holds them; a killed worker's are
moved once, however many checks race for them. Heartbeats here beat every 0.5 s and lapse
after 1.5 s, so each test takes seconds."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import redis
from celery import Celery

from _orphan_workers import (
    CONCURRENCY,
    FAST_BEATS,
    HELD,
    Runs,
    held_count,
    orphan_env,
    queue_depth,
    send_runs,
    start_holder,
    wait_until_held,
)
from _workers_killed_holder import kill_holding_worker
from outlast.workers.orphans._orphan_guard import check_orphans

pytestmark = pytest.mark.parametrize("broker_url", ["redis"], indirect=True)


@pytest.fixture
def broker(redis_url: str) -> Iterator[redis.Redis]:
    """A client of the broker (the test Redis)."""
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


def test_a_live_workers_messages_are_never_moved(
    redis_url: str, namespace: str, results: Celery, runs: Runs, broker: redis.Redis
) -> None:
    """Checks every 0.1 s for 4 heartbeat TTLs move nothing of a live worker holding 20."""
    env = orphan_env(redis_url, redis_url, namespace, **FAST_BEATS)
    with start_holder(env):
        send_runs(results, runs.prefix)
        wait_until_held(results, runs)
        assert held_count(results) == HELD
        deadline = time.monotonic() + 6.0
        while time.monotonic() < deadline:
            assert check_orphans(results, client=broker).moved == {}
            time.sleep(0.1)
        assert held_count(results) == HELD
        assert queue_depth(results) == 0
        assert sum(runs.counts()) == CONCURRENCY


def test_a_killed_workers_messages_are_moved_once_by_racing_checks(
    redis_url: str, namespace: str, results: Celery, runs: Runs
) -> None:
    """Four checks racing after the lapse move the 20 once in all; the next moves none."""
    env = orphan_env(redis_url, redis_url, namespace, **FAST_BEATS)
    kill_holding_worker(env, results, runs)
    moved: list[int] = []
    threads = [
        threading.Thread(target=lambda: moved.append(check_orphans(results).total))
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sum(moved) == HELD, moved
    assert queue_depth(results) == HELD
    assert check_orphans(results).moved == {}
    assert queue_depth(results) == HELD
    assert held_count(results) == 0
