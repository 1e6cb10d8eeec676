"""The retry driver: a plain call first, tenacity only after a retryable failure.

The success path costs one call and a few attribute reads: no tenacity object, no event,
no clock read unless a deadline is set. After a first failure that may be retried, a
per-call ``tenacity.Retrying`` (or ``AsyncRetrying``) drives the rest of the loop with our
stop (attempts and deadline), wait (``Backoff``, or the server's Retry-After), retry
predicate (``RetryPolicy``, from :mod:`outlast.resilience.retry._retry_policy`), sleep (the
injected ``Clock``, skipped in test mode) and a before-sleep hook that publishes
``RetryScheduled``. Every failed attempt publishes ``CallFailed``. The caller always gets
the ORIGINAL exception of the last attempt, never a ``tenacity.RetryError``.

Timeouts: each attempt receives the time it may take, ``min(attempt_timeout, time left
before the deadline)`` or None, and must respect it (``_timeout`` does). The deadline
counts from the start of the first attempt; a sleep that would end at or past it is not
taken. This module never retries ``asyncio.CancelledError``, ``KeyboardInterrupt``,
``SystemExit`` or any other ``BaseException`` that is not an ``Exception`` (the trap of
tenacity #529), and never shares retry state between calls (tenacity #93).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast, overload

import tenacity

from outlast._clock import SYSTEM_CLOCK, Clock
from outlast.config import RetryConfig
from outlast.errors import ErrorContext
from outlast.resilience._events import CallFailed, RetryScheduled, publish
from outlast.resilience._timeout import call_with_timeout_async, call_with_timeout_sync
from outlast.resilience.retry import _testmode
from outlast.resilience.retry._backoff import Backoff
from outlast.resilience.retry._retry_after import retry_after_of
from outlast.resilience.retry._retry_policy import policy_for

__all__ = [
    "retry_with_backoff",
    "retry_with_backoff_sync",
    "run_async",
    "run_sync",
]

T = TypeVar("T")

_DEFAULT_CONFIG = RetryConfig()


def run_sync(
    attempt: Callable[[float | None], T],
    config: RetryConfig,
    *,
    clock: Clock = SYSTEM_CLOCK,
    operation: str = "",
    context: ErrorContext | None = None,
) -> T:
    """Run ``attempt(timeout)`` until it succeeds or ``config`` gives up; re-raise the last error.

    ``context``, when given, gets the current attempt number in ``metadata["attempt"]``.
    """
    if context is not None:
        context.metadata["attempt"] = 1
    deadline = config.deadline
    start = 0.0 if deadline is None else clock.monotonic()
    try:
        return attempt(_first_timeout(config))
    except Exception as error:
        first = error
    run = _takeover(first, config, clock=clock, operation=operation, context=context, start=start)

    def one() -> T:
        number = run.next_number()
        if number == 1:
            raise first  # replays the fast path's failure so tenacity decides on it
        try:
            return attempt(run.timeout())
        except Exception as error:
            run.failed(error, number)
            raise

    sleep = _skip_sleep if run.skip_sleeps else clock.sleep
    return tenacity.Retrying(sleep=sleep, **run.tenacity_options())(one)


async def run_async(
    attempt: Callable[[float | None], Awaitable[T]],
    config: RetryConfig,
    *,
    clock: Clock = SYSTEM_CLOCK,
    operation: str = "",
    context: ErrorContext | None = None,
) -> T:
    """The async twin of :func:`run_sync`: ``await attempt(timeout)`` until it succeeds."""
    if context is not None:
        context.metadata["attempt"] = 1
    deadline = config.deadline
    start = 0.0 if deadline is None else clock.monotonic()
    try:
        return await attempt(_first_timeout(config))
    except Exception as error:
        first = error
    run = _takeover(first, config, clock=clock, operation=operation, context=context, start=start)

    async def one() -> T:
        number = run.next_number()
        if number == 1:
            raise first  # replays the fast path's failure so tenacity decides on it
        try:
            return await attempt(run.timeout())
        except Exception as error:
            run.failed(error, number)
            raise

    sleep = _skip_asleep if run.skip_sleeps else clock.asleep
    result: Any = await tenacity.AsyncRetrying(sleep=sleep, **run.tenacity_options())(one)
    return cast(T, result)


@overload
async def retry_with_backoff(
    operation: Callable[[], Awaitable[T]],
    config: RetryConfig | None = None,
    error_context: ErrorContext | None = None,
    *,
    clock: Clock | None = None,
) -> T: ...
@overload
async def retry_with_backoff(
    operation: Callable[[], T],
    config: RetryConfig | None = None,
    error_context: ErrorContext | None = None,
    *,
    clock: Clock | None = None,
) -> T: ...
async def retry_with_backoff(
    operation: Callable[[], Any],
    config: RetryConfig | None = None,
    error_context: ErrorContext | None = None,
    *,
    clock: Clock | None = None,
) -> Any:
    """Call ``operation()`` (returning an awaitable or a plain value) with retries.

    ``config`` None means ``RetryConfig()``; its ``attempt_timeout`` and ``deadline``
    apply to the awaitable (a plain call cannot be interrupted). ``error_context.operation``
    names the operation in events, and ``error_context.metadata["attempt"]`` holds the
    current attempt number.
    """
    name = _operation_name(operation, error_context)
    call = functools.partial(_awaited, operation)

    async def attempt(limit: float | None) -> Any:
        return await call_with_timeout_async(call, limit, operation=name)

    return await run_async(
        attempt,
        config if config is not None else _DEFAULT_CONFIG,
        clock=clock if clock is not None else SYSTEM_CLOCK,
        operation=name,
        context=error_context,
    )


def retry_with_backoff_sync(
    operation: Callable[[], T],
    config: RetryConfig | None = None,
    error_context: ErrorContext | None = None,
    *,
    clock: Clock | None = None,
) -> T:
    """The sync twin of :func:`retry_with_backoff`; timeouts use a worker thread."""
    name = _operation_name(operation, error_context)

    def attempt(timeout: float | None) -> T:
        return call_with_timeout_sync(operation, timeout, operation=name)

    return run_sync(
        attempt,
        config if config is not None else _DEFAULT_CONFIG,
        clock=clock if clock is not None else SYSTEM_CLOCK,
        operation=name,
        context=error_context,
    )


class _Run:
    """One call's retry state from its first failure on; made per call, never shared."""

    __slots__ = (
        "backoff",
        "clock",
        "config",
        "context",
        "max_attempts",
        "number",
        "operation",
        "policy",
        "skip_sleeps",
        "start",
    )

    def __init__(
        self,
        config: RetryConfig,
        *,
        clock: Clock,
        operation: str,
        context: ErrorContext | None,
        start: float,
    ) -> None:
        mode = _testmode.current()
        self.config = config
        self.policy = policy_for(config)
        self.backoff = Backoff(config)
        self.clock = clock
        self.operation = operation
        self.context = context
        self.start = start
        self.number = 0
        self.skip_sleeps = mode.enabled
        self.max_attempts = config.max_attempts
        if mode.max_attempts is not None:
            self.max_attempts = min(self.max_attempts, mode.max_attempts)

    def next_number(self) -> int:
        """Count an attempt about to run, and note it on the error context."""
        self.number += 1
        if self.context is not None:
            self.context.metadata["attempt"] = self.number
        return self.number

    def timeout(self) -> float | None:
        """The time the next attempt may take: the attempt timeout, or what is left."""
        config = self.config
        deadline = config.deadline
        if deadline is None:
            return config.attempt_timeout
        left = max(0.0, deadline - (self.clock.monotonic() - self.start))
        limit = config.attempt_timeout
        return left if limit is None or left < limit else limit

    def failed(self, error: BaseException, attempt: int) -> None:
        publish(CallFailed(self.operation, error, attempt))

    def tenacity_options(self) -> dict[str, Any]:
        """Our decisions as tenacity strategies and hooks."""
        return {
            "stop": self.stop,
            "wait": self.wait,
            "retry": tenacity.retry_if_exception(self.policy.is_retryable),
            "before_sleep": self.before_sleep,
            "reraise": True,
        }

    def wait(self, state: tenacity.RetryCallState) -> float:
        delay = self.backoff.next_delay(state.attempt_number)
        if self.config.honor_retry_after:
            asked = retry_after_of(_error_of(state), now=self.clock.time())
            if asked is not None:
                delay = min(asked, self.config.max_delay)
        return delay

    def stop(self, state: tenacity.RetryCallState) -> bool:
        # tenacity computes the wait first, so the deadline check sees the coming sleep.
        if state.attempt_number >= self.max_attempts:
            return True
        deadline = self.config.deadline
        if deadline is None:
            return False
        return self.clock.monotonic() - self.start + state.upcoming_sleep >= deadline

    def before_sleep(self, state: tenacity.RetryCallState) -> None:
        error = _error_of(state)
        publish(RetryScheduled(self.operation, error, state.attempt_number, state.upcoming_sleep))


