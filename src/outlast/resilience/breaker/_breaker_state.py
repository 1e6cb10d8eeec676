"""The decision core of a circuit breaker: its state and the rules that move it.

:class:`BreakerStateBackend` is the seam: ``CircuitBreaker`` only asks a backend for
permission and reports outcomes, so a shared (Redis) backend can replace
:class:`LocalBreakerState` without touching the drivers. Every operation takes ``now`` from
the breaker's injected clock and returns the :class:`Transition` it caused (or None), so the
breaker notifies listeners after the backend has let go of its lock.

A call is identified by the monotonic time it was admitted (``started``). An outcome only
moves the state when the call started in the current state (``started >= since``, and the
state is not OPEN, which admits nothing): a slow call admitted before the breaker opened
cannot count as a half-open probe, nor can a probe from an earlier half-open period.
Totals (successes, failures) count every outcome. As in resilience4j, a call is slow when
it takes strictly longer than ``slow_call_duration``, and a slow failure counts as both.

This module never sleeps, never calls user code and never holds its lock for longer than
a few attribute updates.
"""

from __future__ import annotations

import enum
import threading
from dataclasses import dataclass
from typing import Final, NamedTuple, Protocol

from outlast.config import CircuitBreakerConfig, WindowType
from outlast.resilience.breaker._window import SlidingWindow, window_for

__all__ = [
    "ADMITTED",
    "Admission",
    "BreakerCounts",
    "BreakerStateBackend",
    "CircuitState",
    "LocalBreakerState",
    "Transition",
]


class CircuitState(enum.StrEnum):
    """The three states of a breaker; the values are what health endpoints show."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class Transition(NamedTuple):
    """The state moved from ``old`` to ``new`` because of ``reason``."""

    old: CircuitState
    new: CircuitState
    reason: str


Admission = tuple[float, Transition | None]
"""The answer to "may this call run?": ``(0.0, t)`` admits it, ``(wait, t)`` with
``wait > 0`` rejects it for ``wait`` seconds; ``t`` is a transition the question caused."""

ADMITTED: Final[Admission] = (0.0, None)
"""Admitted, nothing changed. Backends return this very object so the breaker's fast path
is an identity check."""


@dataclass(frozen=True, slots=True, kw_only=True)
class BreakerCounts:
    """A consistent snapshot of a breaker's state and counters (for ``stats()``)."""

    state: CircuitState
    consecutive_failures: int
    successes: int
    failures: int
    rejected: int
    retry_after: float
    window_calls: int | None = None
    failure_rate: float | None = None
    slow_call_rate: float | None = None
    scope: str | None = None
    """Where the state lives ("cluster"); None for the default, this process."""
    mode: str | None = None
    """How a shared state decides now ("cluster", "local-fallback", ...); None if local."""


class BreakerStateBackend(Protocol):
    """Where a breaker's state lives and how it changes; ``now`` is monotonic seconds."""

    @property
    def state(self) -> CircuitState:
        """The current state (OPEN stays OPEN until a call asks after recovery)."""
        ...

    def acquire(self, now: float) -> Admission:
        """Admit or reject a call starting at ``now`` (may move OPEN to HALF_OPEN)."""
        ...

    def record_success(self, started: float, now: float) -> Transition | None:
        """The call admitted at ``started`` succeeded at ``now``."""
        ...

    def record_failure(self, started: float, now: float) -> Transition | None:
        """The call admitted at ``started`` failed at ``now``."""
        ...

    def release(self, started: float, now: float) -> None:
        """The call admitted at ``started`` ended with an outcome that counts as neither
        (ignored error, cancellation): free its half-open probe slot, count nothing."""
        ...

    def retry_after(self, now: float) -> float:
        """Seconds until an open breaker admits a probe (0.0 when not open)."""
        ...

    def counts(self, now: float) -> BreakerCounts:
        """A snapshot of the state and counters."""
        ...

    def reset(self, now: float) -> Transition | None:
        """Back to CLOSED with every counter cleared."""
        ...

    def force_open(self, now: float) -> Transition | None:
        """Open now, for a full recovery timeout."""
        ...


# While half-open probes are in flight there is no exact time to give; ask again soon.
_HALF_OPEN_RETRY_HINT = 1.0


