"""A real worker told to stop consuming a queue (``cancel_consumer``) is found by the next
health sweep (the ``outlast.recovery.health_sweep`` task, run by a worker) and repaired:
it consumes that queue again, and the repair is a ``RecoveryAttempt`` in the store. A
worker whose consuming connection silently died still lists its queue, but the sweep's
canary finds it.

The workers' own watchdog is slowed to an hour here, so only the sweep acts."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import celery.exceptions
import pytest
from celery import Celery
from celery.result import AsyncResult

from _freezing_proxy import FreezingProxy
from _workers import celery_worker_command, fresh_namespace, start_worker
from outlast.config import Settings
from outlast.recovery import RecoveryManager, RecoveryStatistics, ServiceRegistry, SweepMemory
from outlast.store import RedisStore
from outlast.workers import create_app
from outlast.workers.health._consumption_check import (
    Action,
    ConsumptionCheck,
    Observation,
    observe,
)

TESTS_DIR = Path(__file__).resolve().parents[2]


@pytest.fixture
def namespace(redis_url: str) -> Iterator[str]:
    with fresh_namespace(redis_url) as name:
        yield name


def without_depths(seen: Observation) -> Observation:
    """What the check sees on a broker whose queue depth it cannot read."""
    return dataclasses.replace(seen, depths=dict.fromkeys(seen.depths))


PING_WAIT = 45.0  # seconds; a loaded 2-core machine has taken over 15
# A frozen consumer left as it is wakes up only when its socket times out (about 40 s).
RECONNECTED_WAIT = 20.0


def answered(client: Celery, ping: AsyncResult[Any], worker: str, wait: float = PING_WAIT) -> Any:
    """The ping's answer; if none comes, fail naming the queues the worker consumes."""
    try:
        return ping.get(timeout=wait)
    except celery.exceptions.TimeoutError:
        with client.connection_for_write() as connection:
            queues = client.control.inspect([worker], connection=connection).active_queues()
        pytest.fail(f"no answer from {worker} in {wait} s; its queues: {queues}")


def sweep(client: Celery) -> dict[str, object]:
    """Run one health sweep on the worker and return its report."""
    report: dict[str, object] = client.send_task("outlast.recovery.health_sweep").get(timeout=30)
    return report


async def test_a_cancelled_consumer_is_found_by_the_next_sweep_and_repaired(
    redis_url: str, namespace: str
) -> None:
    """cancel_consumer("emails"): the next sweep reports lost_queue, re-adds the consumer,
    records the repair; a task sent to `emails` then runs on that worker."""
    env = {
        "OUTLAST_BROKER_URL": redis_url,
        "OUTLAST_REDIS_URL": redis_url,
        "OUTLAST_NAMESPACE": namespace,
        "OUTLAST_WORKER_WATCHDOG_INTERVAL": "3600",
        "PYTHONPATH": os.pathsep.join([str(TESTS_DIR), os.environ.get("PYTHONPATH", "")]),
    }
    command = celery_worker_command(["emails", "recovery"], concurrency=2, name="sweep")
    worker_name = command[command.index("-n") + 1].replace("%h", socket.gethostname())
    client = create_app(Settings(broker_url=redis_url, redis_url=redis_url, namespace=namespace))
    store = RedisStore(redis_url, namespace=namespace)
    try:
        with start_worker(env, command):
            assert sweep(client)["consumers"] == []  # first sight: its queues remembered
            client.control.cancel_consumer("emails", destination=[worker_name], reply=True)
            started = time.monotonic()
            found = sweep(client)["consumers"]
            assert found == [
                {"worker": worker_name, "queue": "emails", "kind": "lost_queue",
                 "action": "reconsume", "repaired": True},
            ]  # fmt: skip
            ping = client.send_task("outlast.maintenance.ping", queue="emails")
            assert answered(client, ping, worker_name)["pong"] is True
            repaired_in = time.monotonic() - started
        attempts = await store.list_recovery_attempts(service=f"worker:{worker_name}")
    finally:
        client.close()
        await store.close()
    assert [a.successful for a in attempts] == [True]
    assert attempts[0].details["original_error"] == "ConsumerRepairError"
    assert repaired_in < PING_WAIT


@pytest.mark.parametrize("action", ["record", "reconsume"])
async def test_a_consumer_frozen_on_a_dead_connection_is_found_by_its_canary(
    redis_url: str, namespace: str, action: Action
) -> None:
    """The worker's BRPOP connection turns into a black hole: it still lists `operations`
    in active_queues and answers inspect, but the canary the first sweep sent is never
    run; the next sweep past the canary timeout reports canary_lost for that worker. With
    `record` it is recorded only; with `reconsume` (the default) the worker is told to
    reconnect, and a task sent to `operations` then runs on it. The in-worker watchdog is
    slowed here, and queue depths are hidden from the check (as on a broker whose depths
    cannot be read): only the canary can tell."""
    port = int(redis_url.rsplit(":", 1)[1].split("/")[0])
    with FreezingProxy(port) as proxy:
        env = {
            "OUTLAST_BROKER_URL": proxy.url,
            "OUTLAST_RESULT_BACKEND": redis_url,
            "OUTLAST_REDIS_URL": redis_url,
            "OUTLAST_NAMESPACE": namespace,
            "OUTLAST_WORKER_WATCHDOG_INTERVAL": "3600",
            "PYTHONPATH": os.pathsep.join([str(TESTS_DIR), os.environ.get("PYTHONPATH", "")]),
        }
        command = celery_worker_command(["operations"], name="frozen")
        worker_name = command[command.index("-n") + 1].replace("%h", socket.gethostname())
        client = create_app(
            Settings(broker_url=redis_url, redis_url=redis_url, namespace=namespace)
        )
        store = RedisStore(redis_url, namespace=namespace)
        manager = RecoveryManager(registry=ServiceRegistry(), store=store,
                                  statistics=RecoveryStatistics(None))  # fmt: skip
        check = ConsumptionCheck(
            client, manager, memory=SweepMemory(None), action=action, timeout=1.0,
            canary_timeout=1.0, observer=lambda: without_depths(observe(client, timeout=1.0)),
        )  # fmt: skip
        try:
            worker = start_worker(env, command)
            try:
                assert await check.run() == []  # remembers the queues, sends the canaries
                await asyncio.sleep(1.0)  # the first canary is usually taken before the freeze
                assert proxy.freeze_consumers() >= 1
                found = await check.run()  # judges the first canary, sends a new one
                await asyncio.sleep(1.5)
                found += await check.run()  # the new one was never run
                if action == "reconsume":
                    ping = client.send_task("outlast.maintenance.ping", queue="operations")
                    assert answered(client, ping, worker_name, RECONNECTED_WAIT)["pong"] is True
            finally:
                worker.kill()  # a warm shutdown would wait on the dead connection
            attempts = await store.list_recovery_attempts(service=f"worker:{worker_name}")
        finally:
            client.close()
            await store.close()
    repaired = action == "reconsume"
    lost = {"worker": worker_name, "queue": "operations", "kind": "canary_lost",
            "action": action, "repaired": repaired}  # fmt: skip
    assert found in ([lost], [lost, lost])
    assert [a.successful for a in attempts] == [repaired] * len(found)
