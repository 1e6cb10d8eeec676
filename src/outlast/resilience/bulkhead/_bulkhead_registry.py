"""The per-name bulkheads of this process: ``get_bulkhead`` and friends.

``get_bulkhead(name)`` creates the bulkhead called ``name`` on first use, configured from
the profile for ``name`` (``outlast.config``) with ``capacity`` and ``timeout`` on top, and
hands out that same instance afterwards. Its ``scope`` is fixed then too: "local" (a
:class:`Bulkhead` of this process) or "cluster" (a
:class:`~outlast.resilience.bulkhead._redis_bulkhead.ClusterBulkhead` whose capacity every process
sharing ``Settings.redis_url`` and ``Settings.namespace`` shares). ``bulkheads()`` lists them
for health endpoints; ``reset_bulkheads()`` forgets them between tests.

This module only creates and finds bulkheads: it never changes a bulkhead's configuration
or permits after creation, and it is not on the call path (``handle_errors`` resolves a
name once, when it decorates).
"""

from __future__ import annotations

import sys

from outlast.config import BulkheadConfig, get_bulkhead_config, get_settings
from outlast.resilience._registry import Registry
from outlast.resilience.bulkhead._bulkhead import Bulkhead
from outlast.resilience.shared._scope import Scope, cluster_redis_url

__all__ = ["Scope", "bulkheads", "get_bulkhead", "reset_bulkheads"]

_REGISTRY: Registry[Bulkhead] = Registry()


def get_bulkhead(
    name: str,
    capacity: int | None = None,
    *,
    timeout: float | None = None,
    config: BulkheadConfig | None = None,
    scope: Scope | None = None,
) -> Bulkhead:
    """The process-wide bulkhead called ``name``, created on first use.

    The first call fixes its configuration: ``config`` (or the profile configured for
    ``name``) with ``capacity`` and ``timeout`` applied on top when given, and its
    ``scope``: ``None`` means ``Settings.state_scope``, else "cluster" exactly when
    ``Settings.redis_url`` is set. Later calls return the same instance and ignore their
    arguments. "cluster" without a Redis URL is a ``ConfigurationError``.
    """

    def create() -> Bulkhead:
        base = config if config is not None else get_bulkhead_config(name)
        resolved = BulkheadConfig(
            capacity=base.capacity if capacity is None else capacity,
            timeout=base.timeout if timeout is None else timeout,
        )
        redis_url = cluster_redis_url(scope, kind="bulkhead")
        if redis_url is None:
            return Bulkhead(name, config=resolved)
        return _cluster_bulkhead(name, resolved, redis_url)

    return _REGISTRY.get_or_create(name, create)


def _cluster_bulkhead(name: str, config: BulkheadConfig, redis_url: str) -> Bulkhead:
    # Imported here so that local-only users never import the Redis client.
    from outlast.resilience.bulkhead._redis_bulkhead import ClusterBulkhead
    from outlast.resilience.shared._redis_link import link_for

    link = link_for(redis_url, get_settings().namespace)
    return ClusterBulkhead(name, config=config, link=link)


def bulkheads() -> dict[str, Bulkhead]:
    """Every bulkhead created through :func:`get_bulkhead`, by name."""
    return _REGISTRY.all()


def reset_bulkheads() -> None:
    """Forget every registered bulkhead and stop lease renewal threads (for tests)."""
    _REGISTRY.clear()
    # Nothing to stop if renewal was never imported.
    if "outlast.resilience.shared._lease_renewer" in sys.modules:
        from outlast.resilience.shared._lease_renewer import stop_lease_renewers

        stop_lease_renewers()
