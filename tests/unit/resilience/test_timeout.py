"""Per-attempt timeouts: async cancellation, and sync calls abandoned in a worker thread.

The thread tests wait for real (tens of milliseconds): a worker thread running past its
timeout is the very thing being proven.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading

import pytest

from outlast.errors import OperationTimeoutError
from outlast.resilience._timeout import call_with_timeout_async, call_with_timeout_sync

SHORT = 0.05  # a timeout that is sure to fire before a gated call is released
PATIENCE = 5.0  # an upper bound for waiting on an event that must happen

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="none")


class Recorder:
    """Counts on_finish calls and remembers which thread ran them."""

    def __init__(self) -> None:
        self.calls = 0
        self.thread = ""
        self.done = threading.Event()

    def __call__(self) -> None:
        self.calls += 1
        self.thread = threading.current_thread().name
        self.done.set()


# async -----------------------------------------------------------------------------------


async def test_async_no_timeout_is_a_plain_await() -> None:
    """timeout=None awaits the callable's result unchanged."""

    async def work() -> str:
        return "done"

    assert await call_with_timeout_async(work, None, operation="read") == "done"


async def test_async_timeout_cancels_the_awaitable() -> None:
    """At the timeout the awaitable is cancelled and OperationTimeoutError is raised from it."""
    cancelled = asyncio.Event()

    async def hang() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    with pytest.raises(OperationTimeoutError) as caught:
        await call_with_timeout_async(hang, 0.01, operation="read")
    assert cancelled.is_set()
    assert isinstance(caught.value, TimeoutError)
    assert isinstance(caught.value.__cause__, TimeoutError)
    assert (caught.value.operation, caught.value.timeout) == ("read", 0.01)


async def test_async_callee_timeout_error_passes_through() -> None:
    """A TimeoutError the callee raises itself is not relabelled as our timeout."""
    own = TimeoutError("the upstream said so")

    async def fail() -> None:
        raise own

    with pytest.raises(TimeoutError) as caught:
        await call_with_timeout_async(fail, 10.0, operation="read")
    assert caught.value is own


async def test_async_outer_cancellation_stays_a_cancellation() -> None:
    """Cancelling the caller's task raises CancelledError, not a timeout."""
    started = asyncio.Event()

    async def hang() -> None:
        started.set()
        await asyncio.Event().wait()

    task = asyncio.create_task(call_with_timeout_async(hang, 10.0, operation="read"))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_async_outer_deadline_is_not_ours() -> None:
    """An enclosing asyncio.wait_for that fires first gives its own TimeoutError."""

    async def hang() -> None:
        await asyncio.Event().wait()

    with pytest.raises(TimeoutError) as caught:
        await asyncio.wait_for(call_with_timeout_async(hang, 10.0, operation="read"), 0.01)
    assert not isinstance(caught.value, OperationTimeoutError)


# sync ------------------------------------------------------------------------------------


def test_sync_no_timeout_calls_inline_then_finishes() -> None:
    """timeout=None calls fn in the caller's thread; on_finish runs after, even on error."""
    finish = Recorder()
    here = threading.current_thread().name
    assert call_with_timeout_sync(lambda: here, None, operation="w", on_finish=finish) == here
    with pytest.raises(ZeroDivisionError):
        call_with_timeout_sync(lambda: 1 // 0, None, operation="w", on_finish=finish)
    assert finish.calls == 2


def test_sync_call_in_time_returns_from_a_named_worker() -> None:
    """Within the timeout the result comes back from an outlast-timeout worker thread."""
    finish = Recorder()
    name = call_with_timeout_sync(
        lambda: threading.current_thread().name, PATIENCE, operation="w", on_finish=finish
    )
    assert name.startswith("outlast-timeout")
    assert finish.calls == 1


def test_sync_errors_propagate_unchanged() -> None:
    """An error raised in the worker reaches the caller as the same object."""
    error = ConnectionError("reset")
    finish = Recorder()

    def fail() -> None:
        raise error

    with pytest.raises(ConnectionError) as caught:
        call_with_timeout_sync(fail, PATIENCE, operation="w", on_finish=finish)
    assert caught.value is error
    assert finish.calls == 1


def test_sync_callee_timeout_error_passes_through() -> None:
    """A TimeoutError raised by the call itself is not taken for our timeout."""

    def fail() -> None:
        raise TimeoutError("upstream")

    with pytest.raises(TimeoutError) as caught:
        call_with_timeout_sync(fail, PATIENCE, operation="w")
    assert not isinstance(caught.value, OperationTimeoutError)


def test_sync_abandoned_call_finishes_later_and_only_then_releases() -> None:
    """At the timeout the caller gets OperationTimeoutError; on_finish waits for the real end."""
    gate, finished = threading.Event(), threading.Event()
    finish = Recorder()

    def slow() -> str:
        gate.wait(PATIENCE)
        finished.set()
        return "late"

    with pytest.raises(OperationTimeoutError) as caught:
        call_with_timeout_sync(slow, SHORT, operation="report", on_finish=finish)
    assert (caught.value.operation, caught.value.timeout) == ("report", SHORT)
    assert finish.calls == 0  # the call is still running: its permit is still held
    assert not finished.is_set()

    gate.set()
    assert finish.done.wait(PATIENCE)
    assert finished.is_set()
    assert finish.calls == 1
    assert finish.thread.startswith("outlast-timeout")


def test_sync_context_variables_reach_the_worker() -> None:
    """Context variables set by the caller are visible inside the worker thread."""
    token = request_id.set("req-42")
    try:
        seen = call_with_timeout_sync(request_id.get, PATIENCE, operation="w")
    finally:
        request_id.reset(token)
    assert seen == "req-42"
