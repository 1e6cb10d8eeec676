"""The retry driver: schedules, predicates, cancellation, deadlines, Retry-After, test mode
and events, through retry_with_backoff (async and sync) and the run_sync/run_async seam."""

from __future__ import annotations

import asyncio
import email.utils
import threading
import traceback
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import tenacity

from outlast.config import Jitter, RetryConfig, RetryStrategy
from outlast.errors import (
    CircuitBreakerOpenError,
    ErrorContext,
    OperationTimeoutError,
    ValidationError,
)
from outlast.resilience._events import CallFailed, ResilienceEvent, RetryScheduled, add_listener
from outlast.resilience.retry._retry import (
    retry_with_backoff,
    retry_with_backoff_sync,
    run_async,
    run_sync,
)
from outlast.resilience.retry._retry_policy import RetryPolicy
from outlast.testing import FakeClock, set_testing


@pytest.fixture(autouse=True)
def _real_mode() -> Iterator[None]:
    """Every test starts with test mode off, whatever ran before."""
    with set_testing(False):
        yield


@pytest.fixture
def events() -> Iterator[list[ResilienceEvent]]:
    """Every resilience event published while the test runs."""
    seen: list[ResilienceEvent] = []
    unsubscribe = add_listener(seen.append)
    try:
        yield seen
    finally:
        unsubscribe()


class Flaky:
    """Raises the given errors in turn, then returns ``result``; counts its calls."""

    def __init__(self, *errors: BaseException, result: str = "ok") -> None:
        self.errors = list(errors)
        self.raised: list[BaseException] = []
        self.result = result
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            error = self.errors.pop(0)
            self.raised.append(error)
            raise error
        return self.result

    async def run(self) -> str:
        return self()


class RateLimited(Exception):
    """A retryable error carrying the server's Retry-After in seconds."""

    def __init__(self, retry_after: float) -> None:
        super().__init__("429")
        self.retry_after = retry_after


def exact(**overrides: Any) -> RetryConfig:
    """A jitter-free config (so sleeps are exact) with the given overrides."""
    return RetryConfig(**{"jitter": Jitter.NONE, "max_attempts": 4, **overrides})


def failures(count: int) -> list[BaseException]:
    return [ConnectionError(f"reset #{n}") for n in range(1, count + 1)]


# schedules -------------------------------------------------------------------------------


async def test_async_exponential_sleeps_are_exact() -> None:
    """retry_with_backoff sleeps 1, 2, 4 between four attempts (d=1, f=2, no jitter)."""
    clock, op = FakeClock(), Flaky(*failures(3))
    result = await retry_with_backoff(op.run, exact(), clock=clock)
    assert (result, op.calls, clock.sleeps) == ("ok", 4, [1.0, 2.0, 4.0])


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [
        (RetryStrategy.FIXED_DELAY, [1.5, 1.5, 1.5, 1.5]),
        (RetryStrategy.EXPONENTIAL_BACKOFF, [1.5, 3.0, 6.0, 12.0]),
        (RetryStrategy.LINEAR_BACKOFF, [1.5, 3.0, 4.5, 6.0]),
        (RetryStrategy.FIBONACCI_BACKOFF, [1.5, 1.5, 3.0, 4.5]),
    ],
)
def test_sync_sleeps_follow_each_strategy(strategy: RetryStrategy, expected: list[float]) -> None:
    """retry_with_backoff_sync sleeps each strategy's exact schedule (d=1.5)."""
    clock, op = FakeClock(), Flaky(*failures(4))
    config = exact(strategy=strategy, initial_delay=1.5, max_attempts=5)
    assert retry_with_backoff_sync(op, config, clock=clock) == "ok"
    assert clock.sleeps == expected


async def test_sleeps_are_capped_by_max_delay() -> None:
    """No recorded sleep exceeds max_delay."""
    clock, op = FakeClock(), Flaky(*failures(5))
    await retry_with_backoff(op.run, exact(max_attempts=6, max_delay=5.0), clock=clock)
    assert clock.sleeps == [1.0, 2.0, 4.0, 5.0, 5.0]


