"""Helpers for testing code that uses Outlast, without sleeping and without a real clock.

``FakeClock`` implements the :class:`~outlast.typing.Clock` protocol: ``sleep`` advances
time instantly and records the requested delay, so a test asserts an exact schedule.
``set_testing(True)`` makes every retry skip its sleeps process-wide (and optionally caps
attempts); it works as a context manager too.
"""

from __future__ import annotations

import asyncio
import threading
from types import TracebackType

from outlast.resilience.retry import _testmode

__all__ = ["FakeClock", "set_testing"]


class FakeClock:
    """A clock that only moves when told to: by ``advance`` or by a (recorded) sleep."""

    def __init__(self, *, start: float = 0.0, wall_start: float = 1_700_000_000.0) -> None:
        self._now = start
        self._wall_offset = wall_start - start
        self._lock = threading.Lock()
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self._now

    def time(self) -> float:
        return self._now + self._wall_offset

    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds`` (must not be negative)."""
        if seconds < 0:
            raise ValueError(f"cannot move a clock backwards (seconds={seconds})")
        with self._lock:
            self._now += seconds

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.advance(max(0.0, seconds))

    async def asleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.advance(max(0.0, seconds))
        await asyncio.sleep(0)  # still yield, as a real sleep would


class set_testing:
    """Switch test mode on or off: retries skip sleeps; ``attempts`` caps them if given.

    ``set_testing(True)`` takes effect at once; ``with set_testing(True): ...`` restores the
    previous mode on exit.
    """

    def __init__(self, testing: bool, *, attempts: int | None = None) -> None:
        if attempts is not None and attempts < 1:
            raise ValueError(f"attempts must be at least 1, got {attempts}")
        self._previous = _testmode.set_mode(
            _testmode.TestMode(enabled=testing, max_attempts=attempts if testing else None)
        )

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        _testmode.set_mode(self._previous)
