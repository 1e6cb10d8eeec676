"""A worker warns once, as it starts, about each consumed queue that cannot do its work:
payments without a gateway URL, emails without a relay that answers, an undeclared queue.
Real workers (``celery -A outlast.workers worker`` and ``outlast worker``) on the test
Redis, each in a namespace of its own; no message is sent."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from _servers import free_port
from _workers import WorkerProcess, celery_worker_command, start_worker

OUTLAST = Path(sys.executable).with_name("outlast")


def worker_env(redis_url: str, namespace: str, **extra: str) -> dict[str, str]:
    """The environment of a worker on the test Redis, in ``namespace``."""
    return {
        "OUTLAST_REDIS_URL": redis_url,
        "OUTLAST_BROKER_URL": redis_url,
        "OUTLAST_NAMESPACE": namespace,
        **extra,
    }


def warnings_of(worker: WorkerProcess, text: str) -> list[str]:
    """The WARNING lines of the worker's log that contain ``text``."""
    return [line for line in worker.log().splitlines() if text in line and "WARNING" in line]


def test_payments_worker_without_gateway_warns_once(redis_url: str, namespace: str) -> None:
    """`celery -A` on payments with no gateway URL (and a bad SMTP port it does not need)
    starts, and logs one warning for payments and one for the undeclared queue."""
    env = worker_env(
        redis_url, namespace, OUTLAST_PAYMENT_GATEWAY_URL="", OUTLAST_SMTP_PORT="99999"
    )
    command = celery_worker_command(["payments", "monitoring", "paymnets"], concurrency=2)
    with start_worker(env, command) as worker:
        gateway = warnings_of(worker, "OUTLAST_PAYMENT_GATEWAY_URL is not set")
        undeclared = warnings_of(worker, "queue 'paymnets' is consumed but not declared")
        log = worker.log()
    assert len(gateway) == 1, log
    assert "queue 'payments' is consumed" in gateway[0]
    assert "every payment will be dead-lettered until it is" in gateway[0]
    assert len(undeclared) == 1, log
    assert "SMTP" not in log
    assert "Traceback" not in log


def test_outlast_worker_on_emails_without_a_relay_warns_once(
    redis_url: str, namespace: str
) -> None:
    """`outlast worker -Q emails` with no relay listening at the SMTP port warns once."""
    port = free_port()
    env = worker_env(redis_url, namespace, OUTLAST_SMTP_HOST="127.0.0.1")
    env["OUTLAST_SMTP_PORT"] = str(port)
    name = f"emails-{os.getpid()}-{time.monotonic_ns()}@%h"
    command = [str(OUTLAST), "worker", "-Q", "emails", "-c", "1", "-n", name]
    with start_worker(env, command) as worker:
        relay = warnings_of(worker, "no SMTP relay accepts a connection")
        log = worker.log()
    assert len(relay) == 1, log
    assert f"at 127.0.0.1:{port} (OUTLAST_SMTP_HOST, OUTLAST_SMTP_PORT)" in relay[0]
    assert "PAYMENT" not in log
