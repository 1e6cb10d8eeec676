"""The seed's service tables: the default breaker, bulkhead, retry and timeout profiles.

Keys are the names applications pass (``get_circuit_breaker_config("database")``). A name
that is not here resolves to the ``DEFAULT_*`` profile below.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Final

from outlast.config._policies import (
    BreakerProfile,
    BulkheadConfig,
    CircuitBreakerConfig,
    RetryConfig,
    RetryStrategy,
)

__all__ = [
    "BULKHEADS",
    "CIRCUIT_BREAKERS",
    "DEFAULT_BULKHEAD",
    "DEFAULT_CIRCUIT_BREAKER",
    "DEFAULT_RETRY",
    "DEFAULT_TIMEOUT",
    "RETRIES",
    "TIMEOUTS",
]


def _breaker(threshold: int, recovery: float, profile: BreakerProfile) -> CircuitBreakerConfig:
    return CircuitBreakerConfig(
        failure_threshold=threshold,
        recovery_timeout=recovery,
        half_open_max_calls=profile.half_open_max_calls,
        profile=profile,
    )


def _retry(attempts: int, initial: float) -> RetryConfig:
    return RetryConfig(
        max_attempts=attempts,
        initial_delay=initial,
        strategy=RetryStrategy.EXPONENTIAL_BACKOFF,
    )


CIRCUIT_BREAKERS: Final = MappingProxyType(
    {
        "database": _breaker(5, 60.0, BreakerProfile.CONSERVATIVE),
        "redis": _breaker(3, 30.0, BreakerProfile.BALANCED),
        "email": _breaker(10, 120.0, BreakerProfile.AGGRESSIVE),
        "family_operations": _breaker(5, 45.0, BreakerProfile.BALANCED),
        "sbd_operations": _breaker(3, 30.0, BreakerProfile.CONSERVATIVE),
    }
)

BULKHEADS: Final = MappingProxyType(
    {
        "database_connections": BulkheadConfig(capacity=20, timeout=10.0),
        "redis_connections": BulkheadConfig(capacity=15, timeout=5.0),
        "email_sending": BulkheadConfig(capacity=10, timeout=30.0),
        "family_creation": BulkheadConfig(capacity=5, timeout=15.0),
        "sbd_transactions": BulkheadConfig(capacity=8, timeout=20.0),
    }
)

RETRIES: Final = MappingProxyType(
    {
        "database_query": _retry(3, 1.0),
        "redis_operation": _retry(3, 0.5),
        "email_sending": _retry(5, 2.0),
        "family_operation": _retry(3, 1.0),
        "sbd_transaction": _retry(2, 1.0),
    }
)

# The seed names timeouts per operation but gives no table; these are Outlast's defaults.
TIMEOUTS: Final = MappingProxyType(
    {
        "database_query": 10.0,
        "redis_operation": 5.0,
        "email_sending": 30.0,
        "family_operation": 30.0,
        "sbd_transaction": 20.0,
    }
)

DEFAULT_CIRCUIT_BREAKER: Final = CircuitBreakerConfig()  # 5 failures, 60 s, 1 probe
DEFAULT_BULKHEAD: Final = BulkheadConfig()  # 10 permits, 5 s wait
DEFAULT_RETRY: Final = RetryConfig()  # 3 attempts, exponential from 1 s, full jitter
DEFAULT_TIMEOUT: Final = 30.0
