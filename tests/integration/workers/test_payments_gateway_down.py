"""A payment gateway that is down when the charge is first tried: a worker of its own.

The test needs the only worker on the payments queue to be its own (pointed at a port
where nothing listens yet). On Redis a namespace would separate it from any other worker;
on RabbitMQ the queue is shared whatever the namespace, so this test sits in a module
whose tests start no other payments worker. It runs once per broker (``broker_url``).
"""

from __future__ import annotations

import contextlib
import time

from _gateway import PaymentGateway
from _payments_app import add_payments, new_key, tuned_payments_env
from _servers import free_port
from _workers import celery_worker_command, start_worker
from outlast.config import Settings
from outlast.workers import create_app


def test_a_gateway_that_is_down_is_retried_until_it_answers(
    redis_url: str, broker_url: str, namespace: str
) -> None:
    """Connection refused is retryable: the payment is charged once the gateway is up."""
    port = free_port()
    env = tuned_payments_env(redis_url, broker_url, namespace, f"http://127.0.0.1:{port}")
    command = celery_worker_command(["payments"], concurrency=1, name="down")
    key = new_key()
    app = create_app(Settings(broker_url=broker_url, redis_url=redis_url, namespace=namespace))
    with contextlib.closing(app) as results, start_worker(env, command) as lone_worker:
        [sent] = add_payments(env, {"user_id": "u-down", "amount": 9, "idempotency_key": key})
        deadline = time.monotonic() + 10
        while "attempt 1 failed" not in lone_worker.log() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "attempt 1 failed" in lone_worker.log()
        with PaymentGateway(port=port) as late_gateway:
            result = results.AsyncResult(sent["task_id"]).get(timeout=30)
            assert [r.status for r in late_gateway.requests(key)] == [201]
            assert result == late_gateway.charges()[key].answer
