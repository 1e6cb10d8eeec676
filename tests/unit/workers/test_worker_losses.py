"""The parts of worker-loss counting and time limits that need no worker: the start record
in a real Redis, the verdict after too many losses, the pool's report, the time-limit
decisions, and the per-operation setting."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterator

import pytest
import redis
from celery.exceptions import SoftTimeLimitExceeded, WorkerLostError

from outlast.config import Jitter, RetryConfig, reload_settings
from outlast.errors import ConfigurationError
from outlast.testing import FakeClock
from outlast.workers.execution._decisions import classify
from outlast.workers.execution._envelope import Envelope
from outlast.workers.execution._loop import run_on_process_loop
from outlast.workers.execution._operations import OperationSpec, operation
from outlast.workers.execution._steps import Dead, Retry
from outlast.workers.execution._time_limits import TimeLimitError, hard_limit_error
from outlast.workers.execution._worker_losses import (
    Starts,
    WorkerLostTooOftenError,
    count_start,
    forget_starts,
    pool_status,
    record_loss,
    too_many_losses,
)

TIMEOUTS_RETRIED = RetryConfig(
    max_attempts=2, initial_delay=0.5, jitter=Jitter.NONE, retryable_exceptions=[TimeoutError]
)


@pytest.fixture
def namespace(
    redis_url: str, redis_key_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """Settings naming the test Redis and a namespace of this test's own."""
    name = redis_key_prefix.replace(":", "-").strip("-")[-40:]
    monkeypatch.setenv("OUTLAST_REDIS_URL", redis_url)
    monkeypatch.setenv("OUTLAST_NAMESPACE", name)
    reload_settings()
    yield name
    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter(match=f"outlast:{name}:worker-starts:*"):
        client.delete(key)
    client.close()


def test_starts_count_up_until_forgotten(namespace: str) -> None:
    """Each start adds one and keeps the first start's time; a finish resets the count."""
    assert count_start("t-1", now=100.0) == Starts(1, 100.0)
    assert count_start("t-1", now=105.0) == Starts(2, 100.0)
    forget_starts("t-1")
    assert count_start("t-1", now=110.0) == Starts(1, 110.0)


def test_a_start_that_gave_a_result_is_forgotten_with_the_next_count(
    namespace: str, redis_url: str
) -> None:
    """A result's record goes with the process's next start count, not a trip of its own."""
    client = redis.Redis.from_url(redis_url)
    count_start("t-done", now=1.0)
    forget_starts("t-done", lazily=True)
    assert client.exists(f"outlast:{namespace}:worker-starts:t-done")
    count_start("t-next", now=2.0)
    assert not client.exists(f"outlast:{namespace}:worker-starts:t-done")
    client.close()


def test_the_pools_report_is_kept_beside_the_starts(namespace: str) -> None:
    """The signal the worker's main process recorded comes back with the next start."""
    count_start("t-2", now=1.0)
    record_loss("t-2", "signal 9 (SIGKILL)")
    assert count_start("t-2", now=2.0) == Starts(2, 1.0, "signal 9 (SIGKILL)")


def test_the_record_lives_a_day_at_most(namespace: str, redis_url: str) -> None:
    """A record nobody finishes expires (a message dead for good leaves nothing behind)."""
    count_start("t-3", now=1.0)
    client = redis.Redis.from_url(redis_url)
    ttl = client.ttl(f"outlast:{namespace}:worker-starts:t-3")
    client.close()
    assert 0 < ttl <= 86_400


