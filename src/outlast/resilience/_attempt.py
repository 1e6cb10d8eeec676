"""One attempt of a protected call: bulkhead permit, breaker check, timeout, the call.

The bulkhead permit is taken first, so an open breaker's rejection costs no permit for
longer than the check. A sync attempt that times out keeps its permit until the abandoned
call really finishes (see ``_timeout``), so the bulkhead never admits more running calls
than its capacity.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from outlast.errors import BulkheadCapacityError
from outlast.resilience._successes import note_success, timer
from outlast.resilience._timeout import call_with_timeout_async, call_with_timeout_sync
from outlast.resilience.breaker._breaker import CircuitBreaker
from outlast.resilience.bulkhead._bulkhead import Bulkhead

__all__ = ["Attempt"]


class Attempt:
    """The per-attempt layers of one decorated function."""

    __slots__ = ("breaker", "breaker_ignores", "bulkhead", "operation", "timeout")

    def __init__(
        self,
        *,
        operation: str,
        breaker: CircuitBreaker | None,
        bulkhead: Bulkhead | None,
        timeout: float | None,
        breaker_ignores: tuple[type[BaseException], ...] = (),
    ) -> None:
        """``breaker_ignores``: errors of this call that say nothing about the service
        (a declined payment, bad input), so the breaker counts them as neither outcome."""
        self.operation = operation
        self.breaker = breaker
        self.breaker_ignores = breaker_ignores
        self.bulkhead = bulkhead
        self.timeout = timeout

    def _limit(self, time_left: float | None) -> float | None:
        """The tighter of the decorator's timeout and the time the retry driver leaves."""
        if time_left is None:
            return self.timeout
        if self.timeout is None:
            return time_left
        return min(time_left, self.timeout)

    def _admit(self, release: Callable[[], None] | None) -> float:
        """Pass the breaker (returning the start time); give the permit back if it refuses."""
        if self.breaker is None:
            return 0.0
        try:
            return self.breaker.before_call()
        except BaseException:
            if release is not None:
                release()
            raise

    def _settle(self, started: float, error: BaseException | None) -> None:
        """Tell the breaker how the attempt admitted at ``started`` ended."""
        if self.breaker is None:
            return
        if error is None:
            self.breaker.on_success(started)
        elif isinstance(error, self.breaker_ignores):
            self.breaker.on_neutral(started)
        else:
            self.breaker.on_failure(error, started)

    def _rejected(self, bulkhead: Bulkhead) -> BulkheadCapacityError:
        return BulkheadCapacityError(name=bulkhead.name, capacity=bulkhead.capacity)

    def run_sync(
        self,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        time_left: float | None,
    ) -> Any:
        """Run one sync attempt through every per-attempt layer."""
        bulkhead = self.bulkhead
        if bulkhead is not None and not (bulkhead.try_acquire() or bulkhead.acquire_sync()):
            raise self._rejected(bulkhead)
        release = bulkhead.release if bulkhead is not None else None
        started = self._admit(release)
        limit = self._limit(time_left)
        timed = timer()
        try:
            if limit is None:
                try:
                    result = fn(*args, **kwargs)
                finally:
                    if release is not None:
                        release()
            else:
                call = functools.partial(fn, *args, **kwargs)
                result = call_with_timeout_sync(
                    call, limit, operation=self.operation, on_finish=release
                )
        except BaseException as error:
            self._settle(started, error)
            raise
        self._settle(started, None)
        note_success(self.operation, timed)
        return result

    async def run_async(
        self,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        time_left: float | None,
    ) -> Any:
        """Run one async attempt through every per-attempt layer, never blocking the loop."""
        bulkhead = self.bulkhead
        if bulkhead is not None and not await _acquire_async(bulkhead):
            raise self._rejected(bulkhead)
        try:
            breaker = self.breaker
            if breaker is None:
                started = 0.0
            elif breaker.async_admission:
                started = await breaker.before_call_async()
            else:
                started = breaker.before_call()
            limit = self._limit(time_left)
            timed = timer()
            try:
                if limit is None:
                    result = await fn(*args, **kwargs)
                else:
                    result = await call_with_timeout_async(
                        lambda: fn(*args, **kwargs), limit, operation=self.operation
                    )
            except BaseException as error:
                self._settle(started, error)
                raise
            self._settle(started, None)
            note_success(self.operation, timed)
            return result
        finally:
            if bulkhead is not None:
                await _release_async(bulkhead)


async def _acquire_async(bulkhead: Bulkhead) -> bool:
    """A permit for an async caller: the local fast path first, unless taking one is I/O."""
    if bulkhead.async_admission:
        return await bulkhead.acquire()
    return bulkhead.try_acquire() or await bulkhead.acquire()


async def _release_async(bulkhead: Bulkhead) -> None:
    if bulkhead.async_admission:
        await bulkhead.arelease()
    else:
        bulkhead.release()
