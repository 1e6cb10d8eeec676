"""Outlast: keep an application's work alive through failures."""

from outlast.config import RetryConfig, RetryStrategy
from outlast.errors import (
    BulkheadCapacityError,
    CircuitBreakerOpenError,
    ErrorContext,
    ErrorSeverity,
    OutlastError,
    ValidationError,
)

__all__ = [
    "BulkheadCapacityError",
    "CircuitBreakerOpenError",
    "ErrorContext",
    "ErrorSeverity",
    "OutlastError",
    "RetryConfig",
    "RetryStrategy",
    "ValidationError",
]
