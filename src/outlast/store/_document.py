"""The document form shared by every store record: a JSON-friendly dict of its fields.

Timestamps are float epoch seconds everywhere; enums are stored by value. ``from_document``
accepts exactly what ``to_document`` produced (extra keys a backend added, such as an
expiry date, are ignored), and runs the record's own checks again, so a corrupt stored
document fails loudly by field name instead of turning into a half-valid record.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Mapping
from dataclasses import MISSING, fields
from typing import Any, ClassVar, Self, TypeVar

from outlast.store._errors import InvalidRecordError

__all__ = ["Document", "Record", "check_enum", "new_id"]

E = TypeVar("E", bound=enum.Enum)


def new_id() -> str:
    """A fresh random record id (32 hex characters)."""
    return uuid.uuid4().hex


def check_enum(record: str, field: str, kind: type[E], value: object) -> E:
    """``value`` as a member of ``kind``; accepts the member or its stored value."""
    if isinstance(value, kind):
        return value
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(repr(member.value) for member in kind)
        raise InvalidRecordError(
            record, field, f"must be one of {allowed}, got {value!r}"
        ) from None


class Document:
    """Mixin for frozen record dataclasses: ``to_document`` and ``from_document``."""

    __slots__ = ()

    #: Fields that hold arbitrary JSON (arguments, results, context); backends that cannot
    #: store every JSON object natively keep these as JSON text.
    json_fields: ClassVar[tuple[str, ...]] = ()

    def to_document(self) -> dict[str, Any]:
        """The record as a JSON-friendly dict (enums by value, timestamps as floats)."""
        return {name: _plain(getattr(self, name)) for name in _field_names(type(self))}

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> Self:
        """The record a ``to_document`` dict describes; refuses one that lacks a field."""
        values: dict[str, Any] = {}
        for spec in fields(cls):  # type: ignore[arg-type]
            if spec.name in document:
                values[spec.name] = document[spec.name]
            elif spec.default is MISSING and spec.default_factory is MISSING:
                raise InvalidRecordError(cls.__name__, spec.name, "missing from the document")
        return cls(**values)


def _field_names(cls: type) -> tuple[str, ...]:
    """The dataclass fields of ``cls``, in order (read once per class: records are many)."""
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(spec.name for spec in fields(cls))
    return names


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _plain(value: object) -> object:
    return value.value if isinstance(value, enum.Enum) else value


class Record(Document):
    """A document with an ``id`` (every stored record except idempotency state)."""

    __slots__ = ()

    id: str
