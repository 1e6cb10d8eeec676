"""The per-name circuit breakers of this process: ``get_circuit_breaker`` and friends.

``get_circuit_breaker(name)`` creates the breaker called ``name`` on first use, configured
from the seed's service table (``outlast.config``) with keyword overrides on top, and hands
out that same instance afterwards. Its ``scope`` is fixed then too: "local" (state in this
process) or "cluster" (a :class:`~outlast.resilience.breaker._redis_breaker.RedisBreakerState`
shared by every process on ``Settings.redis_url`` and ``Settings.namespace``).
``circuit_breakers()`` lists them for health endpoints; ``reset_circuit_breakers()`` forgets
them, and stops the cluster breakers' threads, between tests.

This module only creates and finds breakers: it never changes a breaker's configuration or
state after creation, and it is not on the call path (``handle_errors`` resolves a name
once, when it decorates).
"""

from __future__ import annotations

import sys
from typing import Any

from outlast._clock import Clock
from outlast.config import (
    BreakerProfile,
    CircuitBreakerConfig,
    get_circuit_breaker_config,
    get_settings,
)
from outlast.config._policies import merged
from outlast.errors import ConfigurationError
from outlast.resilience._registry import Registry
from outlast.resilience.breaker._breaker import CircuitBreaker
from outlast.resilience.shared._scope import Scope, cluster_redis_url

__all__ = [
    "circuit_breakers",
    "get_circuit_breaker",
    "reset_circuit_breakers",
]

_breakers: Registry[CircuitBreaker] = Registry()


def get_circuit_breaker(
    name: str,
    failure_threshold: int | None = None,
    recovery_timeout: float | None = None,
    *,
    config: CircuitBreakerConfig | None = None,
    clock: Clock | None = None,
    scope: Scope | None = None,
    **overrides: Any,
) -> CircuitBreaker:
    """The one breaker called ``name`` in this process, created on first use.

    The first call fixes its configuration: ``config`` (else the seed profile for ``name``,
    else the default profile), with ``failure_threshold``, ``recovery_timeout`` and any
    other ``CircuitBreakerConfig`` field given as a keyword applied on top; and its
    ``scope``: None means ``Settings.state_scope``, else "cluster" exactly when
    ``Settings.redis_url`` is set. "cluster" without a Redis URL is a
    ``ConfigurationError``. Later calls return the same instance and ignore their arguments.
    """
    existing = _breakers.get(name)
    if existing is not None:
        return existing
    if failure_threshold is not None:
        overrides["failure_threshold"] = failure_threshold
    if recovery_timeout is not None:
        overrides["recovery_timeout"] = recovery_timeout
    return _breakers.get_or_create(
        name, lambda: _create(name, _resolve_config(name, config, overrides), clock, scope)
    )


def _create(
    name: str, config: CircuitBreakerConfig, clock: Clock | None, scope: str | None
) -> CircuitBreaker:
    """A local breaker, or one whose state lives in the configured Redis."""
    redis_url = cluster_redis_url(scope, kind="circuit breaker")
    if redis_url is None:
        return CircuitBreaker(name, config=config, clock=clock)
    # Imported here so that local-only users never import the Redis client.
    from outlast.resilience.breaker._redis_breaker import RedisBreakerState
    from outlast.resilience.shared._redis_link import link_for

    settings = get_settings()
    backend = RedisBreakerState(
        name,
        config=config,
        link=link_for(redis_url, settings.namespace),
        clock=clock,
        down_policy=settings.redis_down_policy,
    )
    return CircuitBreaker(name, config=config, clock=clock, backend=backend)


def _resolve_config(
    name: str, config: CircuitBreakerConfig | None, overrides: dict[str, Any]
) -> CircuitBreakerConfig:
    """``config`` or the profile for ``name``, with ``overrides`` applied and validated."""
    base = config if config is not None else get_circuit_breaker_config(name)
    unknown = sorted(set(overrides) - set(CircuitBreakerConfig.__dataclass_fields__))
    if unknown:
        raise ConfigurationError(f"unknown circuit breaker setting(s): {', '.join(unknown)}")
    if not overrides:
        return base
    profile = overrides.get("profile")
    if isinstance(profile, str):
        profile = overrides["profile"] = BreakerProfile(profile)
    if isinstance(profile, BreakerProfile) and "half_open_max_calls" not in overrides:
        overrides["half_open_max_calls"] = profile.half_open_max_calls
    resolved: CircuitBreakerConfig = merged(base, overrides)
    return resolved


def circuit_breakers() -> dict[str, CircuitBreaker]:
    """Every named breaker created so far (for health endpoints)."""
    return _breakers.all()


def reset_circuit_breakers() -> None:
    """Forget every named breaker and stop cluster breakers' threads (tests, between cases)."""
    _breakers.clear()
    if "outlast.resilience.shared._state_sync" in sys.modules:  # nothing to stop if never imported
        from outlast.resilience.shared._state_sync import stop_state_sync

        stop_state_sync()
