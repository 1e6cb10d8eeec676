"""What monitoring hears from the core: resilience events become records and tallies.

A failed attempt (``CallFailed``, which includes breaker and bulkhead rejections, and the
failed attempts of ``@operation`` tasks) is recorded as an error event of its operation,
with the ``request_id`` and ``user_id`` its metadata carries; breaker transitions, retries
and fallbacks are tallied by name; ``RecoveryFailed`` (the recovery system gave up on a
service) is recorded as a high-severity error of that service whose recovery was
attempted and failed.

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
    RecoveryFailed,
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
            recorder.record(event.error, _context_of(event))
        elif isinstance(event, BreakerTransition):
            recorder.tally(f"breaker|{event.name}|{event.new_state}")
        elif isinstance(event, RetryScheduled):
            recorder.tally(f"retry|{event.operation}")
        elif isinstance(event, FallbackUsed):
            recorder.tally(f"fallback|{event.operation}")
        elif isinstance(event, RecoveryFailed):
            _record_recovery_failure(recorder, event)

    return on_event


def _context_of(event: CallFailed) -> ErrorContext:
    metadata = dict(event.metadata)
    request_id, user_id = metadata.pop("request_id", None), metadata.pop("user_id", None)
    return ErrorContext(
        operation=event.operation,
        request_id=None if request_id is None else str(request_id),
        user_id=None if user_id is None else str(user_id),
        metadata=metadata,
    )


def _record_recovery_failure(recorder: Recorder, event: RecoveryFailed) -> None:
    metadata = {"service": event.service, "strategy": event.strategy,
                "attempts": event.attempts, "reason": event.reason}  # fmt: skip
    recorder.record(
        event.error,
        ErrorContext(operation=event.operation, metadata=metadata),
        ErrorSeverity.HIGH,
        recovery_attempted=True,
        recovery_successful=False,
    )
