"""The resilience library: retry, circuit breaker, bulkhead, timeout, fallback, validation,
user-friendly errors, and ``handle_errors`` that composes them.

It never imports Celery, FastAPI or a store; it publishes events (``add_listener``) that
monitoring subscribes to.
"""

from outlast.resilience._events import (
    BreakerTransition,
    CallFailed,
    EventListener,
    FallbackUsed,
    RecoveryFailed,
    ResilienceEvent,
    RetryScheduled,
    add_listener,
    remove_listener,
)
from outlast.resilience._handle_errors import handle_errors
from outlast.resilience._messages import register_user_message, translate_error, user_facing_dict
from outlast.resilience.breaker._breaker import CircuitBreaker, CircuitState
from outlast.resilience.breaker._breaker_registry import (
    circuit_breakers,
    get_circuit_breaker,
    reset_circuit_breakers,
)
from outlast.resilience.breaker._redis_breaker import RedisBreakerState
from outlast.resilience.bulkhead._bulkhead import Bulkhead, BulkheadStats
from outlast.resilience.bulkhead._bulkhead_registry import bulkheads, get_bulkhead, reset_bulkheads
from outlast.resilience.bulkhead._redis_bulkhead import ClusterBulkhead
from outlast.resilience.retry._retry import retry_with_backoff, retry_with_backoff_sync
from outlast.resilience.shared._scope import DownPolicy, Scope
from outlast.resilience.validation._schema import CompiledSchema, compile_schema
from outlast.resilience.validation._validation import validate_input

__all__ = [
    "BreakerTransition",
    "Bulkhead",
    "BulkheadStats",
    "CallFailed",
    "CircuitBreaker",
    "CircuitState",
    "ClusterBulkhead",
    "CompiledSchema",
    "DownPolicy",
    "EventListener",
    "FallbackUsed",
    "RecoveryFailed",
    "RedisBreakerState",
    "ResilienceEvent",
    "RetryScheduled",
    "Scope",
    "add_listener",
    "bulkheads",
    "circuit_breakers",
    "compile_schema",
    "get_bulkhead",
    "get_circuit_breaker",
    "handle_errors",
    "register_user_message",
    "remove_listener",
    "reset_bulkheads",
    "reset_circuit_breakers",
    "retry_with_backoff",
    "retry_with_backoff_sync",
    "translate_error",
    "user_facing_dict",
    "validate_input",
]
