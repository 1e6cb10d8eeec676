"""``RecoveryStrategy``: the five ways the recovery manager can try to recover a failure.

This module only names the strategies; what each one does lives in ``_strategies``.
"""

from __future__ import annotations

import enum

__all__ = ["RecoveryStrategy", "strategy_of"]


class RecoveryStrategy(enum.Enum):
    """How ``recover_from_error`` tries again (the seed's five strategies)."""

    IMMEDIATE_RETRY = "immediate_retry"
    EXPONENTIAL_BACKOFF = "exponential_backoff"
    CIRCUIT_BREAKER_RECOVERY = "circuit_breaker_recovery"
    SERVICE_RESTART = "service_restart"
    GRACEFUL_DEGRADATION = "graceful_degradation"


def strategy_of(value: RecoveryStrategy | str) -> RecoveryStrategy:
    """``value`` as a strategy; a string is its value ("exponential_backoff")."""
    if isinstance(value, RecoveryStrategy):
        return value
    try:
        return RecoveryStrategy(value)
    except ValueError:
        names = ", ".join(s.value for s in RecoveryStrategy)
        raise ValueError(f"unknown recovery strategy {value!r}; expected one of {names}") from None
