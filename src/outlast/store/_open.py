"""``open_store``: the store the settings ask for.

``OUTLAST_MONGODB_URL`` set: a ``MongoStore`` on that URL. Otherwise a ``RedisStore`` on
``OUTLAST_REDIS_URL``, or on :data:`DEFAULT_REDIS_URL` (a Redis on this machine) when that
is unset too. Both use ``OUTLAST_NAMESPACE``. Nothing connects until the first operation.
"""

from __future__ import annotations

from typing import Final

from outlast._clock import Clock
from outlast.config import Settings, get_settings
from outlast.store._collections import DEFAULT_EVENT_RETENTION, DEFAULT_IDEMPOTENCY_RETENTION
from outlast.store._protocol import Store
from outlast.store.mongo._mongo import MongoStore
from outlast.store.redis._redis import RedisStore

__all__ = ["DEFAULT_REDIS_URL", "open_store"]

DEFAULT_REDIS_URL: Final = "redis://127.0.0.1:6379/0"


def open_store(
    settings: Settings | None = None,
    *,
    event_retention: float = DEFAULT_EVENT_RETENTION,
    idempotency_retention: float = DEFAULT_IDEMPOTENCY_RETENTION,
    clock: Clock | None = None,
) -> Store:
    """The durable store chosen by ``settings`` (the process's settings by default)."""
    settings = settings or get_settings()
    if settings.mongodb_url:
        return MongoStore.from_url(
            settings.mongodb_url,
            namespace=settings.namespace,
            event_retention=event_retention,
            idempotency_retention=idempotency_retention,
            clock=clock,
        )
    return RedisStore(
        settings.redis_url or DEFAULT_REDIS_URL,
        namespace=settings.namespace,
        event_retention=event_retention,
        idempotency_retention=idempotency_retention,
        clock=clock,
    )
