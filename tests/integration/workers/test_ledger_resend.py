"""A payment the broker lost before it started is sent again by the ledger sweep, once.

The loss is made as kombu's Redis transport makes it when Redis dies between its BRPOP and
its unacked write: the message is taken off its queue list and recorded nowhere. A worker
with its embedded beat then finds the payment in the ledger, in no queue, not unacked and
never started, on two sweeps in a row, sends it again, and it is charged once. Redis
broker only: the ledger guards against a loss of kombu's Redis transport.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import redis

from _gateway import PaymentGateway
from _payments_app import add_payments, new_key, payments_env
from _workers import celery_worker_command, start_worker


def test_a_payment_lost_by_the_broker_is_sent_again_and_charged_once(
    redis_url: str, namespace: str
) -> None:
    """Message removed from its queue before any worker took it: charged exactly once,
    and the worker logs that the ledger sent it again."""
    key = new_key()
    with PaymentGateway() as gateway, tempfile.TemporaryDirectory() as directory:
        env = payments_env(
            redis_url, namespace, gateway.url, ledger_grace="1", ledger_sweep_interval="0.5"
        )
        add_payments(env, {"user_id": key, "amount": 100, "idempotency_key": key})
        client = redis.Redis.from_url(redis_url)
        try:
            taken = client.rpop(f"outlast:{namespace}:payments")  # as BRPOP would
        finally:
            client.close()
        assert taken is not None
        assert key.encode() in taken
        command = celery_worker_command(["payments", "monitoring"], concurrency=2, name="ledger")
        command += ["-B", "-s", str(Path(directory) / "beat-schedule")]
        with start_worker(env, command) as worker:
            charged = gateway.wait_until(lambda: key in gateway.charges(), timeout=30)
            time.sleep(2)  # a second copy, if one were sent, would be charged by now
            log = worker.log()
        requests = gateway.requests(key)
    assert charged, log
    assert len(requests) == 1
    assert "lost by the broker before it started; sent again" in log
