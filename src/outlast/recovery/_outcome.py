"""``RecoveryOutcome``: what one call of ``recover_from_error`` did, for callbacks.

Frozen data only; nothing here runs a recovery.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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
