"""Outlast: keep an application's work alive through failures.

The public API lives here; implementation modules are private. See ``outlast.config`` for
settings and profiles, ``outlast.testing`` for test helpers, ``outlast.typing`` for the
protocols at the seams.
"""

from typing import TYPE_CHECKING, Any

from outlast.config import (
    BulkheadConfig,
    CircuitBreakerConfig,
    Jitter,
    RetryConfig,
    RetryStrategy,
    WindowType,
)
from outlast.errors import (
    BulkheadCapacityError,
    CircuitBreakerOpenError,
    ConfigurationError,
    ErrorContext,
    ErrorSeverity,
    FieldError,
    InternalError,
    OperationTimeoutError,
    OutlastError,
    ServiceUnavailableError,
    SettingsError,
    ValidationError,
)
from outlast.resilience import (
    BreakerTransition,
    Bulkhead,
    CallFailed,
    CircuitBreaker,
    CircuitState,
    ClusterBulkhead,
    FallbackUsed,
    RetryScheduled,
    add_listener,
    bulkheads,
    circuit_breakers,
    compile_schema,
    get_bulkhead,
    get_circuit_breaker,
    handle_errors,
    register_user_message,
    remove_listener,
    retry_with_backoff,
    retry_with_backoff_sync,
    translate_error,
    validate_input,
)

if TYPE_CHECKING:
    from outlast.workers import enqueue, fallback_to_queue, operation

# The worker API imports Celery; it loads on first use so `import outlast` stays light.
_WORKER_API = frozenset({"enqueue", "fallback_to_queue", "operation"})


def __getattr__(name: str) -> Any:
    if name in _WORKER_API:
        from outlast import workers

        return getattr(workers, name)
    raise AttributeError(f"module 'outlast' has no attribute {name!r}")


__all__ = [
    "BreakerTransition",
    "Bulkhead",
    "BulkheadCapacityError",
    "BulkheadConfig",
    "CallFailed",
    "CircuitBreaker",
    "CircuitBreakerConfig",
    "CircuitBreakerOpenError",
    "CircuitState",
    "ClusterBulkhead",
    "ConfigurationError",
    "ErrorContext",
    "ErrorSeverity",
    "FallbackUsed",
    "FieldError",
    "InternalError",
    "Jitter",
    "OperationTimeoutError",
    "OutlastError",
    "RetryConfig",
    "RetryScheduled",
    "RetryStrategy",
    "ServiceUnavailableError",
    "SettingsError",
    "ValidationError",
    "WindowType",
    "add_listener",
    "bulkheads",
    "circuit_breakers",
    "compile_schema",
    "enqueue",
    "fallback_to_queue",
    "get_bulkhead",
    "get_circuit_breaker",
    "handle_errors",
    "operation",
    "register_user_message",
    "remove_listener",
    "retry_with_backoff",
    "retry_with_backoff_sync",
    "translate_error",
    "validate_input",
]