def _takeover(
    first: Exception,
    config: RetryConfig,
    *,
    clock: Clock,
    operation: str,
    context: ErrorContext | None,
    start: float,
) -> _Run:
    """Record the first failure; raise it unless a retry may follow, else start a run."""
    publish(CallFailed(operation, first, 1))
    run = _Run(config, clock=clock, operation=operation, context=context, start=start)
    if run.max_attempts <= 1 or not run.policy.is_retryable(first):
        raise first
    return run


def _first_timeout(config: RetryConfig) -> float | None:
    limit, deadline = config.attempt_timeout, config.deadline
    if deadline is None or (limit is not None and limit <= deadline):
        return limit
    return deadline


def _error_of(state: tenacity.RetryCallState) -> BaseException:
    outcome = state.outcome
    error = outcome.exception() if outcome is not None else None
    assert error is not None, "tenacity waits and sleeps only after a failure"
    return error


async def _awaited(operation: Callable[[], Any]) -> Any:
    result = operation()
    if inspect.isawaitable(result):
        return await result
    return result


def _operation_name(operation: Callable[..., Any], context: ErrorContext | None) -> str:
    if context is not None:
        return context.operation
    return getattr(operation, "__qualname__", None) or type(operation).__name__


def _skip_sleep(seconds: float) -> None:
    """Test mode: the delay was computed and published; it is just not slept."""


async def _skip_asleep(seconds: float) -> None:
    """Test mode, async: the delay was computed and published; it is just not slept."""
