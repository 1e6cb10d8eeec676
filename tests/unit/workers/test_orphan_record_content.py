"""A move of a dead worker's messages, as the recovery system records it: what the record
says, that only a check that moved something records, that a store that fails or is slow
costs the check nothing, and that the check's report names the queues the messages went to."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator

import pytest
import redis

from _orphan_support import QUEUE, kombu_redis, publish, take
from _workers import fresh_namespace
from outlast.recovery import RecoveryStatistics
from outlast.resilience.shared._redis_link import link_for
from outlast.store import RedisStore, Store
from outlast.workers.orphans._orphan_records import MoveRecorder, OrphanMove, moves_of, node_name
from outlast.workers.orphans._orphans import CheckReport, KombuRestore, OrphanCheck

DEAD = "orphan-holder@box:4242:0a1b2c3d"
NOW = time.time()  # records older than the retention are not kept


@pytest.fixture
def namespace(redis_url: str) -> Iterator[str]:
    """A store and statistics namespace of this test's own."""
    with fresh_namespace(redis_url) as name:
        yield name


def test_the_record_names_the_dead_worker_the_count_and_the_queues() -> None:
    """service worker:<node>, strategy requeue_orphans, successful, details as moved."""
    report = CheckReport(
        dead=(DEAD, "gone@box:1:ffffffff"),
        moved={DEAD: 5, "gone@box:1:ffffffff": 0},
        queues={DEAD: {"payments": 2, "emails": 3}, "gone@box:1:ffffffff": {}},
    )
    (move,) = moves_of(report, started_at=100.0, finished_at=100.5, by="heir@box:7:12345678")
    attempt = move.attempt()
    assert attempt.service == "worker:orphan-holder@box"
    assert attempt.strategy == "requeue_orphans"
    assert attempt.successful is True
    assert (attempt.started_at, attempt.finished_at) == (100.0, 100.5)
    assert attempt.details == {
        "worker": DEAD,
        "moved": 5,
        "queues": {"emails": 3, "payments": 2},
        "by": "heir@box:7:12345678",
    }


def test_a_check_that_moved_nothing_has_no_move_to_record() -> None:
    """A dead worker with nothing left to move (or moved by another checker) is no move."""
    report = CheckReport(dead=(DEAD,), moved={DEAD: 0}, queues={DEAD: {}})
    assert moves_of(report, started_at=1.0, finished_at=2.0, by=None) == []


def test_a_worker_id_without_pid_and_suffix_is_its_own_node_name() -> None:
    """An id not made by new_worker_id is named whole; a made one loses pid and suffix."""
    assert node_name("plain") == "plain"
    assert node_name("a:b") == "a:b"
    assert node_name("celery@host:12:abcdef01") == "celery@host"


async def test_a_written_move_is_stored_and_counted_once(redis_url: str, namespace: str) -> None:
    """One RecoveryAttempt in the store, and the shared statistics count one more."""
    store = RedisStore(redis_url, namespace=namespace)
    statistics = RecoveryStatistics(link_for(redis_url, namespace))
    recorder = MoveRecorder(
        store_source=lambda: RedisStore(redis_url, namespace=namespace),
        statistics=lambda: statistics,
    )
    move = OrphanMove(DEAD, 3, {"operations": 3}, NOW, NOW + 0.2, "heir@box:7:12345678")
    try:
        await recorder.write([move])
        (stored,) = await store.list_recovery_attempts(service="worker:orphan-holder@box")
        counted = await statistics.snapshot()
    finally:
        await store.close()
    assert stored.details["moved"] == 3
    assert stored.details["queues"] == {"operations": 3}
    assert counted["total_recoveries"] == 1
    assert counted["by_strategy"]["requeue_orphans"]["total_recoveries"] == 1
    assert counted["by_service"]["worker:orphan-holder@box"]["successful_recoveries"] == 1


async def test_a_store_that_refuses_is_logged_and_the_move_still_counted(
    namespace: str, redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A store nobody listens for: a warning, no error raised, the count kept."""
    statistics = RecoveryStatistics(link_for(redis_url, namespace))
    recorder = MoveRecorder(
        store_source=lambda: RedisStore("redis://127.0.0.1:1/0", namespace=namespace),
        statistics=lambda: statistics,
    )
    with caplog.at_level(logging.WARNING, logger="outlast.workers.orphans"):
        await recorder.write([OrphanMove(DEAD, 1, {"operations": 1}, NOW, NOW)])
    assert "not stored" in caplog.text
    assert (await statistics.snapshot())["total_recoveries"] == 1


def test_a_slow_store_does_not_hold_up_the_check(namespace: str, redis_url: str) -> None:
    """Recording with a store that takes 1.5 s to open returns at once; the record follows."""
    statistics = RecoveryStatistics(link_for(redis_url, namespace))

    def slow_store() -> Store:
        time.sleep(1.5)
        return RedisStore(redis_url, namespace=namespace)

    recorder = MoveRecorder(store_source=slow_store, statistics=lambda: statistics)
    started = time.perf_counter()
    recorder.record([OrphanMove(DEAD, 2, {"operations": 2}, NOW, NOW)])
    assert time.perf_counter() - started < 0.2
    recorder.record([OrphanMove(DEAD, 2, {"operations": 2}, NOW + 1, NOW + 1)], wait=10.0)
    deadline = time.monotonic() + 10.0
    while _stored(redis_url, namespace) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _stored(redis_url, namespace) == 2


def _stored(redis_url: str, namespace: str) -> int:
    async def count() -> int:
        store = RedisStore(redis_url, namespace=namespace)
        try:
            return await store.count_recovery_attempts()
        finally:
            await store.close()

    return asyncio.run(count())


def test_the_report_names_the_queues_the_messages_went_back_to(
    redis_url: str, redis_key_prefix: str, redis_client: redis.Redis
) -> None:
    """Plain and priority messages of one queue count under that queue, unprefixed."""
    with kombu_redis(redis_url, redis_key_prefix) as (connection, keys):
        publish(connection, [{"n": n} for n in range(2)])
        publish(connection, [{"n": 9}], priority=5)
        take(connection, keys, "dead", 3)
        redis_client.sadd(keys.workers, "dead")
        report = OrphanCheck(redis_client, keys, ttl=1.0).run(
            lambda: KombuRestore(connection.channel())
        )
    assert report.moved == {"dead": 3}
    assert report.queues == {"dead": {QUEUE: 3}}
