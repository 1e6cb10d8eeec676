"""Sliding windows behind the breaker's rate rules: counts, rates, eviction, forgetting."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from outlast.config import CircuitBreakerConfig, WindowType
from outlast.resilience.breaker._window import CountWindow, TimeWindow, window_for

Outcome = tuple[bool, bool]
outcomes = st.lists(st.tuples(st.booleans(), st.booleans()), max_size=60)


def test_empty_windows_report_zero() -> None:
    """An empty window holds no calls and reports 0 % for both rates (no division by 0)."""
    for window in (CountWindow(size=4), TimeWindow(size=4)):
        assert window.total_calls(0.0) == 0
        assert window.failure_rate(0.0) == 0.0
        assert window.slow_call_rate(0.0) == 0.0


def test_count_window_rates() -> None:
    """The count window reports the share of failed and of slow calls among those held."""
    window = CountWindow(size=10)
    for failed, slow in [(True, False), (False, True), (True, True), (False, False)]:
        window.record(failed, slow, 0.0)
    assert window.total_calls(0.0) == 4
    assert window.failure_rate(0.0) == 50.0
    assert window.slow_call_rate(0.0) == 50.0


def test_count_window_evicts_the_oldest_outcome() -> None:
    """Once full, each new outcome pushes out the oldest, and its counts go with it."""
    window = CountWindow(size=3)
    for _ in range(3):
        window.record(True, True, 0.0)
    window.record(False, False, 0.0)
    assert window.total_calls(0.0) == 3
    assert window.failure_rate(0.0) == pytest.approx(200 / 3)
    for _ in range(2):
        window.record(False, False, 0.0)
    assert window.failure_rate(0.0) == 0.0
    assert window.slow_call_rate(0.0) == 0.0


@given(outcomes, st.integers(min_value=1, max_value=12))
def test_count_window_matches_the_last_n_outcomes(history: list[Outcome], size: int) -> None:
    """For any history, the count window's totals equal a recount of its last ``size`` calls."""
    window = CountWindow(size=size)
    for failed, slow in history:
        window.record(failed, slow, 0.0)
    held = history[-size:]
    assert window.total_calls(0.0) == len(held)
    expected_failures = 100.0 * sum(f for f, _ in held) / len(held) if held else 0.0
    expected_slow = 100.0 * sum(s for _, s in held) / len(held) if held else 0.0
    assert window.failure_rate(0.0) == pytest.approx(expected_failures)
    assert window.slow_call_rate(0.0) == pytest.approx(expected_slow)


def test_time_window_forgets_calls_older_than_its_seconds() -> None:
    """A 10-second window drops each second's calls once that second leaves the window."""
    window = TimeWindow(size=10)
    window.record(True, False, 100.2)
    window.record(False, False, 105.7)
    assert window.total_calls(109.9) == 2
    assert window.failure_rate(109.9) == 50.0
    assert window.total_calls(110.0) == 1  # second 100 has left [101, 110]
    assert window.failure_rate(110.0) == 0.0
    assert window.total_calls(114.9) == 1
    assert window.total_calls(115.0) == 0  # second 105 has left [106, 115]


def test_time_window_after_a_long_idle_gap_starts_empty() -> None:
    """After more than its length of silence, the window holds only what comes next."""
    window = TimeWindow(size=5)
    for second in range(5):
        window.record(True, True, float(second))
    window.record(False, False, 1000.0)
    assert window.total_calls(1000.0) == 1
    assert window.failure_rate(1000.0) == 0.0
    assert window.slow_call_rate(1000.0) == 0.0


@given(
    st.lists(
        st.tuples(st.floats(min_value=0, max_value=3), st.booleans(), st.booleans()),
        max_size=60,
    ),
    st.integers(min_value=1, max_value=8),
)
def test_time_window_matches_a_recount(steps: list[tuple[float, bool, bool]], size: int) -> None:
    """For any timed history, the time window counts exactly the calls of its last seconds."""
    window = TimeWindow(size=size)
    now = 50.0
    history: list[tuple[float, bool, bool]] = []
    for delay, failed, slow in steps:
        now += delay
        window.record(failed, slow, now)
        history.append((now, failed, slow))
    newest_second = int(now)
    held = [(f, s) for t, f, s in history if int(t) > newest_second - size]
    assert window.total_calls(now) == len(held)
    expected = 100.0 * sum(f for f, _ in held) / len(held) if held else 0.0
    assert window.failure_rate(now) == pytest.approx(expected)


def test_clear_forgets_everything() -> None:
    """``clear`` empties both kinds of window."""
    for window in (CountWindow(size=3), TimeWindow(size=3)):
        window.record(True, True, 1.0)
        window.clear()
        assert window.total_calls(1.0) == 0


def test_window_for_picks_the_configured_kind() -> None:
    """The config's ``window_type`` decides which window a breaker keeps."""
    count = window_for(CircuitBreakerConfig(failure_rate_threshold=50, window_size=7))
    timed = window_for(
        CircuitBreakerConfig(failure_rate_threshold=50, window_type=WindowType.TIME_BASED)
    )
    assert isinstance(count, CountWindow)
    assert isinstance(timed, TimeWindow)


def test_window_size_must_be_positive() -> None:
    """A window of no calls or no seconds is refused at construction."""
    with pytest.raises(ValueError, match="size"):
        CountWindow(size=0)
    with pytest.raises(ValueError, match="size"):
        TimeWindow(size=0)