async def test_default_config_retries_three_times_with_full_jitter() -> None:
    """config=None means RetryConfig(): 3 attempts, exponential from 1 s, full jitter."""
    clock, op = FakeClock(), Flaky(*failures(2))
    assert await retry_with_backoff(op.run, clock=clock) == "ok"
    assert len(clock.sleeps) == 2
    assert 0.0 <= clock.sleeps[0] <= 1.0
    assert 0.0 <= clock.sleeps[1] <= 2.0


async def test_plain_callable_works_under_async_retry() -> None:
    """An operation returning a plain value (not an awaitable) is retried the same way."""
    clock, op = FakeClock(), Flaky(*failures(1), result="plain")
    assert await retry_with_backoff(op, exact(), clock=clock) == "plain"
    assert op.calls == 2


def test_success_path_touches_nothing(events: list[ResilienceEvent]) -> None:
    """A first-attempt success calls once, sleeps never and publishes no event."""
    clock, op = FakeClock(), Flaky()
    assert retry_with_backoff_sync(op, exact(), clock=clock) == "ok"
    assert (op.calls, clock.sleeps, events) == (1, [], [])


# predicates and the original error -------------------------------------------------------


async def test_original_error_is_raised_after_the_last_attempt() -> None:
    """After max_attempts the last attempt's own exception object reaches the caller."""
    clock, op = FakeClock(), Flaky(*failures(3))
    with pytest.raises(ConnectionError) as caught:
        await retry_with_backoff(op.run, exact(max_attempts=3), clock=clock)
    assert caught.value is op.raised[-1]
    assert not isinstance(caught.value, tenacity.RetryError)
    frames = [frame.name for frame in traceback.extract_tb(caught.value.__traceback__)]
    assert "__call__" in frames  # the traceback still reaches into the operation
    assert op.calls == 3


def test_sync_original_error_is_raised_after_the_last_attempt() -> None:
    """The sync driver also re-raises the last original exception, not RetryError."""
    op = Flaky(*failures(2))
    with pytest.raises(ConnectionError) as caught:
        retry_with_backoff_sync(op, exact(max_attempts=2), clock=FakeClock())
    assert caught.value is op.raised[-1]


def test_non_retryable_wins_over_retryable() -> None:
    """An error matching both lists is not retried."""
    op = Flaky(ValueError("bad"))
    config = exact(retryable_exceptions=[Exception], non_retryable_exceptions=[ValueError])
    with pytest.raises(ValueError, match="bad"):
        retry_with_backoff_sync(op, config, clock=FakeClock())
    assert op.calls == 1


def test_errors_outside_the_retryable_list_are_not_retried() -> None:
    """Only the listed exception types are retried."""
    op = Flaky(KeyError("missing"))
    with pytest.raises(KeyError):
        retry_with_backoff_sync(op, exact(retryable_exceptions=[OSError]), clock=FakeClock())
    assert op.calls == 1


@pytest.mark.parametrize(
    "error",
    [
        asyncio.CancelledError(),
        KeyboardInterrupt(),
        SystemExit(1),
        GeneratorExit(),
    ],
)
def test_base_exceptions_are_never_retryable(error: BaseException) -> None:
    """Cancellation, interrupts and exits are not retryable even if BaseException is listed."""
    policy = RetryPolicy.from_config(RetryConfig(retryable_exceptions=[BaseException]))
    assert not policy.is_retryable(error)


def test_outlast_errors_need_to_be_named_to_be_retried() -> None:
    """ValidationError and CircuitBreakerOpenError are retried only when listed explicitly."""
    validation, open_breaker = ValidationError("bad"), CircuitBreakerOpenError("db", 3.0)
    default = RetryPolicy.from_config(RetryConfig(retryable_exceptions=[Exception]))
    named = RetryPolicy.from_config(RetryConfig(retryable_exceptions=[CircuitBreakerOpenError]))
    assert not default.is_retryable(validation)
    assert not default.is_retryable(open_breaker)
    assert default.is_retryable(ConnectionError())
    assert named.is_retryable(open_breaker)
    assert not named.is_retryable(validation)


@pytest.mark.parametrize("error", [KeyboardInterrupt(), SystemExit(2)])
def test_interrupts_propagate_after_one_attempt(error: BaseException) -> None:
    """KeyboardInterrupt and SystemExit escape at once, with no retry."""
    op = Flaky(error)
    config = exact(retryable_exceptions=[BaseException])
    with pytest.raises(type(error)):
        retry_with_backoff_sync(op, config, clock=FakeClock())
    assert op.calls == 1