def test_an_unreachable_redis_leaves_the_start_uncounted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No Redis answering: the start is not counted (None) and nothing raises."""
    monkeypatch.setenv("OUTLAST_REDIS_URL", "redis://127.0.0.1:1/0")
    monkeypatch.setenv("OUTLAST_NAMESPACE", "unit-no-redis")
    reload_settings()
    assert count_start("t-4", now=1.0) is None
    forget_starts("t-4")
    record_loss("t-4", "signal 9 (SIGKILL)")


@pytest.mark.parametrize(("count", "dead"), [(1, False), (3, False), (4, True), (6, True)])
def test_the_start_after_max_losses_dead_starts_is_refused(count: int, dead: bool) -> None:
    """With a limit of 3, the 4th start (3 earlier starts died) is refused, not before."""
    verdict = too_many_losses(Starts(count, 0.0, "signal 9 (SIGKILL)"), 3)
    assert (verdict is not None) is dead
    if verdict is not None:
        assert verdict.starts == count - 1
        assert str(verdict) == (
            f"started {count - 1} times without finishing, its worker process died each "
            "time; the pool reported signal 9 (SIGKILL)"
        )


def test_an_uncounted_start_is_never_refused() -> None:
    """Without a count (Redis down) the work runs."""
    assert too_many_losses(None, 1) is None


def test_the_error_is_rebuilt_from_its_message_alone() -> None:
    """Celery's result backend rebuilds errors from their arguments: the text survives."""
    error = WorkerLostTooOftenError.after(starts=3, lost_to="signal 11 (SIGSEGV)")
    assert str(WorkerLostTooOftenError(*error.args)) == str(error)


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (
            WorkerLostError("Worker exited prematurely: signal 9 (SIGKILL) Job: 4."),
            "signal 9 (SIGKILL)",
        ),
        (WorkerLostError("Worker exited prematurely: exitcode 70."), "exitcode 70"),
        (SystemExit(-11), "signal 11 (SIGSEGV)"),
        (SystemExit(3), "exitcode 3"),
    ],
)
def test_pool_status_names_the_signal_or_exit_code(error: BaseException, status: str) -> None:
    """The pool's report of a lost process, reduced to its signal or exit code."""
    assert pool_status(error) == status


def test_a_soft_time_limit_is_a_timeout_the_policy_retries() -> None:
    """SoftTimeLimitExceeded in an attempt is a retryable timeout under a policy that
    retries TimeoutError."""
    op = OperationSpec(name="unit.slow", fn=print, queue="operations", retry=TIMEOUTS_RETRIED)
    step = classify(op, Envelope(key="k"), SoftTimeLimitExceeded(), FakeClock())
    assert isinstance(step, Retry)
    assert isinstance(step.error, TimeLimitError)
    assert isinstance(step.error.__cause__, SoftTimeLimitExceeded)


@pytest.mark.parametrize("attempt", [2, 1])
def test_a_time_limit_given_up_is_a_timeout_letter(attempt: int) -> None:
    """Out of attempts, or under a policy that does not retry timeouts: reason timeout."""
    unretried = RetryConfig(retryable_exceptions=[ConnectionError])
    retry = TIMEOUTS_RETRIED if attempt == 2 else unretried
    op = OperationSpec(name="unit.slow", fn=print, queue="operations", retry=retry)
    error = hard_limit_error(2.0)
    step = classify(op, Envelope(key="k", attempt=attempt), error, FakeClock())
    assert step == Dead("timeout", error)


def test_other_failures_keep_their_reasons() -> None:
    """An ordinary exhausted failure is still `exhausted`, not a timeout."""
    op = OperationSpec(name="unit.flaky", fn=print, queue="operations", retry=TIMEOUTS_RETRIED)
    error = TimeoutError("the gateway timed out")
    step = classify(op, Envelope(key="k", attempt=2), error, FakeClock())
    assert step == Dead("exhausted", error)


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, "3"])
def test_max_worker_losses_must_be_a_positive_int(bad: object) -> None:
    """A wrong per-operation limit is refused at registration, naming the operation."""
    with pytest.raises(ConfigurationError, match=r"'unit.bad_losses': max_worker_losses"):
        operation("unit.bad_losses", max_worker_losses=bad)(print)  # type: ignore[arg-type]


class Interrupted(Exception):
    """Raised by a signal handler, as billiard raises SoftTimeLimitExceeded."""


def test_a_coroutine_interrupted_from_outside_is_cancelled_not_left_to_resume() -> None:
    """An error a signal raises while the loop waits goes on, and the coroutine it cut
    short is cancelled: it never resumes when the loop next runs."""
    events: list[str] = []

    async def attempt() -> None:
        try:
            await asyncio.sleep(0.5)
            events.append("resumed")
        except asyncio.CancelledError:
            events.append("cancelled")
            raise

    def interrupt(signum: int, frame: object) -> None:
        raise Interrupted

    previous = signal.signal(signal.SIGALRM, interrupt)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.1)
        with pytest.raises(Interrupted):
            run_on_process_loop(attempt())
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    run_on_process_loop(asyncio.sleep(0.6))  # the loop runs past the attempt's wake-up
    assert events == ["cancelled"]
