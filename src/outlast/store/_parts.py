"""The parts every backend provides, with one signature each, so the store's behaviour
(argument checks, defaults, dispatch) is written once in ``_core``.

Every part method takes the backend's *handle* first: the Redis connection of the running
event loop, or the MongoDB collection of the record kind.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

from outlast.store._collections import Filters
from outlast.store._document import Record
from outlast.store._idempotency import IdempotencyClaim, IdempotencyRecord
from outlast.store._records import Alert, AlertStatus, ScheduledRetry

__all__ = ["AlertsPart", "IdempotencyPart", "RetriesPart", "TimelinePart"]

R = TypeVar("R", bound=Record)


class TimelinePart(Protocol[R]):
    """Timestamped records of one kind (see ``Collection``)."""

    async def put(self, handle: Any, record: R, *, now: float) -> R: ...

    async def put_many(self, handle: Any, records: Sequence[R], *, now: float) -> int: ...

    async def get(self, handle: Any, item_id: str, *, now: float) -> R | None: ...

    async def find(
        self,
        handle: Any,
        chosen: Filters,
        *,
        since: float | None,
        until: float | None,
        limit: int,
        offset: int,
        now: float,
    ) -> list[R]: ...

    async def count(
        self,
        handle: Any,
        chosen: Filters,
        *,
        since: float | None,
        until: float | None,
        now: float,
    ) -> int: ...

    async def delete(self, handle: Any, item_id: str) -> bool: ...

    async def purge(self, handle: Any, chosen: Filters, *, before: float | None) -> int: ...

    async def update(self, handle: Any, item_id: str, change: Callable[[R], R]) -> R | None: ...


class IdempotencyPart(Protocol):
    """Idempotency keys."""

    async def claim(self, handle: Any, key: str, *, lease: float) -> IdempotencyClaim: ...

    async def complete(self, handle: Any, key: str, token: str, result: Any) -> bool: ...

    async def renew(self, handle: Any, key: str, token: str, *, lease: float) -> bool: ...

    async def release(self, handle: Any, key: str, token: str) -> bool: ...

    async def get(self, handle: Any, key: str) -> IdempotencyRecord | None: ...


class RetriesPart(Protocol):
    """The retry schedule."""

    async def schedule(self, handle: Any, retry: ScheduledRetry) -> ScheduledRetry: ...

    async def take(
        self, handle: Any, *, now: float, limit: int, lease: float | None
    ) -> list[ScheduledRetry]: ...

    async def find(self, handle: Any, *, limit: int, offset: int) -> list[ScheduledRetry]: ...

    async def count(self, handle: Any, *, due_before: float | None) -> int: ...

    async def cancel(self, handle: Any, retry_id: str) -> bool: ...


class AlertsPart(Protocol):
    """Alerts."""

    async def upsert(self, handle: Any, alert: Alert) -> Alert: ...

    async def resolve(self, handle: Any, alert_id: str, *, at: float) -> Alert | None: ...

    async def update(
        self, handle: Any, alert_id: str, change: Callable[[Alert], Alert]
    ) -> Alert | None: ...

    async def get(self, handle: Any, alert_id: str) -> Alert | None: ...

    async def find(
        self, handle: Any, *, status: AlertStatus, limit: int, offset: int
    ) -> list[Alert]: ...

    async def purge_resolved(self, handle: Any, *, before: float) -> int: ...
