"""The per-name bulkheads of this process: ``get_bulkhead`` and friends.

``get_bulkhead(name)`` creates the bulkhead called ``name`` on first use, configured from
the profile for ``name`` (``outlast.config``) with ``capacity`` and ``timeout`` on top, and
hands out that same instance afterwards. ``bulkheads()`` lists them for health endpoints;
``reset_bulkheads()`` forgets them between tests.

This module only creates and finds bulkheads: it never changes a bulkhead's configuration
or permits after creation, and it is not on the call path (``handle_errors`` resolves a
name once, when it decorates).
"""

from __future__ import annotations

from outlast.config import BulkheadConfig, get_bulkhead_config
from outlast.resilience._bulkhead import Bulkhead
from outlast.resilience._registry import Registry

__all__ = ["bulkheads", "get_bulkhead", "reset_bulkheads"]


_REGISTRY: Registry[Bulkhead] = Registry()


def get_bulkhead(
    name: str,
    capacity: int | None = None,
    *,
    timeout: float | None = None,
    config: BulkheadConfig | None = None,
) -> Bulkhead:
    """The process-wide bulkhead called ``name``, created on first use.

    The first call fixes its configuration: ``config`` (or the profile configured for
    ``name``) with ``capacity`` and ``timeout`` applied on top when given. Later calls
    return the same instance and ignore their arguments.
    """

    def create() -> Bulkhead:
        base = config if config is not None else get_bulkhead_config(name)
        resolved = BulkheadConfig(
            capacity=base.capacity if capacity is None else capacity,
            timeout=base.timeout if timeout is None else timeout,
        )
        return Bulkhead(name, config=resolved)

    return _REGISTRY.get_or_create(name, create)


def bulkheads() -> dict[str, Bulkhead]:
    """Every bulkhead created through :func:`get_bulkhead`, by name."""
    return _REGISTRY.all()


def reset_bulkheads() -> None:
    """Forget every registered bulkhead (for tests)."""
    _REGISTRY.clear()
