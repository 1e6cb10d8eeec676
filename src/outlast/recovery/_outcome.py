"""``RecoveryOutcome``: what one call of ``recover_from_error`` did, for callbacks, and
the record and event made from it.

Frozen data only; nothing here runs, stores or publishes a recovery.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from outlast.resilience._events import RecoveryFailed
from outlast.store import RecoveryAttempt

__all__ = ["RecoveryOutcome"]


@dataclass(frozen=True, slots=True, kw_only=True)
class RecoveryOutcome:
    """One recovery: the error it started from, how it went, and what it returned."""

    operation: str
    service: str
    strategy: str
    error: BaseException
    successful: bool
    attempts: int
    result: Any = None
    last_error: BaseException | None = None
    reason: str = ""
    limit_hit: bool = False
    errors: tuple[str, ...] = field(default=())

    def attempt_record(self, *, started_at: float, finished_at: float) -> RecoveryAttempt:
        """The store's record of this recovery (one record; ``attempts`` counts the tries)."""
        last = None if self.successful else self.last_error
        return RecoveryAttempt(
            service=self.service,
            strategy=self.strategy,
            started_at=started_at,
            finished_at=max(started_at, finished_at),
            successful=self.successful,
            attempts=max(1, self.attempts),
            error_type=None if last is None else type(last).__name__,
            error_message=None if last is None else str(last)[:1000],
            details={
                "operation": self.operation,
                "original_error": type(self.error).__name__,
                "reason": self.reason,
                "limit_hit": self.limit_hit,
                "errors": list(self.errors),
            },
        )

    def failed_event(self) -> RecoveryFailed:
        """The event that tells monitoring this recovery failed."""
        return RecoveryFailed(
            operation=self.operation,
            service=self.service,
            strategy=self.strategy,
            error=self.last_error or self.error,
            attempts=self.attempts,
            reason=self.reason,
        )
