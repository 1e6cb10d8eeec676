"""The document form shared by every store record: a JSON-friendly dict of its fields.

Timestamps are float epoch seconds everywhere; enums are stored by value. ``from_document``
accepts exactly what ``to_document`` produced (extra keys a backend added, such as an
expiry date, are ignored), and runs the record's own checks again, so a corrupt stored
document fails loudly by field name instead of turning into a half-valid record.
"""

from __future__ import annotations

import enum
import operator
import typing
import uuid
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, fields
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
        shape = _shape(type(self))
        document = dict(zip(shape.names, shape.values(self), strict=True))
        for name in shape.enums:
            document[name] = _plain(document[name])
        if _PLAIN_TYPES.issuperset(map(type, document.values())):
            return document
        return {name: _plain(value) for name, value in document.items()}  # an enum elsewhere

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


@dataclass(frozen=True, slots=True)
class _Shape:
    """How to read a record class's fields at once (worked out once per class: records
    are many)."""

    names: tuple[str, ...]
    values: Callable[[object], tuple[Any, ...]]
    enums: tuple[str, ...]
    """Fields declared as enums, stored by value."""


def _shape(cls: type) -> _Shape:
    shape = _SHAPES.get(cls)
    if shape is None:
        names = tuple(spec.name for spec in fields(cls))
        getter = operator.attrgetter(*names)
        values = getter if len(names) > 1 else lambda record: (getter(record),)
        shape = _SHAPES[cls] = _Shape(names, values, _enum_fields(cls, names))
    return shape


def _enum_fields(cls: type, names: tuple[str, ...]) -> tuple[str, ...]:
    """The fields of ``cls`` annotated with an enum class (none if its hints cannot be read:
    ``to_document`` then finds them value by value)."""
    try:
        hints = typing.get_type_hints(cls)
    except (NameError, TypeError):
        return ()
    return tuple(
        name
        for name in names
        if isinstance(hints.get(name), type) and issubclass(hints[name], enum.Enum)
    )


_SHAPES: dict[type, _Shape] = {}
#: Types stored as they are (an enum anywhere else is stored by value).
_PLAIN_TYPES: frozenset[type] = frozenset({str, int, float, bool, type(None), list, dict})


def _plain(value: object) -> object:
    return value.value if isinstance(value, enum.Enum) else value


class Record(Document):
    """A document with an ``id`` (every stored record except idempotency state)."""

    __slots__ = ()

    id: str
