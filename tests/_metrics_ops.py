"""Operations the worker-metrics test registers (workers import it through
``OUTLAST_TASK_MODULES``). Each records the pid of the pool process that ran it in Redis
under the key prefix it is given, so the test knows which children did what."""

from __future__ import annotations

import os

import redis

from outlast import RetryConfig, handle_errors
from outlast.config import Jitter
from outlast.errors import CircuitBreakerOpenError
from outlast.recovery import recovery_manager
from outlast.workers import operation

PROBE_BREAKER = "metrics_probe"  # the test configures it to open on its first failure
POOL = "metrics_pool"
ONE_ATTEMPT = RetryConfig(max_attempts=1, retryable_exceptions=[ConnectionError])
ONE_RETRY = RetryConfig(
    max_attempts=2, initial_delay=0.2, jitter=Jitter.NONE, retryable_exceptions=[TimeoutError]
)


def _note(key: str) -> int:
    """Push this process's pid on ``key``; how many entries it holds now."""
    client = redis.Redis.from_url(os.environ["OUTLAST_TEST_REDIS_URL"])
    try:
        count = int(client.rpush(key, os.getpid()))
        client.expire(key, 600)
        return count
    finally:
        client.close()


@handle_errors(operation_name="metrics.probe", circuit_breaker=PROBE_BREAKER)
def _probe() -> str:
    raise ConnectionError("probe target down")


@operation("tests.metrics_ok", retry=ONE_ATTEMPT, bulkhead=POOL)
def metrics_ok(prefix: str) -> str:
    """Succeed at once, holding a permit of the bulkhead ``metrics_pool``."""
    _note(f"{prefix}:ok")
    return "ok"


@operation("tests.metrics_probe", retry=ONE_ATTEMPT)
def metrics_probe(prefix: str) -> str:
    """Call the failing probe through its breaker and swallow the error: the first call in
    a process fails (and opens that process's breaker), the later ones are rejected."""
    _note(f"{prefix}:probe")
    try:
        return _probe()
    except (ConnectionError, CircuitBreakerOpenError) as error:
        return type(error).__name__


@operation("tests.metrics_poison", retry=ONE_ATTEMPT)
def metrics_poison(prefix: str) -> None:
    """Fail with an error no policy retries: a dead letter."""
    _note(f"{prefix}:poison")
    raise ValueError("poison message")


@operation("tests.metrics_flaky", retry=ONE_RETRY)
def metrics_flaky(prefix: str) -> str:
    """Fail the first time (a retry on the broker), succeed the second."""
    if _note(f"{prefix}:flaky") == 1:
        raise TimeoutError("once")
    return "second time lucky"


def _unreachable() -> str:
    raise ConnectionError("still down")


@operation("tests.metrics_recover", retry=ONE_ATTEMPT)
def metrics_recover(prefix: str, succeed: bool) -> bool:
    """Run one immediate-retry recovery whose function succeeds, or keeps failing."""
    _note(f"{prefix}:recover")
    function = (lambda: "back") if succeed else _unreachable
    recovered, _ = recovery_manager.recover_from_error_sync(
        ConnectionError("lost"), None, "immediate_retry", function, max_attempts=1,
        service="metrics_target",
    )  # fmt: skip
    return recovered


PARKED = RetryConfig(
    max_attempts=2, initial_delay=60.0, jitter=Jitter.NONE, retryable_exceptions=[TimeoutError]
)


@operation("tests.metrics_parked", retry=PARKED)
def metrics_parked(prefix: str) -> str:
    """Fail once with a retry delay beyond the park threshold: the retry waits in the store."""
    _note(f"{prefix}:parked")
    raise TimeoutError("much later")
