"""The application side of the payments tests: its environment (plain, or with the quick
retry profile the payments suites tune), and ``payment_queue.add`` called from a separate
process (the test process's Celery app is configured once, at import, for whatever
namespace came first; an application process gets the test's)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any, Final

from _workers import fresh_namespace

__all__ = [
    "ADD_PAYMENTS",
    "MAX_DELAY",
    "SCHEDULE",
    "add_payments",
    "fresh_namespace",
    "new_key",
    "payments_env",
    "run_app_code",
    "tuned_payments_env",
]

TESTS_DIR = Path(__file__).resolve().parent

ADD_PAYMENTS = """
import json, sys
from outlast.tasks.payments import payment_queue
for payment in json.loads(sys.argv[1]):
    print(json.dumps(payment_queue.add(**payment)), flush=True)
"""


def payments_env(
    redis_url: str,
    namespace: str,
    gateway_url: str,
    *,
    broker_url: str | None = None,
    **settings: str,
) -> dict[str, str]:
    """The environment of payment workers and of the processes that enqueue payments.

    The broker is ``broker_url`` (RabbitMQ, say), else the Redis that also keeps results
    and the store. ``settings`` adds ``OUTLAST_<NAME>`` variables (``task_time_limit="10"``).
    """
    env = {
        "OUTLAST_BROKER_URL": broker_url or redis_url,
        "OUTLAST_REDIS_URL": redis_url,
        "OUTLAST_NAMESPACE": namespace,
        "OUTLAST_TASK_MODULES": '["outlast.tasks.payments"]',
        "OUTLAST_PAYMENT_GATEWAY_URL": gateway_url,
        "PYTHONPATH": os.pathsep.join([str(TESTS_DIR), os.environ.get("PYTHONPATH", "")]),
    }
    env.update({f"OUTLAST_{name.upper()}": value for name, value in settings.items()})
    return env


SCHEDULE: Final = (0.3, 0.6, 1.2)
"""The tuned profile's delays after attempts 1, 2 and 3 (it allows 4 attempts)."""
MAX_DELAY: Final = 2.0
"""The tuned profile's cap on any delay, a server's Retry-After included."""


def tuned_payments_env(
    redis_url: str, broker_url: str, namespace: str, gateway_url: str
) -> dict[str, str]:
    """``payments_env`` with the retry profile tuned through settings, as an operator would:
    ``sbd_transaction`` gets 4 attempts, exponential from 0.3 s, no jitter, at most 2 s."""
    profile = "retries__sbd_transaction__"
    return payments_env(
        redis_url,
        namespace,
        gateway_url,
        broker_url=broker_url,
        payment_timeout="5",
        **{
            f"{profile}max_attempts": "4",
            f"{profile}initial_delay": str(SCHEDULE[0]),
            f"{profile}backoff_factor": "2",
            f"{profile}max_delay": str(MAX_DELAY),
            f"{profile}jitter": "false",
            # Scripted failures must not open the gateway's breaker between tests.
            "circuit_breakers__payments_gateway__failure_threshold": "1000",
        },
    )


def new_key() -> str:
    """A fresh idempotency key."""
    return f"pay-{uuid.uuid4().hex[:12]}"


def run_app_code(env: dict[str, str], code: str, *argv: str) -> list[Any]:
    """Run ``code`` in a separate application process; the JSON lines it printed."""
    done = subprocess.run(
        [sys.executable, "-c", code, *argv], capture_output=True, text=True,
        env={**os.environ, **env}, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def add_payments(env: dict[str, str], *payments: dict[str, Any]) -> list[dict[str, Any]]:
    """``payment_queue.add(**payment)`` for each payment; what each call returned."""
    return run_app_code(env, ADD_PAYMENTS, json.dumps(payments))
