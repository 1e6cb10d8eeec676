"""Operations that the worker-system tests register; workers import this module through
``OUTLAST_TASK_MODULES``. Each records what happened to it in Redis under the key prefix
it is given, so the test process can see every attempt a worker made."""

from __future__ import annotations

import asyncio
import os
import time

import redis
from celery import current_task

from outlast import RetryConfig, RetryStrategy
from outlast.config import Jitter
from outlast.workers import operation
from outlast.workers.execution._envelope import ENVELOPE_KEY

QUICK = RetryConfig(
    max_attempts=4,
    initial_delay=0.3,
    backoff_factor=2.0,
    strategy=RetryStrategy.EXPONENTIAL_BACKOFF,
    jitter=Jitter.NONE,
    retryable_exceptions=[ConnectionError],
)


def _redis() -> redis.Redis:
    return redis.Redis.from_url(os.environ["OUTLAST_TEST_REDIS_URL"])


def _record(prefix: str) -> int:
    """Note one attempt (its time) under ``prefix``; returns how many there were."""
    client = _redis()
    count = int(client.rpush(f"{prefix}:attempts", repr(time.time())))
    client.expire(f"{prefix}:attempts", 600)
    return count


@operation("tests.noop")
def noop(value: int) -> dict[str, int]:
    """Succeed at once."""
    return {"value": value}


@operation("tests.flaky", retry=QUICK, idempotent=True)
def flaky(prefix: str, failures: int) -> str:
    """Fail the first ``failures`` attempts with ConnectionError, then succeed."""
    if _record(prefix) <= failures:
        raise ConnectionError("gateway reset the connection")
    return "charged"


@operation("tests.async_flaky", retry=QUICK)
async def async_flaky(prefix: str, failures: int) -> str:
    """The async twin of tests.flaky (runs on the worker process's loop)."""
    if _record(prefix) <= failures:
        raise ConnectionError("gateway reset the connection")
    return "async charged"


@operation("tests.refused", retry=QUICK)
def refused(prefix: str) -> None:
    """Fail with an error the policy does not retry."""
    _record(prefix)
    raise ValueError("card declined")


@operation(
    "tests.slow_retry",
    retry=RetryConfig(
        max_attempts=2,
        initial_delay=3.0,
        jitter=Jitter.NONE,
        retryable_exceptions=[ConnectionError],
    ),
)
def slow_retry(prefix: str) -> str:
    """Fail once; the retry delay (3 s) is longer than the park threshold the test sets."""
    if _record(prefix) == 1:
        raise ConnectionError("try much later")
    return "late but once"


# Guarded by the cluster breaker "tests_guarded", which the breaker-deferral test opens and
# resets from its own process; one attempt only, so an attempt spent on a deferral would
# have been a dead letter. Each call also records the attempt number its envelope carries.
ONE_ATTEMPT = RetryConfig(max_attempts=1, retryable_exceptions=[ConnectionError])


def _record_attempt_number(prefix: str) -> None:
    """Note the attempt number the worker runs this call as (from the task's envelope)."""
    envelope = current_task.request.kwargs[ENVELOPE_KEY]
    client = _redis()
    client.rpush(f"{prefix}:attempt_numbers", int(envelope["attempt"]))
    client.expire(f"{prefix}:attempt_numbers", 600)


@operation("tests.guarded", retry=ONE_ATTEMPT, circuit_breaker="tests_guarded")
def guarded(prefix: str) -> str:
    """Record the call and succeed (runs off the event loop: sync, no idempotency claim)."""
    _record(prefix)
    _record_attempt_number(prefix)
    return "ran"


@operation(
    "tests.async_guarded", retry=ONE_ATTEMPT, circuit_breaker="tests_guarded", idempotent=True
)
async def async_guarded(prefix: str) -> str:
    """The async, idempotent twin of tests.guarded (runs on the process loop, with a claim)."""
    _record(prefix)
    _record_attempt_number(prefix)
    return "ran"


# Held by the publish-failure test: the first attempt waits until the test, having made the
# broker refuse publishes meanwhile, pushes to ``{prefix}:release``; then it fails, retryably.
HOLD_LIMIT = 30  # seconds an attempt waits for its release at most


@operation("tests.held_then_flaky", retry=QUICK, idempotent=True)
def held_then_flaky(prefix: str) -> str:
    """Attempt 1 waits for ``{prefix}:release`` and fails with ConnectionError; later ones
    succeed."""
    if _record(prefix) > 1:
        return "done"
    client = _redis()
    try:
        client.blpop([f"{prefix}:release"], timeout=HOLD_LIMIT)
    finally:
        client.close()
    raise ConnectionError("gateway reset the connection")


@operation("tests.unstorable", retry=ONE_ATTEMPT, idempotent=True)
def unstorable(prefix: str) -> object:
    """Succeed with a result the store cannot keep (not JSON): the core itself fails."""
    _record(prefix)
    return {"when": object()}


# Counts the calls of tests.gated running at once (and the most ever) under a prefix.
_ENTER = """
local now = redis.call('INCR', KEYS[1])
if now > tonumber(redis.call('GET', KEYS[2]) or '0') then redis.call('SET', KEYS[2], now) end
redis.call('EXPIRE', KEYS[1], 600)
redis.call('EXPIRE', KEYS[2], 600)
return now
"""


@operation("tests.gated", retry=QUICK, bulkhead="tests_gate")
async def gated(prefix: str, index: int, hold: float) -> str:
    """Hold a permit of the ``tests_gate`` bulkhead for ``hold`` seconds, counting how many
    calls hold one at once (``{prefix}:running``, most ever ``{prefix}:peak``); attempts
    are recorded under ``{prefix}:{index}``."""
    _record(f"{prefix}:{index}")
    client = _redis()
    try:
        client.eval(_ENTER, 2, f"{prefix}:running", f"{prefix}:peak")
        await asyncio.sleep(hold)
        client.decr(f"{prefix}:running")
    finally:
        client.close()
    return "gated"
