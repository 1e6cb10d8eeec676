"""A worker SIGKILLed while it holds 20 messages: each runs again within 15 s, once.

The holding worker holds 20 messages of an operation that is not idempotent and counts its
runs: prefork ``-c 4`` with a prefetch multiplier of 5 runs 4 (their runs never end) and
reserves 16; ``-P threads -c 20`` runs all 20. A second worker is up when the first is
killed with its whole pool. On Redis, with the default visibility timeout (300 s) and the
default heartbeat (every 2 s, lapsing after 6 s), the second worker's orphan check moves the
dead worker's messages back to their queue; on RabbitMQ the broker requeues them when the
dead connection closes. Either way each message runs exactly once more: twice in all for
those that were running, once for those that never started, and on Redis nothing is left in
kombu's ``unacked`` for its visibility sweep to run a third time.
"""

from __future__ import annotations

import time

import pytest
import redis
from celery import Celery

from _orphan_workers import (
    ALL_RUNNING,
    HELD,
    PREFORK,
    Holder,
    Runs,
    held_count,
    orphan_env,
    send_runs,
    start_holder,
    start_survivor,
    wait_until_held,
)
from outlast.workers.orphans._orphan_keys import OrphanKeys, is_redis_broker

TARGET = 15.0


@pytest.mark.parametrize("holding", [PREFORK, ALL_RUNNING], ids=lambda h: h.pool)
def test_a_killed_workers_messages_each_run_once_more_within_15_s(
    redis_url: str, broker_url: str, namespace: str, results: Celery, runs: Runs, holding: Holder
) -> None:
    """SIGKILL a worker holding 20 messages: all run again within 15 s, each exactly once."""
    env = orphan_env(redis_url, broker_url, namespace)
    with start_holder(env, holding) as holder:
        task_ids = send_runs(results, runs.prefix)
        wait_until_held(results, runs, running=holding.running)
        if is_redis_broker(broker_url):
            assert held_count(results) == HELD  # recorded as this worker's
        with start_survivor(env):
            killed_at = time.time()
            holder.kill()
            last = runs.wait_rerun_all(killed_at, timeout=TARGET + 15)
            for task_id in task_ids:
                results.AsyncResult(task_id).get(timeout=30)
            counts = runs.counts()
    started = {index for index, at in runs.starts() if at < killed_at}
    assert len(started) == holding.running
    assert last - killed_at <= TARGET, f"last ran again {last - killed_at:.1f}s after the kill"
    assert counts == [2 if i in started else 1 for i in range(HELD)]
    if is_redis_broker(broker_url):  # nothing left for kombu's visibility sweep
        options = results.conf.broker_transport_options
        client = redis.Redis.from_url(redis_url)
        assert client.hlen(OrphanKeys.for_broker(namespace, options).unacked) == 0
        client.close()
