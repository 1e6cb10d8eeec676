"""The durable retry schedule in MongoDB: one document per retry, ordered by ``due_at``.

Each due retry is handed out by one ``find_one_and_delete`` (or, with a lease, one
``find_one_and_update`` that moves ``due_at``), so racing beat processes never take the
same one; a take of ``limit`` retries costs up to ``limit`` round trips.
"""

from __future__ import annotations

from typing import Any

from pymongo import ReturnDocument

from outlast.store._records import ScheduledRetry
from outlast.store.mongo._mongo_codec import from_mongo, to_mongo

__all__ = ["MongoRetrySchedule"]

_ORDER = [("due_at", 1), ("_id", 1)]


class MongoRetrySchedule:
    """Schedules, hands out and cancels retries in one collection."""

    async def schedule(self, coll: Any, retry: ScheduledRetry) -> ScheduledRetry:
        """Park ``retry`` (replacing one with the same id)."""
        await coll.replace_one({"_id": retry.id}, to_mongo(retry), upsert=True)
        return retry

    async def take(
        self, coll: Any, *, now: float, limit: int, lease: float | None
    ) -> list[ScheduledRetry]:
        """Up to ``limit`` due retries, each handed to exactly one caller."""
        taken: list[ScheduledRetry] = []
        due = {"due_at": {"$lte": now}}
        while len(taken) < limit:
            if lease is None:
                document = await coll.find_one_and_delete(due, sort=_ORDER)
            else:
                document = await coll.find_one_and_update(
                    due,
                    {"$set": {"due_at": now + lease}},
                    sort=_ORDER,
                    return_document=ReturnDocument.BEFORE,
                )
            if document is None:
                break
            taken.append(from_mongo(ScheduledRetry, document))
        return taken

    async def find(self, coll: Any, *, limit: int, offset: int) -> list[ScheduledRetry]:
        """Scheduled retries, soonest first."""
        if limit == 0:
            return []
        cursor = coll.find({}).sort(_ORDER).skip(offset).limit(limit)
        return [from_mongo(ScheduledRetry, d) for d in await cursor.to_list(length=limit)]

    async def count(self, coll: Any, *, due_before: float | None) -> int:
        """How many retries are scheduled (due at or before ``due_before``)."""
        query = {} if due_before is None else {"due_at": {"$lte": due_before}}
        return int(await coll.count_documents(query))

    async def cancel(self, coll: Any, retry_id: str) -> bool:
        """Remove one retry; False if it was not scheduled."""
        return bool((await coll.delete_one({"_id": retry_id})).deleted_count)
