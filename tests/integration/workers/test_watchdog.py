"""A worker whose queue consumer was cancelled from outside consumes again by itself.

The worker's watchdog (``outlast.workers._watchdog``) sees that it no longer consumes a
queue it was started for and re-adds the consumer; the event is logged. Redis broker only:
cancelling a consumer goes through the same control command on every broker.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from pathlib import Path

from celery import Celery

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


def _wait_for(log: Callable[[], str], text: str, *, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while text not in log():
        assert time.monotonic() < deadline, log()
        time.sleep(0.1)
