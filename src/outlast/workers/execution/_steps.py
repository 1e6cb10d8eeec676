"""What one execution of an operation decided: done, defer, retry, or dead-letter.

The async execution core returns one of these; the Celery task acts on it. Keeping the
decision as data keeps the core free of Celery and testable on its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Dead", "Defer", "Done", "Retry", "Step"]


@dataclass(frozen=True, slots=True)
class Done:
    """The work is done (now, or earlier under the same idempotency key)."""

    result: Any
    replayed: bool = False


@dataclass(frozen=True, slots=True)
class Defer:
    """Run the same attempt again after ``delay`` seconds; no attempt is spent."""

    delay: float
    reason: str


@dataclass(frozen=True, slots=True)
class Retry:
    """The attempt failed and may be retried after ``delay`` seconds."""

    delay: float
    error: BaseException


@dataclass(frozen=True, slots=True)
class Dead:
    """The work cannot be done: ``reason`` is exhausted, non_retryable or poison."""

    reason: str
    error: BaseException


Step = Done | Defer | Retry | Dead
