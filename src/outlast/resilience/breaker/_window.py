"""Sliding windows for a circuit breaker's rate rules (resilience4j's failure-rate and
slow-call-rate thresholds).

Two kinds, one interface: :class:`CountWindow` keeps the last N outcomes in a ring;
:class:`TimeWindow` keeps N one-second buckets stamped with the second they hold. Both keep
running totals and subtract what they evict, so recording and reading are O(1) (a time
window that skipped idle seconds clears at most N buckets once). Windows are not
thread-safe: the breaker state that owns one holds its lock while touching it. They never
read a clock themselves; callers pass ``now`` from the breaker's injected clock.
"""

from __future__ import annotations

import math
from typing import Protocol

from outlast.config import CircuitBreakerConfig, WindowType

__all__ = ["CountWindow", "SlidingWindow", "TimeWindow", "window_for"]

_FAILED = 1
_SLOW = 2
_LONG_AGO = -(2**62)  # a "latest second" older than any window, so the first record resets


class SlidingWindow(Protocol):
    """The outcomes of recent calls, summarised as totals and percentages."""

    def record(self, failed: bool, slow: bool, now: float) -> None:
        """Add one call's outcome, observed at monotonic time ``now``."""
        ...

    def total_calls(self, now: float) -> int:
        """How many calls the window holds at ``now``."""
        ...

    def failure_rate(self, now: float) -> float:
        """Failed calls as a percentage of the calls held (0.0 when empty)."""
        ...

    def slow_call_rate(self, now: float) -> float:
        """Slow calls as a percentage of the calls held (0.0 when empty)."""
        ...

    def clear(self) -> None:
        """Forget every outcome."""
        ...


def _percent(part: int, total: int) -> float:
    return part * 100.0 / total if total else 0.0


class CountWindow:
    """The last ``size`` outcomes, in a ring of small ints (bit 1: failed, bit 2: slow)."""

    __slots__ = ("_calls", "_failures", "_next", "_ring", "_size", "_slow")

    def __init__(self, *, size: int) -> None:
        if size < 1:
            raise ValueError(f"size must be >= 1, got {size}")
        self._size = size
        self._ring = [0] * size
        self.clear()

    def clear(self) -> None:
        self._ring[:] = [0] * self._size
        self._next = 0
        self._calls = 0
        self._failures = 0
        self._slow = 0

    def record(self, failed: bool, slow: bool, now: float) -> None:
        index = self._next
        if self._calls == self._size:
            evicted = self._ring[index]
            self._failures -= evicted & _FAILED
            self._slow -= (evicted & _SLOW) >> 1
        else:
            self._calls += 1
        self._ring[index] = (_FAILED if failed else 0) | (_SLOW if slow else 0)
        self._failures += failed
        self._slow += slow
        self._next = (index + 1) % self._size

    def total_calls(self, now: float) -> int:
        return self._calls

    def failure_rate(self, now: float) -> float:
        return _percent(self._failures, self._calls)

    def slow_call_rate(self, now: float) -> float:
        return _percent(self._slow, self._calls)


class TimeWindow:
    """The calls of the last ``size`` seconds, in one bucket per second.

    Bucket ``s % size`` holds second ``s``. Moving to a later second empties the buckets of
    the seconds skipped over, which by then hold data older than the window.
    """

    __slots__ = (
        "_bucket_calls",
        "_bucket_failures",
        "_bucket_slow",
        "_calls",
        "_failures",
        "_head",
        "_size",
        "_slow",
    )

    def __init__(self, *, size: int) -> None:
        if size < 1:
            raise ValueError(f"size must be >= 1, got {size}")
        self._size = size
        self.clear()

    def clear(self) -> None:
        self._bucket_calls = [0] * self._size
        self._bucket_failures = [0] * self._size
        self._bucket_slow = [0] * self._size
        self._calls = 0
        self._failures = 0
        self._slow = 0
        self._head = _LONG_AGO  # the latest second seen

    def _advance(self, now: float) -> int:
        """Move the window's end to the second of ``now``; return the window's last second."""
        second = math.floor(now)
        head = self._head
        if second - head >= self._size:
            if self._calls:
                self.clear()
            self._head = second
        elif second > head:
            for skipped in range(head + 1, second + 1):
                self._evict(skipped % self._size)
            self._head = second
        return self._head

    def _evict(self, index: int) -> None:
        self._calls -= self._bucket_calls[index]
        self._failures -= self._bucket_failures[index]
        self._slow -= self._bucket_slow[index]
        self._bucket_calls[index] = self._bucket_failures[index] = self._bucket_slow[index] = 0

    def record(self, failed: bool, slow: bool, now: float) -> None:
        # A late call stamped before the head still lands in the newest bucket: the window
        # only moves forwards, like the clock that feeds it.
        index = self._advance(now) % self._size
        self._bucket_calls[index] += 1
        self._bucket_failures[index] += failed
        self._bucket_slow[index] += slow
        self._calls += 1
        self._failures += failed
        self._slow += slow

    def total_calls(self, now: float) -> int:
        self._advance(now)
        return self._calls

    def failure_rate(self, now: float) -> float:
        self._advance(now)
        return _percent(self._failures, self._calls)

    def slow_call_rate(self, now: float) -> float:
        self._advance(now)
        return _percent(self._slow, self._calls)


def window_for(config: CircuitBreakerConfig) -> SlidingWindow:
    """The window ``config`` asks for: the last ``window_size`` calls or seconds."""
    if config.window_type is WindowType.TIME_BASED:
        return TimeWindow(size=config.window_size)
    return CountWindow(size=config.window_size)
