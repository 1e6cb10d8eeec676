"""One kind of timestamped record in MongoDB: a collection queried by time and filters.

Expiring records carry ``expire_at`` (record time + retention) for the collection's TTL
index. MongoDB's TTL monitor deletes only about once a minute, so every read also filters
on ``expire_at`` itself: a record past its retention is gone for readers at once, exactly
as in the Redis backend.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

from pymongo.errors import BulkWriteError, DuplicateKeyError

from outlast.store._collections import Collection, Filters
from outlast.store._document import Record
from outlast.store._errors import StoreUnavailableError
from outlast.store.mongo._mongo_codec import from_mongo, to_mongo, utc

__all__ = ["MongoTimeline"]

R = TypeVar("R", bound=Record)

MAX_UPDATE_TRIES = 50
_DUPLICATE_KEY = 11000


class MongoTimeline(Generic[R]):
    """Reads and writes one :class:`Collection`; every call is given the collection."""

    def __init__(self, spec: Collection[R], *, retention: float) -> None:
        self.spec = spec
        self.retention = retention if spec.expires else None

    async def put(self, coll: Any, record: R, *, now: float) -> R:
        """Store ``record`` unless its id exists (then return the stored one)."""
        expire_at = None
        if self.retention is not None:
            expire_at = getattr(record, self.spec.time_field) + self.retention
            if expire_at <= now:
                return record  # already past retention: the policy says it is gone
        try:
            await coll.insert_one(to_mongo(record, expire_at=expire_at))
        except DuplicateKeyError:
            return await self.get(coll, record.id, now=now) or record
        return record

    async def put_many(self, coll: Any, records: Sequence[R], *, now: float) -> int:
        """Store each record as :meth:`put` does, in one unordered ``insert_many`` (an id
        already stored is skipped, the rest still go in); how many were new."""
        documents = []
        for record in records:
            expire_at = None
            if self.retention is not None:
                expire_at = getattr(record, self.spec.time_field) + self.retention
                if expire_at <= now:
                    continue
            documents.append(to_mongo(record, expire_at=expire_at))
        if not documents:
            return 0
        try:
            result = await coll.insert_many(documents, ordered=False)
        except BulkWriteError as error:
            details = error.details
            errors = details.get("writeErrors", [])
            if details.get("writeConcernErrors") or any(
                e.get("code") != _DUPLICATE_KEY for e in errors
            ):
                raise
            return int(details.get("nInserted", len(documents) - len(errors)))
        return len(result.inserted_ids)

    async def get(self, coll: Any, item_id: str, *, now: float) -> R | None:
        """The record with ``item_id``, or None (also when it is past retention)."""
        document = await coll.find_one({"_id": item_id, **self._live(now)})
        return None if document is None else from_mongo(self.spec.record, document)

    async def find(
        self,
        coll: Any,
        chosen: Filters,
        *,
        since: float | None,
        until: float | None,
        limit: int,
        offset: int,
        now: float,
    ) -> list[R]:
        """Matching records, newest first."""
        if limit == 0:
            return []  # MongoDB reads limit(0) as "no limit"
        query = self.query(chosen, since=since, until=until, now=now)
        order = [(self.spec.time_field, -1), ("_id", -1)]
        cursor = coll.find(query).sort(order).skip(offset).limit(limit)
        documents = await cursor.to_list(length=limit)
        return [from_mongo(self.spec.record, document) for document in documents]

    async def count(
        self, coll: Any, chosen: Filters, *, since: float | None, until: float | None, now: float
    ) -> int:
        """How many records match."""
        query = self.query(chosen, since=since, until=until, now=now)
        return int(await coll.count_documents(query))

    async def delete(self, coll: Any, item_id: str) -> bool:
        """Delete one record."""
        result = await coll.delete_one({"_id": item_id})
        return bool(result.deleted_count)

    async def purge(self, coll: Any, chosen: Filters, *, before: float | None) -> int:
        """Delete every matching record with time at or before ``before``; the count."""
        query = self.query(chosen, since=None, until=before, now=None)
        result = await coll.delete_many(query)
        return int(result.deleted_count)

    async def update(self, coll: Any, item_id: str, change: Callable[[R], R]) -> R | None:
        """Apply ``change`` to the stored record atomically: the replacement only matches
        the document as it was read (every field equal), else it is read again."""
        for _ in range(MAX_UPDATE_TRIES):
            document = await coll.find_one({"_id": item_id})
            if document is None:
                return None
            changed = change(from_mongo(self.spec.record, document))
            replacement = to_mongo(changed)
            if "expire_at" in document:
                replacement["expire_at"] = document["expire_at"]
            if (await coll.replace_one(document, replacement)).matched_count:
                return changed
        raise StoreUnavailableError(
            f"record {item_id!r} changed {MAX_UPDATE_TRIES} times in a row while being updated",
            backend="mongodb",
            operation="update",
        )

    def query(
        self, chosen: Filters, *, since: float | None, until: float | None, now: float | None
    ) -> dict[str, Any]:
        """The MongoDB filter for ``chosen`` filters, a time window, and liveness at ``now``."""
        query: dict[str, Any] = dict(chosen)
        window: dict[str, float] = {}
        if since is not None:
            window["$gte"] = since
        if until is not None:
            window["$lte"] = until
        if window:
            query[self.spec.time_field] = window
        if now is not None:
            query.update(self._live(now))
        return query

    def _live(self, now: float) -> dict[str, Any]:
        return {} if self.retention is None else {"expire_at": {"$gt": utc(now)}}
