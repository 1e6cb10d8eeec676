"""The core's events as metrics: failures, rejections, breaker transitions, retries,
fallbacks.

Subscribes to the resilience event bus only (``listen``), never to successes: a success
adds nothing to the ``@handle_errors`` path, and the success counts come from the task
latency histogram instead. Recoveries arrive through :func:`count_recovery` (the worker
wires it to the recovery manager's callbacks), so ``RecoveryFailed`` is not counted here.
Never raises into the core: the bus would log it, but a metric has no business failing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from outlast.config import get_metrics_settings
from outlast.errors import BulkheadCapacityError, CircuitBreakerOpenError
from outlast.monitoring._category import categorize
from outlast.monitoring.metrics._families import families
from outlast.monitoring.metrics._labels import BoundedNames
from outlast.resilience._events import (
    BreakerTransition,
    CallFailed,
    FallbackUsed,
    ResilienceEvent,
    RetryScheduled,
    add_listener,
)

__all__ = [
    "STATE_CODES",
    "count_error",
    "count_recovery",
    "listen",
    "listening",
    "on_event",
    "unlisten",
]

STATE_CODES = {"closed": 0.0, "half_open": 1.0, "open": 2.0}
"""The value of ``outlast_circuit_breaker_state`` for each breaker state."""

_error_types: BoundedNames | None = None
_unsubscribe: Callable[[], None] | None = None
_lock = threading.Lock()


def on_event(event: ResilienceEvent) -> None:
    """Count one event of the core."""
    if isinstance(event, CallFailed):
        _count_failure(event.error)
    elif isinstance(event, BreakerTransition):
        current = families()
        current.breaker_transitions.labels(event.name, event.old_state, event.new_state).inc()
        current.breaker_state.labels(event.name).set(STATE_CODES.get(event.new_state, 0.0))
    elif isinstance(event, RetryScheduled):
        families().retries.labels(event.operation).inc()
    elif isinstance(event, FallbackUsed):
        families().fallbacks.labels(event.operation).inc()


def _count_failure(error: BaseException) -> None:
    count_error(error)
    if isinstance(error, CircuitBreakerOpenError):
        families().breaker_rejections.labels(error.name).inc()
    elif isinstance(error, BulkheadCapacityError):
        families().bulkhead_rejections.labels(error.name).inc()


def count_error(error: BaseException) -> None:
    """Count one failed attempt under its category and (bounded) error type."""
    names = _error_types or _bounded_error_types()
    error_type = names.name(type(error).__name__)
    families().errors.labels(categorize(error).value, error_type).inc()


def _bounded_error_types() -> BoundedNames:
    global _error_types
    with _lock:
        if _error_types is None:
            _error_types = BoundedNames(get_metrics_settings().metrics_max_error_types)
        return _error_types


def count_recovery(strategy: str, *, successful: bool) -> None:
    """Count one recovery run with ``strategy``."""
    families().recoveries.labels(strategy, "succeeded" if successful else "failed").inc()


def listen() -> None:
    """Count the core's events in this process from now on (once; forked children inherit
    the subscription)."""
    global _unsubscribe
    with _lock:
        if _unsubscribe is None:
            _unsubscribe = add_listener(on_event)


def unlisten() -> None:
    """Stop counting the core's events, and read the error-type limit afresh next time."""
    global _unsubscribe, _error_types
    with _lock:
        stop, _unsubscribe, _error_types = _unsubscribe, None, None
    if stop is not None:
        stop()


def listening() -> bool:
    """Whether this process counts the core's events."""
    return _unsubscribe is not None
