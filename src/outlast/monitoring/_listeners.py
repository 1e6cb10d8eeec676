"""What monitoring hears from the core: resilience events become records and tallies.

A failed attempt (``CallFailed``, which includes breaker and bulkhead rejections) is
recorded as an error event of its operation; breaker transitions, retries and fallbacks are
tallied by name; any other event that carries an ``error`` and an ``operation`` (such as
the recovery system's) is recorded as an error whose recovery was attempted and failed.

Never raises: the core's publisher would log it, but a listener has no business failing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from outlast.errors import ErrorContext, ErrorSeverity
from outlast.resilience._events import (
    BreakerTransition,
    CallFailed,
    FallbackUsed,
    ResilienceEvent,
    RetryScheduled,
)

__all__ = ["Recorder", "listener_for"]


class Recorder(Protocol):
    """The part of ``ErrorMonitor`` the listener feeds."""

    def record(
        self,
        error: BaseException,
        context: Any = None,
        severity: ErrorSeverity | str | None = None,
        *,
        recovery_attempted: bool = False,
        recovery_successful: bool | None = None,
    ) -> None: ...

    def tally(self, name: str, count: int = 1) -> None: ...


def listener_for(recorder: Recorder) -> Callable[[ResilienceEvent], None]:
    """The resilience-event listener that feeds ``recorder``."""

    def on_event(event: ResilienceEvent) -> None:
        if isinstance(event, CallFailed):
            context = ErrorContext(operation=event.operation, metadata=dict(event.metadata))
            recorder.record(event.error, context)
        elif isinstance(event, BreakerTransition):
            recorder.tally(f"breaker|{event.name}|{event.new_state}")
        elif isinstance(event, RetryScheduled):
            recorder.tally(f"retry|{event.operation}")
        elif isinstance(event, FallbackUsed):
            recorder.tally(f"fallback|{event.operation}")
        else:
            _record_other(recorder, event)

    return on_event


def _record_other(recorder: Recorder, event: object) -> None:
    error, operation = getattr(event, "error", None), getattr(event, "operation", None)
    if not isinstance(error, BaseException) or not isinstance(operation, str):
        return
    service = getattr(event, "service", None)
    metadata = {"service": service} if isinstance(service, str) else {}
    recorder.record(
        error,
        ErrorContext(operation=operation, metadata=metadata),
        ErrorSeverity.HIGH,
        recovery_attempted=True,
        recovery_successful=False,
    )
