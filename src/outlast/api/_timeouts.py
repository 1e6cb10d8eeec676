"""Every dependency the API reads is asked with a deadline, so a dead Redis, store or broker
makes an answer slower by at most that deadline, never hangs it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

__all__ = ["Outcome", "bounded", "bounded_call"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Outcome(Generic[T]):
    """What a bounded read gave: its value, or why there is none, and how long it took."""

    value: T | None
    error: str | None
    seconds: float

    @property
    def ok(self) -> bool:
        """Whether the read answered in time without raising."""
        return self.error is None


async def bounded(work: Awaitable[T], timeout: float) -> Outcome[T]:  # noqa: ASYNC109
    """``await work`` for at most ``timeout`` seconds; any failure becomes ``error``."""
    started = time.perf_counter()
    try:
        value = await asyncio.wait_for(work, timeout)
    except TimeoutError:
        return Outcome(None, f"no answer within {timeout:g} s", time.perf_counter() - started)
    except Exception as error:  # a dependency's failure is reported, never raised
        return Outcome(None, type(error).__name__, time.perf_counter() - started)
    return Outcome(value, None, time.perf_counter() - started)


async def bounded_call(fn: Callable[[], T], timeout: float) -> Outcome[T]:  # noqa: ASYNC109
    """Run the blocking ``fn`` in a thread, bounded as :func:`bounded` (the thread may go
    on after the deadline; its answer is then dropped)."""
    return await bounded(asyncio.to_thread(fn), timeout)


def unavailable_is_error(value: Any, what: str) -> Any:
    """``value``, or ConnectionError when a read answered None for 'not reachable'."""
    if value is None:
        raise ConnectionError(f"{what} did not answer")
    return value
