"""The delay schedule of a :class:`~outlast.config.RetryConfig`: strategy, cap and jitter.

``base_delay`` is the exact, stateless schedule (fixed, exponential, linear, fibonacci),
capped by ``max_delay``. ``Backoff`` applies the jitter mode on top; it is made per call,
so the stateful decorrelated jitter never shares its state between concurrent calls (the
trap of tenacity #93). Nothing here may overflow, whatever the attempt number: the cap is
checked before a power is computed (stamina #137 raised OverflowError at 1024 attempts).
This module never sleeps and never reads a clock.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable

from outlast.config import Jitter, RetryConfig, RetryStrategy

__all__ = ["Backoff", "base_delay"]


def base_delay(config: RetryConfig, attempt: int) -> float:
    """The delay after failed attempt number ``attempt`` (1-based), before jitter, capped.

    FIXED: d, d, d; EXPONENTIAL: d * f**(n-1); LINEAR: d, 2d, 3d; FIBONACCI: d, d, 2d, 3d, 5d.
    """
    initial, cap = config.initial_delay, config.max_delay
    if initial <= 0.0 or cap <= 0.0:
        return 0.0
    if initial >= cap:
        return cap
    n = attempt if attempt > 1 else 1
    strategy = config.strategy
    if strategy is RetryStrategy.EXPONENTIAL_BACKOFF:
        return _exponential(initial, config.backoff_factor, n - 1, cap)
    if strategy is RetryStrategy.LINEAR_BACKOFF:
        return _linear(initial, n, cap)
    if strategy is RetryStrategy.FIBONACCI_BACKOFF:
        return _fibonacci(initial, n, cap)
    return initial


def _exponential(initial: float, factor: float, steps: int, cap: float) -> float:
    """``initial * factor**steps`` capped; a step count past the cap never reaches ``**``."""
    if factor == 1.0 or steps == 0:
        return initial
    # Smallest step count whose delay reaches the cap, computed in logs so nothing overflows.
    steps_to_cap = math.ceil((math.log(cap) - math.log(initial)) / math.log(factor))
    if steps > steps_to_cap:
        return cap
    try:
        return min(initial * factor**steps, cap)
    except OverflowError:  # factor**steps alone can overflow when initial is tiny
        return cap


def _linear(initial: float, multiple: int, cap: float) -> float:
    """``initial * multiple`` capped; compared first so a huge ``multiple`` never overflows."""
    if multiple >= cap / initial:
        return cap
    try:
        return min(initial * multiple, cap)
    except OverflowError:  # only for a multiple beyond 1e308 with a subnormal initial delay
        return cap


def _fibonacci(initial: float, n: int, cap: float) -> float:
    """The n-th fibonacci multiple of ``initial`` (1, 1, 2, 3, 5, ...), capped.

    The loop stops as soon as the cap is reached, so it runs O(log(cap / initial)) times
    whatever ``n`` is.
    """
    previous, current = 0.0, initial
    for _ in range(n - 1):
        if current >= cap:
            return cap
        previous, current = current, previous + current
    return min(current, cap)


class Backoff:
    """The delays of one retried call: ``base_delay`` plus the config's jitter mode.

    NONE: the exact schedule; FULL: U(0, v); EQUAL: v/2 + U(0, v/2); DECORRELATED (AWS):
    min(cap, U(initial, previous * 3)) starting from previous = initial, which ignores the
    strategy by design (its growth comes from the previous delay). Every delay lies in
    [0, max_delay]. Make one per call: decorrelated jitter keeps state between attempts;
    a call whose attempts run in different processes (a Celery task) passes the last delay
    it slept as ``previous`` and reads it back from :attr:`previous`.
    """

    __slots__ = ("_config", "_jitter", "_previous", "_uniform")

    def __init__(
        self,
        config: RetryConfig,
        *,
        rng: random.Random | None = None,
        previous: float | None = None,
    ) -> None:
        self._config = config
        self._jitter = config.jitter_mode
        # The module-level functions share one generator; no per-call seeding from urandom.
        self._uniform: Callable[[float, float], float] = (
            rng.uniform if rng is not None else random.uniform
        )
        self._previous = config.initial_delay if previous is None else previous

    @property
    def previous(self) -> float:
        """The last delay decorrelated jitter produced (its next one grows from this)."""
        return self._previous

    def next_delay(self, attempt: int) -> float:
        """The delay to sleep after failed attempt number ``attempt`` (1-based)."""
        jitter = self._jitter
        if jitter is Jitter.DECORRELATED:
            return self._decorrelated()
        value = base_delay(self._config, attempt)
        if jitter is Jitter.NONE:
            return value
        if jitter is Jitter.FULL:
            return min(self._uniform(0.0, value), value)
        half = value / 2.0
        return min(half + self._uniform(0.0, half), value)

    def _decorrelated(self) -> float:
        cap = self._config.max_delay
        low = min(self._config.initial_delay, cap)
        high = max(low, min(self._previous * 3.0, cap))
        delay = min(max(self._uniform(low, high), low), high)
        self._previous = delay
        return delay
