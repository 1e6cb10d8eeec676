"""A SIGKILLed worker's messages moved back on the Redis broker are one recovery: one
``RecoveryAttempt`` for the move with the right count and queue, and the shared recovery
statistics one higher, whether a surviving worker's heartbeat moved them, four checks
raced for them, or the ``requeue_orphans`` task moved them. Heartbeats here beat every
0.5 s and lapse after 1.5 s."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest
from celery import Celery

from _orphan_workers import (
    FAST_BEATS,
    HELD,
    Runs,
    orphan_env,
    send_runs,
    start_holder,
    start_survivor,
    wait_until_held,
)
from _workers import celery_worker_command, start_worker
from _workers_killed_holder import kill_holding_worker
from outlast.recovery import RecoveryStatistics
from outlast.resilience.shared._redis_link import link_for
from outlast.store import RecoveryAttempt, RedisStore
from outlast.workers.orphans._orphan_guard import check_orphans
from outlast.workers.orphans._orphan_records import MoveRecorder

pytestmark = pytest.mark.parametrize("broker_url", ["redis"], indirect=True)


def moves(redis_url: str, namespace: str) -> list[RecoveryAttempt]:
    """The orphan moves recorded in this test's store."""

    async def read() -> list[RecoveryAttempt]:
        store = RedisStore(redis_url, namespace=namespace)
        try:
            return await store.list_recovery_attempts()
        finally:
            await store.close()

    return [a for a in asyncio.run(read()) if a.strategy == "requeue_orphans"]


def recoveries(redis_url: str, namespace: str) -> dict[str, Any]:
    """The shared recovery statistics of this test's namespace."""
    return asyncio.run(RecoveryStatistics(link_for(redis_url, namespace)).snapshot())


def wait_for_moves(redis_url: str, namespace: str, *, timeout: float) -> list[RecoveryAttempt]:
    deadline = time.monotonic() + timeout
    while not (found := moves(redis_url, namespace)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return found


def assert_one_move_of_all_held(attempt: RecoveryAttempt, by: str) -> None:
    assert attempt.service.startswith("worker:orphan-holder-")
    assert attempt.successful
    assert attempt.details["moved"] == HELD
    assert attempt.details["queues"] == {"operations": HELD}
    assert attempt.details["worker"].startswith(attempt.service.removeprefix("worker:") + ":")
    assert str(attempt.details["by"]).startswith(by)


def test_a_survivors_heartbeat_records_the_move_once(
    redis_url: str, namespace: str, results: Celery, runs: Runs
) -> None:
    """The surviving worker moves the 20 and records it: one attempt, statistics +1."""
    env = orphan_env(redis_url, redis_url, namespace, **FAST_BEATS)
    before = recoveries(redis_url, namespace)["total_recoveries"]
    with start_holder(env) as holder:
        send_runs(results, runs.prefix)
        wait_until_held(results, runs)
        with start_survivor(env):
            holder.kill()
            wait_for_moves(redis_url, namespace, timeout=20.0)
            time.sleep(1.5)  # three more checks by the survivor: nothing more to record
            found = moves(redis_url, namespace)
    assert len(found) == 1, found
    assert_one_move_of_all_held(found[0], by="orphan-heir-")
    counted = recoveries(redis_url, namespace)
    assert counted["total_recoveries"] == before + 1
    assert counted["by_strategy"]["requeue_orphans"]["successful_recoveries"] == 1


def test_racing_checks_record_the_move_once(
    redis_url: str, namespace: str, results: Celery, runs: Runs
) -> None:
    """Four checks racing after the lapse: only the one that moved the 20 records it."""
    env = orphan_env(redis_url, redis_url, namespace, **FAST_BEATS)
    kill_holding_worker(env, results, runs)
    recorder = MoveRecorder(
        store_source=lambda: RedisStore(redis_url, namespace=namespace),
        statistics=lambda: RecoveryStatistics(link_for(redis_url, namespace)),
    )
    threads = [
        threading.Thread(
            target=check_orphans,
            args=(results,),
            kwargs={"recorder": recorder, "by": f"racer-{n}", "wait": 10.0},
        )
        for n in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    found = moves(redis_url, namespace)
    assert len(found) == 1, found
    assert_one_move_of_all_held(found[0], by="racer-")
    assert recoveries(redis_url, namespace)["total_recoveries"] == 1


def test_the_requeue_orphans_task_records_its_move_before_it_returns(
    redis_url: str, namespace: str, results: Celery, runs: Runs
) -> None:
    """The task on a recovery worker (its own checks off) moves the 20; its one record
    names the task as the mover and is stored by the time the result is."""
    env = orphan_env(redis_url, redis_url, namespace, **FAST_BEATS)
    kill_holding_worker(env, results, runs)
    recovery = {**env, "OUTLAST_ORPHAN_CHECK_IN_WORKERS": "false"}
    with start_worker(recovery, celery_worker_command(["recovery"], name="orphan-mover")):
        moved = results.send_task("outlast.recovery.requeue_orphans").get(timeout=30)
        found = moves(redis_url, namespace)
    assert list(moved.values()) == [HELD]
    assert len(found) == 1, found
    assert_one_move_of_all_held(found[0], by="outlast.recovery.requeue_orphans@orphan-mover-")
    assert found[0].details["worker"] == next(iter(moved))
    assert recoveries(redis_url, namespace)["total_recoveries"] == 1