# cancellation (tenacity #529) ------------------------------------------------------------


def _cancel_prone_config() -> RetryConfig:
    """The config under which tenacity #529 retried a cancelled coroutine."""
    return exact(retryable_exceptions=[Exception], non_retryable_exceptions=[ValueError])


async def test_wait_for_timeout_is_not_retried() -> None:
    """asyncio.wait_for around retry_with_backoff raises TimeoutError after one attempt."""
    calls = 0

    async def hang() -> None:
        nonlocal calls
        calls += 1
        await asyncio.Event().wait()

    call = retry_with_backoff(hang, _cancel_prone_config(), clock=FakeClock())
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(call, 0.05)
    assert calls == 1


async def test_task_cancel_is_not_retried() -> None:
    """Cancelling the task running retry_with_backoff raises CancelledError after one attempt."""
    calls, started = 0, asyncio.Event()

    async def hang() -> None:
        nonlocal calls
        calls += 1
        started.set()
        await asyncio.Event().wait()

    task = asyncio.create_task(retry_with_backoff(hang, _cancel_prone_config(), clock=FakeClock()))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert calls == 1


async def test_cancel_during_a_retried_attempt_is_not_retried() -> None:
    """A cancellation hitting attempt 2 (tenacity's loop, not the fast path) propagates."""
    calls, started = 0, asyncio.Event()

    async def fails_then_hangs() -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("reset")
        started.set()
        await asyncio.Event().wait()

    config = _cancel_prone_config()
    task = asyncio.create_task(retry_with_backoff(fails_then_hangs, config, clock=FakeClock()))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert calls == 2


