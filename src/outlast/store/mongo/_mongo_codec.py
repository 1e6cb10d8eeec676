"""Records as MongoDB documents, and back.

A record's ``id`` becomes ``_id``; its JSON payload fields (``json_fields``) are stored as
JSON text, because BSON refuses some valid JSON (keys starting with ``$``, integers beyond
64 bits) and the two backends must accept the same records. Scalar fields stay native, so
they can be indexed and queried. ``expire_at`` (a UTC datetime, the only kind of value a
TTL index understands) is added for records that expire and dropped again on the way back.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, TypeVar

from outlast.store._document import Record

__all__ = ["INTERNAL_FIELDS", "from_mongo", "payload_text", "to_mongo", "utc"]

R = TypeVar("R", bound=Record)

#: Fields a backend adds to a document; never part of a record.
INTERNAL_FIELDS = frozenset({"_id", "expire_at", "_rev"})


def utc(seconds: float) -> datetime:
    """Epoch seconds as an aware UTC datetime (for TTL indexes and expiry filters)."""
    return datetime.fromtimestamp(seconds, UTC)


def payload_text(value: Any) -> str:
    """A JSON payload as the text MongoDB stores."""
    return json.dumps(value, separators=(",", ":"), allow_nan=False)


def to_mongo(record: Record, *, expire_at: float | None = None) -> dict[str, Any]:
    """The MongoDB document of ``record``."""
    document = record.to_document()
    for name in record.json_fields:
        document[name] = payload_text(document[name])
    document["_id"] = document.pop("id")
    if expire_at is not None:
        document["expire_at"] = utc(expire_at)
    return document


def from_mongo(kind: type[R], document: dict[str, Any]) -> R:
    """The record stored as ``document``."""
    values = {name: value for name, value in document.items() if name not in INTERNAL_FIELDS}
    values["id"] = document["_id"]
    for name in kind.json_fields:
        if name in values:  # a field added later is absent from older documents
            values[name] = json.loads(values[name])
    return kind.from_document(values)