class LocalBreakerState:
    """In-process breaker state guarded by a ``threading.Lock``.

    The lock covers only the counter and state updates below, never a user's call. The
    CLOSED admission and the OPEN rejection read the state without the lock: a racing
    transition can at worst admit or reject one call that was concurrent with it anyway.
    A half-open probe keeps its slot until its outcome is reported; every driver of
    ``CircuitBreaker`` reports one for any exception, ``BaseException`` included.
    """

    __slots__ = (
        "_config",
        "_consecutive",
        "_failures",
        "_lock",
        "_max_probes",
        "_minimum_calls",
        "_open_until",
        "_probe_successes",
        "_probes",
        "_rejected",
        "_since",
        "_slow_duration",
        "_state",
        "_successes",
        "_threshold",
        "_window",
    )

    def __init__(self, *, config: CircuitBreakerConfig) -> None:
        self._config = config
        self._lock = threading.Lock()
        self._threshold = config.failure_threshold
        self._max_probes = config.half_open_max_calls
        self._slow_duration = config.slow_call_duration
        self._window: SlidingWindow | None = window_for(config) if config.uses_window else None
        self._minimum_calls = config.minimum_calls
        if config.window_type is WindowType.COUNT_BASED:
            # A count window never holds more than its size, so a larger minimum would
            # switch the rate rules off for good.
            self._minimum_calls = min(config.minimum_calls, config.window_size)
        self._clear(since=float("-inf"))

    def _clear(self, *, since: float) -> None:
        self._state = CircuitState.CLOSED
        self._since = since
        self._open_until = 0.0
        self._consecutive = 0
        self._successes = 0
        self._failures = 0
        self._rejected = 0
        self._probes = 0
        self._probe_successes = 0
        if self._window is not None:
            self._window.clear()

    @property
    def state(self) -> CircuitState:
        return self._state

    def acquire(self, now: float) -> Admission:
        state = self._state
        if state is CircuitState.CLOSED:
            return ADMITTED
        if state is CircuitState.OPEN:
            # ``_move`` stores ``_open_until`` before the state, so a stale read can only
            # send us to the locked path, never reject against the wrong deadline.
            wait = self._open_until - now
            if wait > 0.0:
                # Unlocked on purpose, to keep open rejections cheap. It is a statistic, never
                # a decision input; at worst a racing update drops one rejection from it.
                self._rejected += 1
                return (wait, None)
        return self._acquire_locked(now)

    def _acquire_locked(self, now: float) -> Admission:
        """Admission outside the closed fast path: the state may change under the lock."""
        with self._lock:
            state = self._state
            if state is CircuitState.CLOSED:
                return ADMITTED
            if state is CircuitState.OPEN:
                if now < self._open_until:
                    self._rejected += 1
                    return (self._open_until - now, None)
                transition = self._move(CircuitState.HALF_OPEN, now, "recovery_timeout_elapsed")
                self._probes = 1
                return (0.0, transition)
            if self._probes < self._max_probes:
                self._probes += 1
                return ADMITTED
            self._rejected += 1
            return (min(_HALF_OPEN_RETRY_HINT, self._config.recovery_timeout), None)

    def record_success(self, started: float, now: float) -> Transition | None:
        with self._lock:
            self._successes += 1
            # Inlined "is this outcome current" check (see the module docstring).
            if started < self._since or self._state is CircuitState.OPEN:
                return None
            self._consecutive = 0
            if self._state is CircuitState.HALF_OPEN:
                self._probe_successes += 1
                if self._probe_successes >= self._max_probes:
                    return self._move(CircuitState.CLOSED, now, "probes_succeeded")
                return None
            if self._window is None:
                return None
            self._window.record(False, now - started > self._slow_duration, now)
            return self._check_rates(now)

    def record_failure(self, started: float, now: float) -> Transition | None:
        with self._lock:
            self._failures += 1
            if started < self._since or self._state is CircuitState.OPEN:
                return None
            self._consecutive += 1
            if self._state is CircuitState.HALF_OPEN:
                return self._move(CircuitState.OPEN, now, "probe_failed")
            if self._window is not None:
                self._window.record(True, now - started > self._slow_duration, now)
            if self._consecutive >= self._threshold:
                return self._move(CircuitState.OPEN, now, "consecutive_failures")
            return self._check_rates(now) if self._window is not None else None

    def release(self, started: float, now: float) -> None:
        with self._lock:
            if self._state is CircuitState.HALF_OPEN and started >= self._since:
                self._probes -= 1

    def restore(
        self, *, state: CircuitState, open_until: float, consecutive: int, now: float
    ) -> None:
        """Take over a state decided elsewhere (a shared state falling back to this one).

        Counters start at zero. A half-open state comes back as open with its recovery
        time over, so the next call starts a local half-open period with its own probes.
        """
        with self._lock:
            self._clear(since=now)
            if state is CircuitState.HALF_OPEN:
                state, open_until = CircuitState.OPEN, now
            self._open_until = open_until
            self._consecutive = consecutive
            self._state = state

    def retry_after(self, now: float) -> float:
        if self._state is not CircuitState.OPEN:
            return 0.0
        return max(0.0, self._open_until - now)

    def counts(self, now: float) -> BreakerCounts:
        with self._lock:
            window = self._window
            return BreakerCounts(
                state=self._state,
                consecutive_failures=self._consecutive,
                successes=self._successes,
                failures=self._failures,
                rejected=self._rejected,
                retry_after=self.retry_after(now),
                window_calls=None if window is None else window.total_calls(now),
                failure_rate=None if window is None else window.failure_rate(now),
                slow_call_rate=None if window is None else window.slow_call_rate(now),
            )

    def reset(self, now: float) -> Transition | None:
        with self._lock:
            old = self._state
            self._clear(since=now)
            if old is CircuitState.CLOSED:
                return None
            return Transition(old, CircuitState.CLOSED, "reset")

    def force_open(self, now: float) -> Transition | None:
        with self._lock:
            if self._state is CircuitState.OPEN:
                self._open_until = now + self._config.recovery_timeout
                return None
            return self._move(CircuitState.OPEN, now, "forced_open")

    def _check_rates(self, now: float) -> Transition | None:
        """Open when a configured rate rule is met over a window with enough calls."""
        window = self._window
        assert window is not None
        if window.total_calls(now) < self._minimum_calls:
            return None
        failure_limit = self._config.failure_rate_threshold
        if failure_limit is not None and window.failure_rate(now) >= failure_limit:
            return self._move(CircuitState.OPEN, now, "failure_rate")
        slow_limit = self._config.slow_call_rate_threshold
        if slow_limit is not None and window.slow_call_rate(now) >= slow_limit:
            return self._move(CircuitState.OPEN, now, "slow_call_rate")
        return None

    def _move(self, new: CircuitState, now: float, reason: str) -> Transition:
        """Enter ``new`` at ``now`` (lock held) and set up that state's counters."""
        old = self._state
        if new is CircuitState.OPEN:
            self._open_until = now + self._config.recovery_timeout
        self._state = new
        self._since = now
        self._probes = 0
        self._probe_successes = 0
        if new is not CircuitState.HALF_OPEN and self._window is not None:
            self._window.clear()
        if new is CircuitState.CLOSED:
            self._consecutive = 0
        return Transition(old, new, reason)
