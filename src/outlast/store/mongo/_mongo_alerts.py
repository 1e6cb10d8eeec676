"""Alerts in MongoDB: one document per alert id, changed by optimistic replacement.

Each document carries a ``_rev`` counter; a change reads the alert, computes the new one
(``merge_alert``/``resolved_alert``, shared with the Redis backend) and replaces it only
if ``_rev`` is unchanged, retrying otherwise. A resolved alert gets ``expire_at`` for the
TTL index; an active one has none and never expires.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pymongo.errors import DuplicateKeyError

from outlast._clock import Clock
from outlast.store._errors import StoreUnavailableError
from outlast.store._records import (
    Alert,
    AlertStatus,
    changed_alert,
    merge_alert,
    resolved_alert,
)
from outlast.store.mongo._mongo_codec import from_mongo, to_mongo, utc

__all__ = ["MongoAlerts"]

MAX_TRIES = 50


class MongoAlerts:
    """Raises, resolves and lists alerts in one collection."""

    def __init__(self, *, retention: float, clock: Clock) -> None:
        self._retention = retention
        self._clock = clock

    async def upsert(self, coll: Any, alert: Alert) -> Alert:
        """Raise ``alert`` (merged into the active alert with its id, if any)."""
        merged = await self._change(coll, alert.id, lambda found: merge_alert(found, alert))
        assert merged is not None
        return merged

    async def resolve(self, coll: Any, alert_id: str, *, at: float) -> Alert | None:
        """Resolve the alert; None if there is none."""
        return await self._change(
            coll, alert_id, lambda found: None if found is None else resolved_alert(found, at=at)
        )

    async def update(
        self, coll: Any, alert_id: str, change: Callable[[Alert], Alert]
    ) -> Alert | None:
        """Store ``change`` of the alert; None if there is none."""
        return await self._change(
            coll, alert_id, lambda found: None if found is None else changed_alert(found, change)
        )

    async def get(self, coll: Any, alert_id: str) -> Alert | None:
        """The alert with this id, or None (also once a resolved alert has expired)."""
        document = await coll.find_one({"_id": alert_id, **self._not_expired()})
        return None if document is None else from_mongo(Alert, document)

    async def find(self, coll: Any, *, status: AlertStatus, limit: int, offset: int) -> list[Alert]:
        """Alerts of ``status``, newest first."""
        if limit == 0:
            return []
        query: dict[str, Any] = {"status": status.value}
        time_field = "updated_at"
        if status is AlertStatus.RESOLVED:
            query.update(self._not_expired())
            time_field = "resolved_at"
        cursor = coll.find(query).sort([(time_field, -1), ("_id", -1)]).skip(offset).limit(limit)
        return [from_mongo(Alert, d) for d in await cursor.to_list(length=limit)]

    async def _change(
        self, coll: Any, alert_id: str, change: Callable[[Alert | None], Alert | None]
    ) -> Alert | None:
        for _ in range(MAX_TRIES):
            document = await coll.find_one({"_id": alert_id, **self._not_expired()})
            found = None if document is None else from_mongo(Alert, document)
            changed = change(found)
            if changed is None or changed == found:
                return changed
            if await self._write(coll, document, changed):
                return changed
        raise StoreUnavailableError(
            f"alert {alert_id!r} changed {MAX_TRIES} times in a row while being updated",
            backend="mongodb",
            operation="alert update",
        )

    async def _write(self, coll: Any, previous: dict[str, Any] | None, alert: Alert) -> bool:
        """Store ``alert`` if the stored document is still ``previous``."""
        expire_at = None if alert.resolved_at is None else alert.resolved_at + self._retention
        document = to_mongo(alert, expire_at=expire_at)
        if previous is None:
            # Insert, or replace a resolved alert the TTL monitor has not deleted yet; a live
            # alert stored meanwhile makes the upsert collide on _id, and we read again.
            gone = {"_id": alert.id, "expire_at": {"$lte": utc(self._clock.time())}}
            try:
                await coll.replace_one(gone, {**document, "_rev": 1}, upsert=True)
            except DuplicateKeyError:
                return False
            return True
        revision = previous.get("_rev", 0)
        document["_rev"] = revision + 1
        result = await coll.replace_one({"_id": alert.id, "_rev": revision}, document)
        return bool(result.matched_count)

    async def purge_resolved(self, coll: Any, *, before: float) -> int:
        """Delete the alerts resolved at or before ``before``; how many."""
        query = {"status": AlertStatus.RESOLVED.value, "resolved_at": {"$lte": before}}
        return int((await coll.delete_many(query)).deleted_count)

    def _not_expired(self) -> dict[str, Any]:
        return {
            "$or": [
                {"expire_at": {"$exists": False}},
                {"expire_at": {"$gt": utc(self._clock.time())}},
            ]
        }
