"""Checks shared by the store's records: text, timestamps, counts, flags, ids and JSON
payloads, plus ``set_fields`` for normalizing a frozen record in ``__post_init__``.

Each check names the record and field it failed on (:class:`InvalidRecordError`), so a bad
record is refused before it reaches a backend, never stored half-right. JSON payloads
(task arguments, results, context) must be plain JSON: ``None``, ``bool``, ``int``, finite
``float``, ``str``, lists and ``str``-keyed dicts. Tuples become lists (as they would in any
JSON round trip); anything else is refused, never stringified or dropped.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, TypeAlias

from outlast.store._errors import InvalidRecordError

__all__ = [
    "JSONValue",
    "check_count",
    "check_flag",
    "check_json",
    "check_json_object",
    "check_optional_text",
    "check_optional_timestamp",
    "check_order",
    "check_record_id",
    "check_text",
    "check_timestamp",
    "json_path",
    "set_fields",
    "storable_text",
]

JSONValue: TypeAlias = bool | int | float | str | list["JSONValue"] | dict[str, "JSONValue"] | None

#: Deeper payloads are refused: they would exhaust the recursion limit somewhere downstream.
MAX_JSON_DEPTH = 64
MAX_ID_LENGTH = 512


def check_text(
    record: str, field: str, value: object, *, empty: bool = False, max_length: int | None = None
) -> str:
    """``value`` if it is a string (non-empty unless ``empty``) that any backend can store."""
    if not isinstance(value, str):
        raise InvalidRecordError(record, field, f"must be a string, got {type(value).__name__}")
    if not value and not empty:
        raise InvalidRecordError(record, field, "must not be empty")
    if max_length is not None and len(value) > max_length:
        raise InvalidRecordError(record, field, f"must be at most {max_length} characters")
    _check_encodable(record, field, value)
    return value


def storable_text(record: str, field: str, value: object) -> str:
    """``value`` (free diagnostic text such as an error message or a traceback) made
    storable: lone surrogates are written as ``\\udXXX`` escapes, as Python's own error
    output does, because refusing the text would lose the record it explains."""
    if not isinstance(value, str):
        raise InvalidRecordError(record, field, f"must be a string, got {type(value).__name__}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    return value


def check_optional_text(record: str, field: str, value: object) -> str | None:
    """``value`` if it is None or a non-empty storable string."""
    return None if value is None else check_text(record, field, value)


def check_timestamp(record: str, field: str, value: object) -> float:
    """``value`` as float epoch seconds; must be a finite, non-negative number."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidRecordError(
            record, field, f"must be epoch seconds (a number), got {type(value).__name__}"
        )
    number = float(value)
    if not math.isfinite(number) or number < 0:
        raise InvalidRecordError(record, field, f"must be finite and >= 0, got {value!r}")
    return number


def check_optional_timestamp(record: str, field: str, value: object) -> float | None:
    """``value`` as float epoch seconds, or None."""
    return None if value is None else check_timestamp(record, field, value)


def check_count(record: str, field: str, value: object, *, minimum: int = 0) -> int:
    """``value`` if it is an int (not a bool) of at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidRecordError(record, field, f"must be an integer, got {type(value).__name__}")
    if value < minimum:
        raise InvalidRecordError(record, field, f"must be >= {minimum}, got {value}")
    return value


def check_json(record: str, field: str, value: object) -> JSONValue:
    """A detached, normalized copy of ``value`` if it is plain JSON (see the module doc)."""
    return _normalize(record, field, value, 0)


def check_json_object(record: str, field: str, value: object) -> dict[str, JSONValue]:
    """Like :func:`check_json`, for a value that must be a JSON object (a dict)."""
    if not isinstance(value, Mapping):
        raise InvalidRecordError(record, field, f"must be a dict, got {type(value).__name__}")
    normalized = _normalize(record, field, value, 0)
    assert isinstance(normalized, dict)
    return normalized


def json_path(field: str, key: object) -> str:
    """The path of an element inside a payload field, as shown in error messages."""
    return f"{field}[{key!r}]"


def _normalize(record: str, field: str, value: object, depth: int) -> JSONValue:
    if depth > MAX_JSON_DEPTH:
        raise InvalidRecordError(record, field, f"nests deeper than {MAX_JSON_DEPTH} levels")
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidRecordError(record, field, f"{value!r} is not valid JSON")
        return value
    if isinstance(value, list | tuple):
        return [
            _normalize(record, json_path(field, i), item, depth + 1) for i, item in enumerate(value)
        ]
    if isinstance(value, Mapping):
        return _normalize_mapping(record, field, value, depth)
    raise InvalidRecordError(
        record, field, f"{type(value).__name__} is not JSON-serializable; pass plain JSON values"
    )


def _normalize_mapping(
    record: str, field: str, value: Mapping[Any, Any], depth: int
) -> dict[str, JSONValue]:
    normalized: dict[str, JSONValue] = {}
    for key, item in value.items():
        if not isinstance(key, str):
            raise InvalidRecordError(
                record, field, f"key {key!r} is a {type(key).__name__}; JSON keys are strings"
            )
        normalized[key] = _normalize(record, json_path(field, key), item, depth + 1)
    return normalized


def _check_encodable(record: str, field: str, value: str) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidRecordError(
            record, field, "contains a lone surrogate; it cannot be stored as UTF-8"
        ) from None


def set_fields(record: object, **values: object) -> None:
    """Store normalized values on a frozen record during ``__post_init__``."""
    for name, value in values.items():
        object.__setattr__(record, name, value)


def check_record_id(record: Any) -> str:
    """The record's ``id`` if it is usable text (at most MAX_ID_LENGTH characters)."""
    return check_text(type(record).__name__, "id", record.id, max_length=MAX_ID_LENGTH)


def check_order(record: str, earlier: str, first: float | None, later: str, second: float) -> None:
    """Refuse ``second`` (field ``later``) when it is before ``first`` (field ``earlier``)."""
    if first is not None and second < first:
        raise InvalidRecordError(record, later, f"must not be before {earlier}")


def check_flag(record: str, field_name: str, value: object) -> bool:
    """``value`` if it is a bool."""
    if not isinstance(value, bool):
        raise InvalidRecordError(record, field_name, f"must be a bool, got {type(value).__name__}")
    return value
