"""``CircuitBreaker``: the thin sync and async drivers over one breaker decision core.

The rules live in a :class:`~outlast.resilience.breaker._breaker_state.BreakerStateBackend`
(in-process :class:`LocalBreakerState` by default). This module asks it for permission,
runs the user's call with no lock held, reports the outcome, and tells listeners about
transitions after the backend has released its lock. One breaker per name, configured
from the seed's service table, comes from :mod:`outlast.resilience.breaker._breaker_registry`.

The hot path (``before_call`` + ``on_success`` in the closed state) is two clock reads, an
identity check and one short locked counter update; keep it that way. A shared (Redis)
backend may need a round trip to admit a call; async drivers then await
``before_call_async`` so the event loop never blocks on it.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from types import TracebackType
from typing import Any, ParamSpec, TypeVar, cast, overload

from outlast._clock import SYSTEM_CLOCK, Clock, SystemClock
from outlast.config import CircuitBreakerConfig
from outlast.errors import CircuitBreakerOpenError
from outlast.resilience import _events
from outlast.resilience._events import BreakerTransition
from outlast.resilience.breaker._breaker_state import (
    ADMITTED,
    Admission,
    BreakerStateBackend,
    CircuitState,
    LocalBreakerState,
    Transition,
)

__all__ = [
    "BreakerListener",
    "CircuitBreaker",
    "CircuitState",
]

P = ParamSpec("P")
R = TypeVar("R")

BreakerListener = Callable[[BreakerTransition], None]

log = logging.getLogger("outlast.resilience.breaker")

# Stopping the program or cancelling a task says nothing about the service's health.
_NOT_SERVICE_FAILURES: tuple[type[BaseException], ...] = (
    asyncio.CancelledError,
    KeyboardInterrupt,
    SystemExit,
    GeneratorExit,
)

# Guards the copy-on-write listener tuples; notifying reads them without it.
_listeners_lock = threading.Lock()

# Start times of the ``with breaker:`` blocks open in this thread or task, innermost last.
_entered: ContextVar[tuple[float, ...]] = ContextVar("outlast_breaker_entered", default=())


class CircuitBreaker:
    """Stops calling a failing service, then lets a few probes test its recovery.

    Opens after ``config.failure_threshold`` consecutive failures, or on a failure-rate or
    slow-call-rate rule when the config sets one; rejects calls with
    :class:`~outlast.errors.CircuitBreakerOpenError` for ``recovery_timeout`` seconds; then
    admits ``half_open_max_calls`` probes: one failure reopens it, all succeeding close it.

    Use it as ``await cb.call(fn, ...)``, ``cb.call_sync(fn, ...)``, ``@cb``, ``with cb:``
    or ``async with cb:``; ``handle_errors`` uses ``before_call``/``on_success``/``on_failure``.
    """

    __slots__ = (
        "__weakref__",
        "_acquire_async",
        "_backend",
        "_clock",
        "_config",
        "_listeners",
        "_monotonic",
        "_neutral",
        "_recorded",
        "name",
    )

    def __init__(
        self,
        name: str,
        *,
        config: CircuitBreakerConfig | None = None,
        clock: Clock | None = None,
        backend: BreakerStateBackend | None = None,
    ) -> None:
        self.name = name
        self._config = config if config is not None else CircuitBreakerConfig()
        self._clock = clock if clock is not None else SYSTEM_CLOCK
        # Skip a Python-level frame per clock read when the clock is the real one.
        self._monotonic = (
            time.monotonic if type(self._clock) is SystemClock else self._clock.monotonic
        )
        self._backend: BreakerStateBackend = (
            backend if backend is not None else LocalBreakerState(config=self._config)
        )
        self._recorded = tuple(self._config.recorded_exceptions)
        self._neutral: tuple[type[BaseException], ...] = (
            *_NOT_SERVICE_FAILURES,
            *self._config.ignored_exceptions,
        )
        self._listeners: tuple[BreakerListener, ...] = ()
        # A shared (Redis) backend may need a round trip to admit a call: it offers an async
        # admission so an event loop never blocks on it, and reports the transitions its
        # background thread causes through ``bind_notifier``.
        self._acquire_async: Callable[[float], Awaitable[Admission]] | None = getattr(
            self._backend, "acquire_async", None
        )
        bind_notifier = getattr(self._backend, "bind_notifier", None)
        if bind_notifier is not None:
            bind_notifier(self._notify)

    def __repr__(self) -> str:
        return f"<CircuitBreaker {self.name!r} state={self.state.value}>"

    # -- reading ---------------------------------------------------------------------

    @property
    def config(self) -> CircuitBreakerConfig:
        """The policy this breaker runs with."""
        return self._config

    @property
    def clock(self) -> Clock:
        """The clock every time read of this breaker goes through."""
        return self._clock

    @property
    def state(self) -> CircuitState:
        """``"closed"``, ``"open"`` or ``"half_open"`` (a ``str`` enum)."""
        return self._backend.state

    @property
    def retry_after(self) -> float:
        """Seconds until an open breaker admits a probe; 0.0 when not open."""
        return self._backend.retry_after(self._monotonic())

    def stats(self) -> dict[str, Any]:
        """State and counters for health endpoints (``failure_count`` is consecutive)."""
        counts = self._backend.counts(self._monotonic())
        stats: dict[str, Any] = {
            "name": self.name,
            "state": counts.state.value,
            "failure_count": counts.consecutive_failures,
            "success_count": counts.successes,
            "total_failures": counts.failures,
            "rejected_count": counts.rejected,
            "retry_after": counts.retry_after,
        }
        if counts.window_calls is not None:
            stats["window_calls"] = counts.window_calls
            stats["failure_rate"] = counts.failure_rate
            stats["slow_call_rate"] = counts.slow_call_rate
        if counts.scope is not None:
            stats["scope"] = counts.scope
            stats["mode"] = counts.mode
        return stats

    # -- the hooks handle_errors drives ------------------------------------------------

    def before_call(self) -> float:
        """Admit a call and return its start time, or raise ``CircuitBreakerOpenError``."""
        now = self._monotonic()
        admission = self._backend.acquire(now)
        if admission is ADMITTED:
            return now
        return self._admitted_or_raise(admission, now)

    @property
    def async_admission(self) -> bool:
        """Whether admission may wait on I/O, so async callers use ``before_call_async``."""
        return self._acquire_async is not None

    async def before_call_async(self) -> float:
        """``before_call`` for async callers: a backend that must ask Redis does so without
        blocking the event loop."""
        acquire_async = self._acquire_async
        if acquire_async is None:
            return self.before_call()
        now = self._monotonic()
        admission = await acquire_async(now)
        if admission is ADMITTED:
            return now
        return self._admitted_or_raise(admission, now)

    def _admitted_or_raise(self, admission: Admission, now: float) -> float:
        """Announce the transition an admission caused; raise if it rejects the call."""
        wait, transition = admission
        if transition is not None:
            self._notify(transition)
        if wait > 0.0:
            raise CircuitBreakerOpenError(self.name, wait)
        return now

    def on_success(self, started: float) -> None:
        """Record that the call admitted at ``started`` succeeded."""
        transition = self._backend.record_success(started, self._monotonic())
        if transition is not None:
            self._notify(transition)

    def on_neutral(self, started: float) -> None:
        """Record that the call admitted at ``started`` ended in a way that says nothing
        about the service: neither outcome counts; only its half-open probe slot frees."""
        self._backend.release(started, self._monotonic())

    def on_failure(self, error: BaseException, started: float) -> None:
        """Record that the call admitted at ``started`` raised ``error``.

        Errors outside ``recorded_exceptions``, inside ``ignored_exceptions``, and
        cancellation or interpreter exit count as neither outcome; they only free the
        call's half-open probe slot.
        """
        if isinstance(error, self._neutral) or not isinstance(error, self._recorded):
            self.on_neutral(started)
            return
        transition = self._backend.record_failure(started, self._monotonic())
        if transition is not None:
            self._notify(transition)

    # -- drivers ---------------------------------------------------------------------

    @overload
    async def call(
        self, fn: Callable[P, Awaitable[R]], /, *args: P.args, **kwargs: P.kwargs
    ) -> R: ...

    @overload
    async def call(self, fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R: ...

    async def call(self, fn: Callable[P, Any], /, *args: P.args, **kwargs: P.kwargs) -> Any:
        """Run ``fn`` (sync or async) through the breaker and return its result."""
        if self._acquire_async is None:
            started = self.before_call()
        else:
            started = await self.before_call_async()
        try:
            result = fn(*args, **kwargs)
            if inspect.isawaitable(result):
                result = await result
        except BaseException as error:
            self.on_failure(error, started)
            raise
        self.on_success(started)
        return result

    def call_sync(self, fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
        """Run the synchronous ``fn`` through the breaker and return its result."""
        started = self.before_call()
        try:
            result = fn(*args, **kwargs)
        except BaseException as error:
            self.on_failure(error, started)
            raise
        self.on_success(started)
        return result

    def __call__(self, fn: Callable[P, R]) -> Callable[P, R]:
        """Decorate a sync or async function so every call goes through the breaker."""
        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def async_wrapper(*args: P.args, **kwargs: P.kwargs) -> Any:
                return await self.call(fn, *args, **kwargs)

            return cast(Callable[P, R], async_wrapper)

        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            # call_sync inlined: this wrapper is on the hot path of every decorated call.
            started = self.before_call()
            try:
                result = fn(*args, **kwargs)
            except BaseException as error:
                self.on_failure(error, started)
                raise
            self.on_success(started)
            return result

        return wrapper

    def __enter__(self) -> CircuitBreaker:
        _entered.set((*_entered.get(), self.before_call()))
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        stack = _entered.get()
        _entered.set(stack[:-1])
        if exc is None:
            self.on_success(stack[-1])
        else:
            self.on_failure(exc, stack[-1])

    async def __aenter__(self) -> CircuitBreaker:
        if self._acquire_async is None:
            return self.__enter__()
        _entered.set((*_entered.get(), await self.before_call_async()))
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)

    # -- control and listeners ---------------------------------------------------------

    def reset(self) -> None:
        """Close the breaker and clear every counter."""
        transition = self._backend.reset(self._monotonic())
        if transition is not None:
            self._notify(transition)

    def force_open(self) -> None:
        """Open the breaker now for a full ``recovery_timeout`` (then probes as usual)."""
        transition = self._backend.force_open(self._monotonic())
        if transition is not None:
            self._notify(transition)

    def add_listener(self, listener: BreakerListener) -> Callable[[], None]:
        """Call ``listener`` on each transition of this breaker; returns an unsubscriber."""
        with _listeners_lock:
            self._listeners = (*self._listeners, listener)

        def remove() -> None:
            with _listeners_lock:
                self._listeners = tuple(x for x in self._listeners if x is not listener)

        return remove

    def _notify(self, transition: Transition) -> None:
        """Tell this breaker's listeners, then every resilience listener (no lock held)."""
        old, new, reason = transition
        event = BreakerTransition(self.name, old.value, new.value, reason)
        level = logging.WARNING if new is CircuitState.OPEN else logging.INFO
        log.log(level, "circuit breaker %r: %s -> %s (%s)", self.name, old, new, reason)
        for listener in self._listeners:
            try:
                listener(event)
            except Exception:
                log.exception("listener %r of circuit breaker %r failed", listener, self.name)
        _events.publish(event)