def test_interrupt_during_a_retried_attempt_is_not_retried() -> None:
    """KeyboardInterrupt raised by attempt 2 escapes at once, even with BaseException listed."""
    op = Flaky(ConnectionError("reset"), KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        retry_with_backoff_sync(op, exact(retryable_exceptions=[BaseException]), clock=FakeClock())
    assert op.calls == 2


class StuckSleepClock(FakeClock):
    """A FakeClock whose async sleep never ends, to cancel a call mid-backoff."""

    def __init__(self) -> None:
        super().__init__()
        self.sleeping = asyncio.Event()

    async def asleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.sleeping.set()
        await asyncio.Event().wait()


async def test_cancel_during_backoff_sleep_stops_the_retry() -> None:
    """A cancellation arriving during the backoff sleep propagates; no attempt follows."""
    clock, op = StuckSleepClock(), Flaky(*failures(3))
    task = asyncio.create_task(retry_with_backoff(op.run, exact(), clock=clock))
    await clock.sleeping.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert (op.calls, clock.sleeps) == (1, [1.0])


# deadlines and per-attempt timeouts ------------------------------------------------------


def test_no_sleep_is_taken_past_the_deadline() -> None:
    """With deadline=5 and 2 s sleeps, attempts run at t=0, 2, 4 and the last error is raised."""
    clock, op = FakeClock(), Flaky(*failures(9))
    config = exact(
        strategy=RetryStrategy.FIXED_DELAY, initial_delay=2.0, deadline=5.0, max_attempts=10
    )
    with pytest.raises(ConnectionError) as caught:
        retry_with_backoff_sync(op, config, clock=clock)
    assert (op.calls, clock.sleeps) == (3, [2.0, 2.0])
    assert caught.value is op.raised[-1]


def test_each_attempt_receives_the_time_left() -> None:
    """An attempt gets min(attempt_timeout, time left before the deadline)."""
    clock = FakeClock()
    received: list[float | None] = []

    def attempt(timeout: float | None) -> str:
        received.append(timeout)
        clock.advance(min(3.0, timeout or 3.0))  # an honest attempt stops at its timeout
        raise ConnectionError("slow")

    config = exact(
        strategy=RetryStrategy.FIXED_DELAY,
        initial_delay=1.0,
        attempt_timeout=6.0,
        deadline=10.0,
        max_attempts=10,
    )
    with pytest.raises(ConnectionError):
        run_sync(attempt, config, clock=clock, operation="load")
    assert received == [6.0, 6.0, 2.0]
    assert clock.sleeps == [1.0, 1.0]


def test_attempts_get_no_timeout_when_none_is_set() -> None:
    """Without attempt_timeout or deadline every attempt receives None."""
    received: list[float | None] = []

    def attempt(timeout: float | None) -> str:
        received.append(timeout)
        if len(received) < 3:
            raise ConnectionError("reset")
        return "ok"

    assert run_sync(attempt, exact(), clock=FakeClock(), operation="load") == "ok"
    assert received == [None, None, None]


async def test_run_async_passes_the_attempt_timeout() -> None:
    """run_async hands attempt_timeout to every attempt (no deadline set)."""
    received: list[float | None] = []

    async def attempt(limit: float | None) -> str:
        received.append(limit)
        if len(received) < 2:
            raise ConnectionError("reset")
        return "ok"

    config = exact(attempt_timeout=2.5)
    assert await run_async(attempt, config, clock=FakeClock(), operation="load") == "ok"
    assert received == [2.5, 2.5]


async def test_slow_async_attempt_is_cancelled_and_retried(
    events: list[ResilienceEvent],
) -> None:
    """attempt_timeout cancels a hung attempt with OperationTimeoutError; the next one succeeds."""
    calls = 0

    async def sometimes_hangs() -> str:
        nonlocal calls
        calls += 1
        if calls == 1:
            await asyncio.Event().wait()
        return "ok"

    config = exact(attempt_timeout=0.02)
    assert await retry_with_backoff(sometimes_hangs, config, clock=FakeClock()) == "ok"
    assert calls == 2
    failed = [e for e in events if isinstance(e, CallFailed)]
    assert len(failed) == 1
    assert isinstance(failed[0].error, OperationTimeoutError)


def test_slow_sync_attempt_times_out_and_is_retried() -> None:
    """The sync twin gives up on a hung attempt at attempt_timeout and retries."""
    calls, gate = 0, threading.Event()

    def sometimes_slow() -> str:
        nonlocal calls
        calls += 1
        if calls == 1:
            gate.wait(5.0)  # held until the test is done with it, then abandoned
            return "late"
        return "ok"

    config = exact(attempt_timeout=0.05)
    try:
        assert retry_with_backoff_sync(sometimes_slow, config, clock=FakeClock()) == "ok"
    finally:
        gate.set()
    assert calls == 2


# Retry-After -----------------------------------------------------------------------------


def test_retry_after_replaces_the_backoff() -> None:
    """A server's Retry-After of 7 s is slept instead of the 1 s backoff."""
    clock, op = FakeClock(), Flaky(RateLimited(7.0))
    assert retry_with_backoff_sync(op, exact(), clock=clock) == "ok"
    assert clock.sleeps == [7.0]


def test_retry_after_is_capped_by_max_delay() -> None:
    """A Retry-After longer than max_delay is cut to max_delay."""
    clock, op = FakeClock(), Flaky(RateLimited(600.0))
    retry_with_backoff_sync(op, exact(max_delay=30.0), clock=clock)
    assert clock.sleeps == [30.0]


def test_retry_after_is_ignored_when_not_honoured() -> None:
    """honor_retry_after=False keeps the backoff schedule."""
    clock, op = FakeClock(), Flaky(RateLimited(7.0))
    retry_with_backoff_sync(op, exact(honor_retry_after=False), clock=clock)
    assert clock.sleeps == [1.0]


async def test_retry_after_http_date_is_relative_to_the_clock() -> None:
    """An HTTP-date Retry-After on an httpx error waits until that date by the clock."""
    clock = FakeClock()
    request = httpx.Request("GET", "https://pay.example.test/charge")
    date = email.utils.formatdate(clock.time() + 20, usegmt=True)
    response = httpx.Response(503, headers={"Retry-After": date}, request=request)
    op = Flaky(httpx.HTTPStatusError("503", request=request, response=response))
    assert await retry_with_backoff(op.run, exact(), clock=clock) == "ok"
    assert clock.sleeps == [20.0]


def test_retry_after_past_the_deadline_gives_up() -> None:
    """A Retry-After that would end past the deadline is not slept; the error is raised."""
    clock, op = FakeClock(), Flaky(RateLimited(30.0))
    with pytest.raises(RateLimited):
        retry_with_backoff_sync(op, exact(deadline=10.0), clock=clock)
    assert (op.calls, clock.sleeps) == (1, [])


# test mode -------------------------------------------------------------------------------


def test_test_mode_skips_sleeps_but_publishes_them(events: list[ResilienceEvent]) -> None:
    """With set_testing(True) nothing is slept, yet each delay is computed and published."""
    clock, op = FakeClock(), Flaky(*failures(3))
    with set_testing(True):
        assert retry_with_backoff_sync(op, exact(), clock=clock) == "ok"
    assert clock.sleeps == []
    delays = [e.delay for e in events if isinstance(e, RetryScheduled)]
    assert delays == [1.0, 2.0, 4.0]


async def test_test_mode_caps_attempts() -> None:
    """set_testing(True, attempts=2) stops a 4-attempt config after 2 attempts."""
    clock, op = FakeClock(), Flaky(*failures(3))
    with set_testing(True, attempts=2), pytest.raises(ConnectionError):
        await retry_with_backoff(op.run, exact(), clock=clock)
    assert (op.calls, clock.sleeps) == (2, [])


# events and context ----------------------------------------------------------------------


async def test_events_follow_each_failure_and_sleep(events: list[ResilienceEvent]) -> None:
    """Each failure publishes CallFailed, and each sleep is announced by RetryScheduled."""
    clock, op = FakeClock(), Flaky(*failures(2))
    context = ErrorContext(operation="charge_card")
    await retry_with_backoff(op.run, exact(), context, clock=clock)
    summary = [
        (type(e).__name__, e.attempt) for e in events if isinstance(e, CallFailed | RetryScheduled)
    ]
    assert summary == [
        ("CallFailed", 1),
        ("RetryScheduled", 1),
        ("CallFailed", 2),
        ("RetryScheduled", 2),
    ]
    scheduled = [e for e in events if isinstance(e, RetryScheduled)]
    assert [e.delay for e in scheduled] == clock.sleeps
    failed = [e for e in events if isinstance(e, CallFailed)]
    assert [e.error for e in failed] == op.raised
    assert {e.operation for e in failed} | {e.operation for e in scheduled} == {"charge_card"}


def test_final_failure_publishes_call_failed_only(events: list[ResilienceEvent]) -> None:
    """The last attempt's failure is published, with no RetryScheduled after it."""
    op = Flaky(*failures(2))
    with pytest.raises(ConnectionError):
        retry_with_backoff_sync(op, exact(max_attempts=2), clock=FakeClock())
    assert [type(e).__name__ for e in events] == ["CallFailed", "RetryScheduled", "CallFailed"]


def test_non_retryable_failure_is_published_once(events: list[ResilienceEvent]) -> None:
    """A non-retryable failure publishes one CallFailed and nothing else."""
    op = Flaky(ValidationError("bad email"))
    with pytest.raises(ValidationError):
        retry_with_backoff_sync(op, exact(), ErrorContext(operation="signup"), clock=FakeClock())
    assert events == [CallFailed("signup", op.raised[0], 1)]


async def test_error_context_tracks_the_attempt_number() -> None:
    """error_context.metadata['attempt'] holds the number of the attempt running."""
    context = ErrorContext(operation="sync_family")
    seen: list[int] = []

    async def op() -> str:
        seen.append(context.metadata["attempt"])
        if len(seen) < 3:
            raise ConnectionError("reset")
        return "ok"

    await retry_with_backoff(op, exact(), context, clock=FakeClock())
    assert seen == [1, 2, 3]
    assert context.metadata["attempt"] == 3


async def test_concurrent_calls_keep_their_own_schedules() -> None:
    """Two calls retried at once each sleep their own full schedule (no shared state)."""
    clock = FakeClock()
    first, second = Flaky(*failures(2)), Flaky(*failures(3))
    config = exact(jitter=Jitter.DECORRELATED, max_attempts=5)
    results = await asyncio.gather(
        retry_with_backoff(first.run, config, clock=clock),
        retry_with_backoff(second.run, config, clock=clock),
    )
    assert list(results) == ["ok", "ok"]
    assert len(clock.sleeps) == 2 + 3
