"""``MongoStore``: the durable store on MongoDB, through any async MongoDB client.

``MongoStore.from_url`` opens PyMongo's ``AsyncMongoClient``; ``MongoStore(database)``
takes a database object of any client with the same async API (PyMongo async, motor,
mongomock-motor), and leaves that client to its owner. Only calls all of them share are
used: ``insert_one``, ``find_one``, ``find_one_and_update/delete``, ``replace_one``,
``delete_one/many``, ``count_documents``, ``create_index`` and ``find().sort().skip()
.limit().to_list(length=...)``. Indexes are created on first use (``ensure_indexes`` does
it on demand). This module never lets a PyMongo error escape (see StoreUnavailableError).
"""

from __future__ import annotations

import inspect
from contextlib import AbstractContextManager
from typing import Any, Final

from bson.errors import BSONError
from pymongo import AsyncMongoClient
from pymongo.errors import PyMongoError

from outlast._clock import SYSTEM_CLOCK, Clock
from outlast.store._collections import (
    DEAD_LETTERS,
    DEFAULT_EVENT_RETENTION,
    DEFAULT_IDEMPOTENCY_RETENTION,
    ERROR_EVENTS,
    RECOVERY_ATTEMPTS,
    SNAPSHOTS,
    check_namespace,
    check_retention,
)
from outlast.store._core import StoreCore
from outlast.store._errors import redact_url, translate_errors, translated
from outlast.store.mongo._mongo_alerts import MongoAlerts
from outlast.store.mongo._mongo_idempotency import MongoIdempotency
from outlast.store.mongo._mongo_indexes import collection_name, ensure_indexes
from outlast.store.mongo._mongo_retries import MongoRetrySchedule
from outlast.store.mongo._mongo_timeline import MongoTimeline

__all__ = ["DEFAULT_DATABASE", "MongoStore"]

DEFAULT_DATABASE: Final = "outlast"

_DRIVER_ERRORS: Final = (PyMongoError, BSONError)


class MongoStore(StoreCore):
    """The :class:`~outlast.store.Store` on a MongoDB database.

    Retentions and ``clock`` mean what they mean for ``RedisStore``. ``client``, if given,
    is closed by :meth:`close` (``from_url`` passes the client it opened); ``target``
    names the database in error messages (never with a password).
    """

    def __init__(
        self,
        database: Any,
        *,
        namespace: str = "default",
        event_retention: float = DEFAULT_EVENT_RETENTION,
        idempotency_retention: float = DEFAULT_IDEMPOTENCY_RETENTION,
        clock: Clock | None = None,
        client: Any = None,
        target: str | None = None,
    ) -> None:
        self.namespace = check_namespace(namespace)
        self.event_retention = retention = check_retention("event_retention", event_retention)
        kept = check_retention("idempotency_retention", idempotency_retention)
        self._database = database
        self._owned_client = client
        self._target = target or f"database {getattr(database, 'name', '?')!r}"
        self._clock = clock or SYSTEM_CLOCK
        self._indexed = False
        self._dead_letters = MongoTimeline(DEAD_LETTERS, retention=retention)
        self._events = MongoTimeline(ERROR_EVENTS, retention=retention)
        self._recoveries = MongoTimeline(RECOVERY_ATTEMPTS, retention=retention)
        self._snapshots = MongoTimeline(SNAPSHOTS, retention=retention)
        self._idempotency = MongoIdempotency(retention=kept, clock=self._clock)
        self._retries = MongoRetrySchedule()
        self._alerts = MongoAlerts(retention=retention, clock=self._clock)

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        database: str | None = None,
        namespace: str = "default",
        event_retention: float = DEFAULT_EVENT_RETENTION,
        idempotency_retention: float = DEFAULT_IDEMPOTENCY_RETENTION,
        server_selection_timeout: float = 5.0,
        clock: Clock | None = None,
    ) -> MongoStore:
        """A store on PyMongo's ``AsyncMongoClient`` for ``url``; the database is
        ``database``, else the URL's, else ``"outlast"``. Connects lazily."""
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
            url, serverSelectionTimeoutMS=int(server_selection_timeout * 1000), tz_aware=True
        )
        chosen = client[database] if database else client.get_default_database(DEFAULT_DATABASE)
        return cls(
            chosen,
            namespace=namespace,
            event_retention=event_retention,
            idempotency_retention=idempotency_retention,
            clock=clock,
            client=client,
            target=redact_url(url),
        )

    def __repr__(self) -> str:
        return f"MongoStore({self._target!r}, namespace={self.namespace!r})"

    def translation(self, operation: str) -> AbstractContextManager[None]:
        """Where PyMongo errors become StoreUnavailableError."""
        return translate_errors(
            _DRIVER_ERRORS, backend="mongodb", target=self._target, operation=operation
        )

    async def _handle(self, kind: str) -> Any:
        if not self._indexed:
            await ensure_indexes(self._database, self.namespace)
            self._indexed = True
        return self._database[collection_name(self.namespace, kind)]

    @translated
    async def ensure_indexes(self) -> None:
        """Create the store's indexes now (otherwise the first operation does)."""
        await ensure_indexes(self._database, self.namespace)
        self._indexed = True

    @translated
    async def ping(self) -> None:
        """Return if MongoDB answers; raise StoreUnavailableError if not."""
        await self._database.command("ping")

    @translated
    async def close(self) -> None:
        """Close the client this store opened (an injected database's client is left)."""
        if self._owned_client is None:
            return
        client, self._owned_client = self._owned_client, None
        closing = client.close()  # a coroutine on PyMongo's async client, plain on motor
        if inspect.isawaitable(closing):
            await closing
