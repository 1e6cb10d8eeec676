"""The keys and arguments of one ``PUT_MANY_INDEXED`` call: a chunk of records in a handful
of arguments.

redis-py packs every argument in Python, so a chunk goes as a few large arguments rather
than several per record: the documents end to end, and one line per record with its score,
TTL, index positions and document length (documents are JSON with ASCII escapes, so their
length in characters is their length in bytes). Each record's id is the end of its item
key, which the script reads back. Records of a chunk mostly share their filter values, so
their index positions are worked out once per distinct set of values; the script adds the
members of each index in a few large ``ZADD`` calls. The documents are exactly those a
single put stores.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

from outlast.store._collections import Collection, Filters
from outlast.store._document import Record

__all__ = ["BatchTimeline", "put_many_call"]

R = TypeVar("R", bound=Record)


class BatchTimeline(Protocol[R]):
    """What a batch needs from the timeline it writes to."""

    spec: Collection[R]
    retention: float | None

    def item_key(self, item_id: str) -> str: ...

    def filter_values(self, record: R) -> Filters: ...

    def index_keys_for(self, present: Filters) -> tuple[str, ...]: ...


def put_many_call(
    timeline: BatchTimeline[R],
    records: Sequence[R],
    *,
    now: float,
    encode: Callable[[R], str],
) -> tuple[list[str], list[str | int]] | None:
    """The script's keys and arguments for ``records`` (``encode`` gives a record's stored
    document); None when every record is already past retention."""
    retention = timeline.retention
    time_of = operator.attrgetter(timeline.spec.time_field)
    fields = timeline.spec.filter_fields
    filters_of: Callable[[R], Any] = operator.attrgetter(*fields) if fields else lambda _record: ()
    item_prefix = timeline.item_key("")
    indexes: dict[str, int] = {}
    positions_of: dict[Any, str] = {}
    items: list[str] = []
    documents: list[str] = []
    lines: list[str] = []
    for record in records:
        score: float = time_of(record)
        expiry = 0
        if retention is not None:
            remaining = score + retention - now
            if remaining <= 0:
                continue  # already past retention: the policy says it is gone
            expiry = max(1, math.ceil(remaining * 1000))  # as ttl_ms
        filters = filters_of(record)
        positions = positions_of.get(filters)
        if positions is None:
            keys = timeline.index_keys_for(timeline.filter_values(record))
            positions = positions_of[filters] = ",".join(
                str(indexes.setdefault(key, len(indexes) + 1)) for key in keys
            )
        items.append(item_prefix + record.id)
        document = encode(record)
        documents.append(document)
        lines.append(f"{score!r} {expiry} {positions} {len(document)}\n")
    if not items:
        return None
    prune = "" if retention is None else repr(now - retention)
    skip = len(item_prefix.encode())
    return [*indexes, *items], [len(indexes), prune, skip, "".join(documents), "".join(lines)]
