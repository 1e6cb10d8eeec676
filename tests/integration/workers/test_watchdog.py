"""A worker that stopped receiving consumes again by itself, through its watchdog.

The worker's watchdog (``outlast.workers.consuming._watchdog``) sees that it no longer consumes a
queue it was started for and re-adds the consumer; and when its consuming connection has
silently died (work waits, nothing arrives), it re-establishes the broker connection.
Each event is logged. Redis broker only: the queue depth is read from Redis.
"""

from __future__ import annotations

import os
import socket
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from celery import Celery

from _freezing_proxy import FreezingProxy
from _workers import celery_worker_command, enqueue_from_app, start_worker

TESTS_DIR = Path(__file__).resolve().parents[2]


def test_a_cancelled_consumer_is_reestablished_by_the_watchdog(
    redis_url: str, namespace: str
) -> None:
    """Consumer of `operations` cancelled by a control command: within seconds the worker
    logs a watchdog re-consume and then runs a task sent to that queue."""
    env = {
        "OUTLAST_BROKER_URL": redis_url,
        "OUTLAST_REDIS_URL": redis_url,
        "OUTLAST_NAMESPACE": namespace,
        "OUTLAST_TASK_MODULES": '["_ops_for_tests"]',
        "OUTLAST_WORKER_WATCHDOG_INTERVAL": "0.5",
        "OUTLAST_WORKER_WATCHDOG_STALL": "3",
        "PYTHONPATH": os.pathsep.join([str(TESTS_DIR), os.environ.get("PYTHONPATH", "")]),
    }
    command = celery_worker_command(["operations"], name="watchdog")
    name = command[command.index("-n") + 1].replace("%h", socket.gethostname())
    results = Celery("client", broker=redis_url, backend=redis_url)
    results.conf.broker_transport_options = {"global_keyprefix": f"outlast:{namespace}:"}
    results.conf.result_backend_transport_options = {"global_keyprefix": f"outlast:{namespace}:"}
    try:
        with start_worker(env, command) as worker:
            replies = results.control.cancel_consumer("operations", destination=[name], reply=True)
            assert replies, "the worker did not answer the cancel_consumer command"
            _wait_for(worker.log, "action=reconsume", timeout=15)
            [sent] = enqueue_from_app(env, [["tests.noop", [7], {}, "watchdog-1"]])
            outcome = results.AsyncResult(sent["task_id"]).get(timeout=20)
    finally:
        results.close()
    assert outcome == {"value": 7}


def test_a_silently_dead_consuming_connection_is_replaced(redis_url: str, namespace: str) -> None:
    """The broker connection the worker's BRPOP waits on turns into a black hole (no error,
    no close): with work waiting and nothing received, the watchdog re-consumes, then
    re-establishes the connection, and every task runs (a message Redis popped into the
    dead connection comes back through the ledger sweep of the worker's beat)."""
    with FreezingProxy(int(redis_url.rsplit(":", 1)[1].split("/")[0])) as proxy:
        env = {
            "OUTLAST_BROKER_URL": proxy.url,
            "OUTLAST_RESULT_BACKEND": redis_url,
            "OUTLAST_REDIS_URL": redis_url,
            "OUTLAST_NAMESPACE": namespace,
            "OUTLAST_TASK_MODULES": '["_ops_for_tests"]',
            "OUTLAST_WORKER_WATCHDOG_INTERVAL": "0.5",
            "OUTLAST_WORKER_WATCHDOG_STALL": "2",
            "OUTLAST_LEDGER_GRACE": "1",
            "OUTLAST_LEDGER_SWEEP_INTERVAL": "0.5",
            "PYTHONPATH": os.pathsep.join([str(TESTS_DIR), os.environ.get("PYTHONPATH", "")]),
        }
        results = Celery("client", broker=redis_url, backend=redis_url)
        results.conf.result_backend_transport_options = {
            "global_keyprefix": f"outlast:{namespace}:"
        }
        command = celery_worker_command(["operations", "monitoring"])
        try:
            with (
                tempfile.TemporaryDirectory() as directory,
                start_worker(
                    env, [*command, "-B", "-s", str(Path(directory) / "beat-schedule")]
                ) as worker,
            ):
                [first] = enqueue_from_app(env, [["tests.noop", [1], {}, "frozen-1"]])
                assert results.AsyncResult(first["task_id"]).get(timeout=20) == {"value": 1}
                assert proxy.freeze_consumers() >= 1
                sent = enqueue_from_app(
                    env, [["tests.noop", [n], {}, f"frozen-{n}"] for n in (2, 3)]
                )
                outcomes = [results.AsyncResult(s["task_id"]).get(timeout=30) for s in sent]
                log = worker.log()
        finally:
            results.close()
    assert outcomes == [{"value": 2}, {"value": 3}]
    assert "action=reconnect" in log


def test_a_worker_that_cannot_consume_again_exits_for_its_supervisor(
    redis_url: str, namespace: str
) -> None:
    """Every consuming connection black-holed, the reconnect's too: once re-consuming and
    reconnecting have not helped, the worker exits with status 75 for its supervisor."""
    with FreezingProxy(int(redis_url.rsplit(":", 1)[1].split("/")[0])) as proxy:
        env = {
            "OUTLAST_BROKER_URL": proxy.url,
            "OUTLAST_RESULT_BACKEND": redis_url,
            "OUTLAST_REDIS_URL": redis_url,
            "OUTLAST_NAMESPACE": namespace,
            "OUTLAST_TASK_MODULES": '["_ops_for_tests"]',
            "OUTLAST_WORKER_WATCHDOG_INTERVAL": "0.5",
            "OUTLAST_WORKER_WATCHDOG_STALL": "2",
            "OUTLAST_WORKER_SOFT_SHUTDOWN_TIMEOUT": "0",
            "PYTHONPATH": os.pathsep.join([str(TESTS_DIR), os.environ.get("PYTHONPATH", "")]),
        }
        with start_worker(env, celery_worker_command(["operations"])) as worker:
            proxy.freeze_consumers(from_now_on=True)
            enqueue_from_app(env, [["tests.noop", [n], {}, f"stuck-{n}"] for n in (1, 2)])
            worker.process.wait(timeout=60)
            log = worker.log()
    assert worker.process.returncode == 75, log
    assert "action=exit" in log


def _wait_for(log: Callable[[], str], text: str, *, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while text not in log():
        assert time.monotonic() < deadline, log()
        time.sleep(0.1)
