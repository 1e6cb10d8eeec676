"""Policy data: what a retry, a circuit breaker and a bulkhead are configured with.

Pure, frozen data with validation. The behaviour lives in ``outlast.resilience``; keeping
the policies here lets the config layer build them without importing that behaviour.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from outlast.errors import ConfigurationError

__all__ = [
    "BreakerProfile",
    "BulkheadConfig",
    "CircuitBreakerConfig",
    "Jitter",
    "RetryConfig",
    "RetryStrategy",
    "WindowType",
]

ExceptionTypes = tuple[type[BaseException], ...]


class RetryStrategy(enum.Enum):
    """How the delay grows between attempts (before jitter and the ``max_delay`` cap)."""

    FIXED_DELAY = "fixed_delay"  # d, d, d, ...
    EXPONENTIAL_BACKOFF = "exponential_backoff"  # d, d*f, d*f**2, ...
    LINEAR_BACKOFF = "linear_backoff"  # d, 2d, 3d, ...
    FIBONACCI_BACKOFF = "fibonacci_backoff"  # d, d, 2d, 3d, 5d, ...


class Jitter(enum.Enum):
    """The three jitter modes of AWS's "Exponential Backoff And Jitter", plus none."""

    NONE = "none"  # the exact schedule
    FULL = "full"  # U(0, v)
    EQUAL = "equal"  # v/2 + U(0, v/2)
    DECORRELATED = "decorrelated"  # min(cap, U(initial, previous * 3))


class WindowType(enum.Enum):
    """Sliding window for a breaker's rate rules: the last N calls, or the last N seconds."""

    COUNT_BASED = "count_based"
    TIME_BASED = "time_based"


class BreakerProfile(enum.Enum):
    """The seed's breaker profiles; each fixes how many probe calls half-open admits.

    conservative: 1 probe must succeed; balanced: 3; aggressive: 5 (recovers only after a
    longer run of successes, for noisy dependencies such as email relays).
    """

    CONSERVATIVE = "conservative"
    BALANCED = "balanced"
    AGGRESSIVE = "aggressive"

    @property
    def half_open_max_calls(self) -> int:
        return {"conservative": 1, "balanced": 3, "aggressive": 5}[self.value]


def _types(value: Iterable[type[BaseException]] | type[BaseException], name: str) -> ExceptionTypes:
    items = (value,) if isinstance(value, type) else tuple(value)
    for item in items:
        if not (isinstance(item, type) and issubclass(item, BaseException)):
            raise ConfigurationError(f"{name}: {item!r} is not an exception type")
    return items


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigurationError(message)


def _finite(value: float) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryConfig:
    """How to retry a failing call.

    ``jitter`` takes a :class:`Jitter` or a bool (``True`` is FULL, ``False`` is NONE).
    ``attempt_timeout`` bounds each attempt; ``deadline`` bounds the whole call, first
    attempt included, and no sleep is taken that would end past it. Non-retryable types
    win over retryable ones. ``asyncio.CancelledError``, ``KeyboardInterrupt`` and
    ``SystemExit`` are never retried, whatever these lists say.
    """

    max_attempts: int = 3
    initial_delay: float = 1.0
    backoff_factor: float = 2.0
    max_delay: float = 60.0
    strategy: RetryStrategy = RetryStrategy.EXPONENTIAL_BACKOFF
    jitter: Jitter | bool = Jitter.FULL
    retryable_exceptions: Iterable[type[BaseException]] = (Exception,)
    non_retryable_exceptions: Iterable[type[BaseException]] = ()
    attempt_timeout: float | None = None
    deadline: float | None = None
    honor_retry_after: bool = True

    def __post_init__(self) -> None:
        _require(
            isinstance(self.max_attempts, int) and self.max_attempts >= 1,
            f"max_attempts must be an int >= 1, got {self.max_attempts!r}",
        )
        for name in ("initial_delay", "max_delay"):
            value = getattr(self, name)
            _require(_finite(value) and value >= 0, f"{name} must be >= 0, got {value!r}")
        _require(
            _finite(self.backoff_factor) and self.backoff_factor >= 1,
            f"backoff_factor must be >= 1, got {self.backoff_factor!r}",
        )
        for name in ("attempt_timeout", "deadline"):
            value = getattr(self, name)
            _require(
                value is None or (_finite(value) and value > 0),
                f"{name} must be None or > 0, got {value!r}",
            )
        jitter = self.jitter
        if isinstance(jitter, bool):
            jitter = Jitter.FULL if jitter else Jitter.NONE
        _require(isinstance(jitter, Jitter), f"jitter must be a Jitter or bool, got {jitter!r}")
        _require(
            isinstance(self.strategy, RetryStrategy),
            f"strategy must be a RetryStrategy, got {self.strategy!r}",
        )
        object.__setattr__(self, "jitter", jitter)
        object.__setattr__(
            self, "retryable_exceptions", _types(self.retryable_exceptions, "retryable_exceptions")
        )
        object.__setattr__(
            self,
            "non_retryable_exceptions",
            _types(self.non_retryable_exceptions, "non_retryable_exceptions"),
        )

    @property
    def jitter_mode(self) -> Jitter:
        """``jitter`` normalised to a :class:`Jitter` (always one after construction)."""
        assert isinstance(self.jitter, Jitter)
        return self.jitter


