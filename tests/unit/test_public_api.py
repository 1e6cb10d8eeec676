"""The public surface: ``outlast.__all__`` is pinned, sorted, and every name resolves."""

from __future__ import annotations

import outlast
import outlast.config
import outlast.resilience

PUBLIC = [
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


def test_all_is_pinned() -> None:
    """Adding or removing a public name is a deliberate change to this list."""
    assert outlast.__all__ == PUBLIC


def test_all_lists_are_sorted() -> None:
    """Every package's __all__ is sorted, so diffs of the surface stay readable."""
    for module in (outlast, outlast.config, outlast.resilience):
        assert module.__all__ == sorted(module.__all__), module.__name__


def test_every_public_name_resolves_and_is_not_private() -> None:
    """Each exported name exists, and none comes from outside the package."""
    for name in outlast.__all__:
        value = getattr(outlast, name)
        assert getattr(value, "__module__", "outlast").startswith("outlast"), name


def test_error_severity_levels() -> None:
    """ErrorSeverity has exactly the seed's four levels."""
    assert [s.name for s in outlast.ErrorSeverity] == ["LOW", "MEDIUM", "HIGH", "CRITICAL"]


def test_typed_marker_ships() -> None:
    """py.typed ships beside the package so type checkers use its annotations."""
    from importlib.resources import files

    assert files("outlast").joinpath("py.typed").is_file()


def test_import_outlast_does_not_import_celery() -> None:
    """The resilience library loads without Celery; the worker API loads on first use."""
    import subprocess
    import sys

    code = (
        "import sys, outlast; print('celery' in sys.modules); "
        "outlast.enqueue; print('celery' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.split() == ["False", "True"], done.stderr
