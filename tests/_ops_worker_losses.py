"""Operations that kill or outlive their worker process, for the worker-loss and time-limit
tests; workers import this module through ``OUTLAST_TASK_MODULES``. Each records its starts
in Redis under the key prefix it is given, and behaves well once ``{prefix}:heal`` is set
(so a replay can show the work done)."""

from __future__ import annotations

import asyncio
import os
import signal
import time

import redis
from celery.exceptions import SoftTimeLimitExceeded

from outlast import RetryConfig
from outlast.config import Jitter
from outlast.workers import operation

# Two attempts, a timeout retried after 0.2 s: a time limit's retry and then its dead letter.
TWO_ATTEMPTS = RetryConfig(
    max_attempts=2, initial_delay=0.2, jitter=Jitter.NONE, retryable_exceptions=[TimeoutError]
)
# Timeouts not retried: a time limit's dead letter at once.
NO_TIMEOUT_RETRY = RetryConfig(max_attempts=3, retryable_exceptions=[ConnectionError])


def _redis() -> redis.Redis:
    return redis.Redis.from_url(os.environ["OUTLAST_TEST_REDIS_URL"])


def _start(prefix: str) -> tuple[int, bool]:
    """Note one start (its time) under ``prefix``: how many so far, and whether healed."""
    client = _redis()
    count = int(client.rpush(f"{prefix}:starts", repr(time.time())))
    client.expire(f"{prefix}:starts", 600)
    return count, bool(client.exists(f"{prefix}:heal"))


@operation("tests.killer")
def killer(prefix: str) -> str:
    """Kill the pool process running it (as a segfault or the OOM killer would)."""
    _, healed = _start(prefix)
    if not healed:
        os.kill(os.getpid(), signal.SIGKILL)
    return "survived"


@operation("tests.ordinary")
def ordinary(prefix: str, number: int) -> int:
    """Record the start and succeed."""
    _start(prefix)
    return number


@operation("tests.hang", retry=TWO_ATTEMPTS)
def hang(prefix: str, seconds: float) -> str:
    """Sleep ``seconds``, ignoring the soft time limit, so only the hard limit stops it."""
    _, healed = _start(prefix)
    deadline = time.monotonic() + (0 if healed else seconds)
    while time.monotonic() < deadline:
        try:
            time.sleep(deadline - time.monotonic())
        except SoftTimeLimitExceeded:
            continue  # ignored, as code stuck in a C call would be
    return "done"


@operation("tests.slow_once", retry=TWO_ATTEMPTS)
def slow_once(prefix: str, seconds: float) -> str:
    """Sleep past the soft time limit on the first attempt only."""
    count, _ = _start(prefix)
    if count == 1:
        time.sleep(seconds)
    return f"done at start {count}"


@operation("tests.slow_unretried", retry=NO_TIMEOUT_RETRY)
def slow_unretried(prefix: str, seconds: float) -> str:
    """Sleep past the soft time limit; its policy does not retry timeouts."""
    _start(prefix)
    time.sleep(seconds)
    return "done"


@operation("tests.async_slow_once", retry=TWO_ATTEMPTS)
async def async_slow_once(prefix: str, seconds: float) -> str:
    """The async twin of tests.slow_once (the soft limit strikes while the loop waits)."""
    count, _ = _start(prefix)
    if count == 1:
        await asyncio.sleep(seconds)
    return f"done at start {count}"
