"""The process's shared ``recovery_manager`` and ``services``, and the seed's
``recover_from_database_error``.

The shared manager records into the store the settings choose (``open_store``) and counts
into the settings' Redis (or the local default Redis), both opened on first use, so
importing this module connects to nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from outlast.config import get_settings
from outlast.errors import ErrorContext, ServiceUnavailableError
from outlast.recovery._manager import RecoveryManager
from outlast.recovery._registry import ServiceRegistry
from outlast.recovery._statistics import RecoveryStatistics
from outlast.recovery._strategies import call_maybe_async
from outlast.recovery._strategy import RecoveryStrategy
from outlast.resilience.shared._redis_link import link_for
from outlast.store import DEFAULT_REDIS_URL, open_store

__all__ = ["recover_from_database_error", "recovery_manager", "services"]


def _shared_statistics() -> RecoveryStatistics:
    settings = get_settings()
    return RecoveryStatistics(link_for(settings.redis_url or DEFAULT_REDIS_URL, settings.namespace))


services = ServiceRegistry()
"""The services of this process (register the built-in or your own here)."""

recovery_manager = RecoveryManager(
    registry=services, store_source=open_store, statistics_source=_shared_statistics
)
"""The process's recovery manager, as the seed uses it."""


async def recover_from_database_error(
    error: BaseException,
    context: ErrorContext | None,
    operation: Callable[[], Any] | None = None,
    *,
    service: str = "mongodb",
    max_attempts: int = 3,
    manager: RecoveryManager | None = None,
) -> tuple[bool, Any]:
    """Heal the database service's client (close and recreate it, then ping) and run the
    operation again, with exponential backoff; ``(True, result)`` or ``(False, last_error)``.

    The operation is ``operation``, else the one registered for ``context.operation``
    (``register_operation``); with neither, a healed client is the success (result None).
    """
    chosen = manager if manager is not None else recovery_manager
    work = operation
    if work is None and context is not None:
        work = chosen.operation(context.operation)

    async def heal_then_retry() -> Any:
        healed = await chosen.registry.heal(service)
        if not healed.healthy:
            raise ServiceUnavailableError(f"{service} is still unhealthy: {healed.detail}")
        return None if work is None else await call_maybe_async(work)

    return await chosen.recover_from_error(
        error,
        context,
        RecoveryStrategy.EXPONENTIAL_BACKOFF,
        heal_then_retry,
        max_attempts,
        service=service,
    )
