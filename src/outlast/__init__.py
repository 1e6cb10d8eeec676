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
from outlast.monitoring import error_monitor, record_error_event, record_error_event_sync
from outlast.resilience import (
    BreakerTransition,
    Bulkhead,
    CallFailed,
    CircuitBreaker,
    CircuitState,
    ClusterBulkhead,
    FallbackUsed,
    RecoveryFailed,
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
    from outlast.recovery import RecoveryStrategy, recover_from_database_error, recovery_manager
    from outlast.workers import enqueue, fallback_to_queue, operation

# The worker API imports Celery; it loads on first use so `import outlast` stays light.
_WORKER_API = frozenset({"enqueue", "fallback_to_queue", "operation"})
# The recovery API opens the store's drivers (redis, pymongo); it loads on first use too.
_RECOVERY_API = frozenset({"RecoveryStrategy", "recover_from_database_error", "recovery_manager"})


def __getattr__(name: str) -> Any:
    if name in _WORKER_API:
        from outlast import workers

        return getattr(workers, name)
    if name in _RECOVERY_API:
        from outlast import recovery

        return getattr(recovery, name)
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
    "RecoveryFailed",
    "RecoveryStrategy",
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
    "error_monitor",
    "fallback_to_queue",
    "get_bulkhead",
    "get_circuit_breaker",
    "handle_errors",
    "operation",
    "record_error_event",
    "record_error_event_sync",
    "recover_from_database_error",
    "recovery_manager",
    "register_user_message",
    "remove_listener",
    "retry_with_backoff",
    "retry_with_backoff_sync",
    "translate_error",
    "validate_input",
]
