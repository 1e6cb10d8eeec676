"""Profile look-up by service name: seed table, then settings override, else the default."""

from __future__ import annotations

from outlast.config import _tables
from outlast.config._policies import BulkheadConfig, CircuitBreakerConfig, RetryConfig, merged
from outlast.config._settings import get_settings, overrides_of

__all__ = [
    "get_bulkhead_config",
    "get_circuit_breaker_config",
    "get_retry_config",
    "get_timeout_config",
]


def get_circuit_breaker_config(name: str) -> CircuitBreakerConfig:
    """The breaker profile for ``name`` ("database", "redis", "email", ...)."""
    base = _tables.CIRCUIT_BREAKERS.get(name, _tables.DEFAULT_CIRCUIT_BREAKER)
    override = get_settings().circuit_breakers.get(name)
    if override is None:
        return base
    values = overrides_of(override)
    if "profile" in values and "half_open_max_calls" not in values:
        values["half_open_max_calls"] = values["profile"].half_open_max_calls
    result: CircuitBreakerConfig = merged(base, values)
    return result


def get_bulkhead_config(name: str) -> BulkheadConfig:
    """The bulkhead profile for ``name`` ("database_connections", "family_creation", ...)."""
    base = _tables.BULKHEADS.get(name, _tables.DEFAULT_BULKHEAD)
    override = get_settings().bulkheads.get(name)
    result: BulkheadConfig = merged(base, overrides_of(override)) if override else base
    return result


def get_retry_config(name: str) -> RetryConfig:
    """The retry profile for ``name`` ("database_query", "family_operation", ...)."""
    base = _tables.RETRIES.get(name, _tables.DEFAULT_RETRY)
    override = get_settings().retries.get(name)
    result: RetryConfig = merged(base, overrides_of(override)) if override else base
    return result


def get_timeout_config(name: str) -> float:
    """The timeout in seconds for ``name`` ("database_query", ...)."""
    return get_settings().timeouts.get(name, _tables.TIMEOUTS.get(name, _tables.DEFAULT_TIMEOUT))
