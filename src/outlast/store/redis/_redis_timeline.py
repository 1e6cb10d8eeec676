"""One kind of timestamped record in Redis: documents plus sorted-set indexes by time.

Layout under ``<prefix><collection>:``: ``item:<id>`` holds the JSON document (with a TTL
when retention applies); ``index:all`` and one ``index:<field>=<value>[&...]`` per subset of
the record's filter values are sorted sets of ids scored by the record's time, so every
filter combination is one range read and counts are exact (``ZCOUNT``). Records past
retention are excluded by score on every read, pruned from indexes on write, and their
documents expire by TTL; a read therefore never needs to write.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable, Sequence
from itertools import combinations
from typing import Any, Generic, TypeVar, cast
from urllib.parse import quote

from redis.asyncio.client import Pipeline

from outlast.store._collections import Collection, Filters, FilterValue
from outlast.store._document import Record
from outlast.store.redis._redis_batch import put_many_call
from outlast.store.redis._redis_client import Connection
from outlast.store.redis._redis_transact import transact

__all__ = ["RedisTimeline", "decode", "encode", "ttl_ms"]

R = TypeVar("R", bound=Record)

PURGE_BATCH = 500
_INDEX_CACHE_SIZE = 4096


def encode(document: dict[str, Any]) -> str:
    """Compact JSON, ASCII-only so any string (even a lone surrogate) survives."""
    return _ENCODER.encode(document)


#: What ``json.dumps(document, separators=(",", ":"), allow_nan=False)`` would make, without
#: building an encoder per call.
_ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=False)


def decode(kind: type[R], raw: str | bytes) -> R:
    """The record stored as ``raw``."""
    return kind.from_document(json.loads(raw))


def _encoded(record: Record) -> str:
    """The stored document of ``record``."""
    return encode(record.to_document())


def ttl_ms(seconds: float) -> int:
    """A Redis TTL in milliseconds, at least 1 (0 would mean "no TTL" to our scripts)."""
    return max(1, math.ceil(seconds * 1000))


@functools.lru_cache(maxsize=4096)  # filter values repeat (severities, fingerprints)
def _index_value(value: FilterValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return quote(value, safe="")


class RedisTimeline(Generic[R]):
    """Reads and writes one :class:`Collection` under a key prefix."""

    def __init__(self, spec: Collection[R], *, prefix: str, retention: float | None) -> None:
        self.spec = spec
        self.retention = retention if spec.expires else None
        self._base = f"{prefix}{spec.name}:"
        self._index_cache: dict[Filters, tuple[str, ...]] = {}

    # -- keys -----------------------------------------------------------------------------

    def item_key(self, item_id: str) -> str:
        """The key of one record's document."""
        return f"{self._base}item:{item_id}"

    def index_key(self, chosen: Filters) -> str:
        """The sorted set listing the records that match ``chosen`` filters."""
        if not chosen:
            return f"{self._base}index:all"
        return f"{self._base}index:" + "&".join(f"{n}={_index_value(v)}" for n, v in chosen)

    def index_keys(self, record: R) -> list[str]:
        """Every index ``record`` belongs to: one per subset of its filter values."""
        return self._index_keys_of(record.to_document())

    def filter_values(self, record: R) -> Filters:
        """The record's filter values as its document holds them (None left out), sorted
        by name."""
        return self._present(record.to_document())

    def _index_keys_of(self, document: dict[str, Any]) -> list[str]:
        return list(self.index_keys_for(self._present(document)))

    def _present(self, document: dict[str, Any]) -> Filters:
        return tuple(
            sorted(
                (name, document[name])
                for name in self.spec.filter_fields
                if document[name] is not None
            )
        )

    def index_keys_for(self, present: Filters) -> tuple[str, ...]:
        """The index keys of a record with filter values ``present`` (cached per instance:
        records of a batch mostly share them)."""
        found = self._index_cache.get(present)
        if found is None:
            if len(self._index_cache) >= _INDEX_CACHE_SIZE:
                self._index_cache.clear()
            found = self._index_cache[present] = tuple(
                self.index_key(tuple(subset))
                for size in range(len(present) + 1)
                for subset in combinations(present, size)
            )
        return found

    # -- operations -----------------------------------------------------------------------

    async def put(self, conn: Connection, record: R, *, now: float) -> R:
        """Store ``record`` unless its id exists (then return the stored one)."""
        planned = self._put_call(record, now=now)
        if planned is None:
            return record  # already past retention: the policy says it is gone
        existing = await conn.put_indexed(keys=planned[0], args=list(planned[1]))
        return record if existing is None else decode(self.spec.record, existing)

    async def put_many(self, conn: Connection, records: Sequence[R], *, now: float) -> int:
        """Store each record as :meth:`put` does, in one script call (each distinct index
        is checked, pruned and extended once); how many were new."""
        planned = put_many_call(self, records, now=now, encode=_encoded)
        if planned is None:
            return 0
        return int(await conn.put_many_indexed(keys=planned[0], args=planned[1]))

    def _put_call(
        self, record: R, *, now: float
    ) -> tuple[list[str], tuple[str, str, str, int, str]] | None:
        """The keys and arguments of the put script for ``record``; None if it is already
        past retention."""
        score: float = getattr(record, self.spec.time_field)
        expiry, prune = 0, ""
        if self.retention is not None:
            remaining = score + self.retention - now
            if remaining <= 0:
                return None
            expiry, prune = ttl_ms(remaining), repr(now - self.retention)
        document = record.to_document()
        keys = [self.item_key(record.id), *self._index_keys_of(document)]
        return keys, (record.id, encode(document), repr(score), expiry, prune)

    async def get(self, conn: Connection, item_id: str, *, now: float) -> R | None:
        """The record with ``item_id``, or None (also when it is past retention)."""
        record = await self._read(conn, item_id)
        if record is None or self.retention is None:
            return record
        alive = getattr(record, self.spec.time_field) + self.retention > now
        return record if alive else None

    async def find(
        self,
        conn: Connection,
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
            return []
        high = "+inf" if until is None else repr(until)
        ids = cast(
            list[str],
            await conn.client.zrevrangebyscore(
                self.index_key(chosen), high, self._low(since, now), start=offset, num=limit
            ),
        )
        return await self._load(conn, ids)

    async def count(
        self,
        conn: Connection,
        chosen: Filters,
        *,
        since: float | None,
        until: float | None,
        now: float,
    ) -> int:
        """How many records match."""
        high = "+inf" if until is None else repr(until)
        return int(await conn.client.zcount(self.index_key(chosen), self._low(since, now), high))

    async def delete(self, conn: Connection, item_id: str) -> bool:
        """Delete one record and its index entries."""
        record = await self._read(conn, item_id)
        if record is None:
            return False
        keys = [self.item_key(item_id), *self.index_keys(record)]
        return bool(await conn.delete_indexed(keys=keys, args=[item_id]))

    async def purge(self, conn: Connection, chosen: Filters, *, before: float | None) -> int:
        """Delete every matching record with time at or before ``before``; the count."""
        index, high = self.index_key(chosen), "+inf" if before is None else repr(before)
        total = 0
        while ids := await conn.client.zrangebyscore(index, "-inf", high, start=0, num=PURGE_BATCH):
            total += await self._delete_batch(conn, index, cast(list[str], ids))
        return total

    async def update(self, conn: Connection, item_id: str, change: Callable[[R], R]) -> R | None:
        """Apply ``change`` to the stored record atomically (keeping its TTL)."""

        def plan(raw: str | None) -> tuple[R | None, Callable[[Pipeline], object] | None]:
            if raw is None:
                return None, None
            changed = change(decode(self.spec.record, raw))
            document = encode(changed.to_document())
            return changed, lambda pipe: pipe.set(self.item_key(item_id), document, keepttl=True)

        return await transact(conn.client, self.item_key(item_id), plan)

    # -- helpers --------------------------------------------------------------------------

    async def _read(self, conn: Connection, item_id: str) -> R | None:
        raw = await conn.client.get(self.item_key(item_id))
        return None if raw is None else decode(self.spec.record, raw)

    def _low(self, since: float | None, now: float) -> str:
        """The lowest score a read may return: ``since`` (inclusive) or the retention floor
        (exclusive: a record whose expiry equals now is gone)."""
        if self.retention is None:
            return "-inf" if since is None else repr(since)
        floor = now - self.retention
        if since is not None and since > floor:
            return repr(since)
        return f"({floor!r}"

    async def _load(self, conn: Connection, ids: list[str]) -> list[R]:
        if not ids:
            return []
        documents = await conn.client.mget([self.item_key(item_id) for item_id in ids])
        return [decode(self.spec.record, raw) for raw in documents if raw is not None]

    async def _delete_batch(self, conn: Connection, index: str, ids: list[str]) -> int:
        documents = await conn.client.mget([self.item_key(item_id) for item_id in ids])
        deletions: list[int] = []
        async with conn.client.pipeline(transaction=False) as pipe:
            for position, (item_id, raw) in enumerate(zip(ids, documents, strict=True)):
                if raw is None:
                    pipe.zrem(index, item_id)  # an entry whose document is gone
                    continue
                keys = [self.item_key(item_id), *self.index_keys(decode(self.spec.record, raw))]
                await conn.delete_indexed(keys=keys, args=[item_id], client=pipe)
                deletions.append(position)
            results = await pipe.execute()
        return sum(int(results[position]) for position in deletions)