@dataclass(frozen=True, slots=True, kw_only=True)
class CircuitBreakerConfig:
    """When a breaker opens, how long it stays open, and how it tests recovery.

    It opens on ``failure_threshold`` consecutive failures (the seed's rule), or, when set,
    on resilience4j's rules: ``failure_rate_threshold`` or ``slow_call_rate_threshold``
    (percent) over the sliding window once it holds ``minimum_calls`` calls. Half-open
    admits ``half_open_max_calls`` probes; they all must succeed to close it.
    """

    failure_threshold: int = 5
    recovery_timeout: float = 60.0
    half_open_max_calls: int = 1
    failure_rate_threshold: float | None = None
    slow_call_rate_threshold: float | None = None
    slow_call_duration: float = 60.0
    window_type: WindowType = WindowType.COUNT_BASED
    window_size: int = 100
    minimum_calls: int = 100
    recorded_exceptions: Iterable[type[BaseException]] = (Exception,)
    ignored_exceptions: Iterable[type[BaseException]] = ()
    profile: BreakerProfile | None = None

    def __post_init__(self) -> None:
        _require(
            isinstance(self.failure_threshold, int) and self.failure_threshold >= 1,
            f"failure_threshold must be an int >= 1, got {self.failure_threshold!r}",
        )
        _require(
            _finite(self.recovery_timeout) and self.recovery_timeout > 0,
            f"recovery_timeout must be > 0, got {self.recovery_timeout!r}",
        )
        _require(
            isinstance(self.half_open_max_calls, int) and self.half_open_max_calls >= 1,
            f"half_open_max_calls must be an int >= 1, got {self.half_open_max_calls!r}",
        )
        for name in ("failure_rate_threshold", "slow_call_rate_threshold"):
            value = getattr(self, name)
            _require(
                value is None or (_finite(value) and 0 < value <= 100),
                f"{name} must be None or in (0, 100], got {value!r}",
            )
        _require(
            _finite(self.slow_call_duration) and self.slow_call_duration > 0,
            f"slow_call_duration must be > 0, got {self.slow_call_duration!r}",
        )
        for name in ("window_size", "minimum_calls"):
            value = getattr(self, name)
            _require(
                isinstance(value, int) and value >= 1, f"{name} must be an int >= 1, got {value!r}"
            )
        _require(
            isinstance(self.window_type, WindowType),
            f"window_type must be a WindowType, got {self.window_type!r}",
        )
        object.__setattr__(
            self, "recorded_exceptions", _types(self.recorded_exceptions, "recorded_exceptions")
        )
        object.__setattr__(
            self, "ignored_exceptions", _types(self.ignored_exceptions, "ignored_exceptions")
        )

    @property
    def uses_window(self) -> bool:
        """Whether a rate rule is on (and so a sliding window must be kept)."""
        return self.failure_rate_threshold is not None or self.slow_call_rate_threshold is not None


@dataclass(frozen=True, slots=True, kw_only=True)
class BulkheadConfig:
    """How many calls may run at once, and how long a caller waits for a permit."""

    capacity: int = 10
    timeout: float = 5.0

    def __post_init__(self) -> None:
        _require(
            isinstance(self.capacity, int) and self.capacity >= 1,
            f"capacity must be an int >= 1, got {self.capacity!r}",
        )
        _require(
            _finite(self.timeout) and self.timeout >= 0,
            f"timeout must be >= 0, got {self.timeout!r}",
        )


def merged(base: Any, overrides: dict[str, Any]) -> Any:
    """A copy of the dataclass ``base`` with ``overrides`` applied (validated again)."""
    values = {f: getattr(base, f) for f in base.__dataclass_fields__}
    return type(base)(**{**values, **overrides})
