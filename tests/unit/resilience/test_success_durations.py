"""Successful calls are counted and timed for listeners: any ``@handle_errors`` call, sync
or async, hands its name to success listeners and how long it ran to duration listeners;
with no duration listener, no clock is read."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from _workers import fresh_namespace
from outlast import handle_errors
from outlast.monitoring import ErrorMonitor, error_monitor
from outlast.monitoring._windows import Dim
from outlast.resilience._successes import (
    add_duration_listener,
    add_success_listener,
    remove_duration_listener,
    timer,
)

NAP = 0.03  # seconds the timed functions sleep


@pytest.fixture
def durations() -> Iterator[list[tuple[str, float]]]:
    """The (operation, seconds) pairs heard while the test runs."""
    heard: list[tuple[str, float]] = []
    stop = add_duration_listener(lambda name, seconds: heard.append((name, seconds)))
    yield heard
    stop()


@handle_errors(operation_name="timed.sync")
def sleepy() -> str:
    time.sleep(NAP)
    return "done"


@handle_errors(operation_name="timed.async")
async def async_sleepy() -> str:
    await asyncio.sleep(NAP)
    return "done"


def test_a_sync_call_reports_its_name_and_how_long_it_ran(
    durations: list[tuple[str, float]],
) -> None:
    """One success of timed.sync: one duration at least as long as its sleep."""
    names: list[str] = []
    stop = add_success_listener(names.append)
    try:
        assert sleepy() == "done"
    finally:
        stop()
    assert names == ["timed.sync"]
    [(_, seconds)] = [d for d in durations if d[0] == "timed.sync"]
    assert NAP <= seconds < NAP + 1.0


async def test_an_async_call_reports_how_long_it_ran(durations: list[tuple[str, float]]) -> None:
    """One success of timed.async: one duration at least as long as its sleep."""
    assert await async_sleepy() == "done"
    [(_, seconds)] = [d for d in durations if d[0] == "timed.async"]
    assert NAP <= seconds < NAP + 1.0


def test_without_a_duration_listener_no_clock_is_read() -> None:
    """With the process's monitor not listening (and nobody else), timer() is 0.0."""
    error_monitor.unlisten()
    try:
        assert timer() == 0.0
    finally:
        error_monitor.listen()
    assert timer() > 0.0  # the monitor listens again, so calls are timed


def test_a_failing_duration_listener_is_logged_and_the_call_stands(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A duration listener that raises never reaches the caller."""

    def broken(name: str, seconds: float) -> None:
        raise RuntimeError("listener bug")

    add_duration_listener(broken)
    try:
        assert sleepy() == "done"
    finally:
        remove_duration_listener(broken)
    assert "duration listener" in caplog.text


@pytest.mark.parametrize(("threshold", "slow"), [(NAP / 2, 1), (10.0, 0)])
def test_a_monitor_counts_a_slow_handle_errors_call_as_slow(
    redis_url: str, threshold: float, slow: int
) -> None:
    """A plain @handle_errors call that runs past the monitor's slow-call threshold is one
    slow call of its operation in the shared windows; under a higher threshold, none."""
    with fresh_namespace(redis_url) as namespace:
        monitor = ErrorMonitor(
            redis_url=redis_url, namespace=namespace, store_events=False, slow_call=threshold
        )
        monitor.listen()
        try:
            sleepy()
        finally:
            monitor.unlisten()
        assert monitor.flush()
        totals = monitor.counter_reader().read(time.time())
        monitor.close()
    assert totals is not None
    assert totals.count("5m", Dim.OPERATION, "timed.sync", "w") == slow
