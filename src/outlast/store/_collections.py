"""What both backends agree on about each kind of timestamped record, and the query rules.

A :class:`Collection` names a record type, the timestamp it is ordered by, the fields it can
be filtered on, and whether the store's retention applies. The helpers here check listing
arguments and turn filters into one canonical form, so the two backends cannot drift.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from typing import Final, Generic, TypeVar

from outlast.errors import ConfigurationError
from outlast.store._document import Record
from outlast.store._errors import InvalidRecordError
from outlast.store._records import DeadLetter, ErrorEvent, RecoveryAttempt, Snapshot

__all__ = [
    "DEAD_LETTERS",
    "DEFAULT_EVENT_RETENTION",
    "DEFAULT_IDEMPOTENCY_RETENTION",
    "ERROR_EVENTS",
    "RECOVERY_ATTEMPTS",
    "SNAPSHOTS",
    "Collection",
    "FilterValue",
    "Filters",
    "check_instant",
    "check_namespace",
    "check_page",
    "check_retention",
    "check_window",
    "filters",
]

R = TypeVar("R", bound=Record)
FilterValue = str | bool
#: Filters in canonical form: (field, value) pairs sorted by field, None values left out.
Filters = tuple[tuple[str, FilterValue], ...]

MAX_PAGE = 10_000

#: How long events, recovery attempts, snapshots and resolved alerts are kept: 7 days.
DEFAULT_EVENT_RETENTION: Final = 7 * 24 * 3600.0
#: How long a completed idempotency key is kept: 7 days.
DEFAULT_IDEMPOTENCY_RETENTION: Final = 7 * 24 * 3600.0


@dataclass(frozen=True, slots=True)
class Collection(Generic[R]):
    """One kind of record ordered by ``time_field`` and filterable on ``filter_fields``."""

    name: str
    record: type[R]
    time_field: str
    filter_fields: tuple[str, ...]
    expires: bool


DEAD_LETTERS = Collection("dead_letters", DeadLetter, "failed_at", ("task_name",), False)
ERROR_EVENTS = Collection(
    "error_events", ErrorEvent, "occurred_at", ("fingerprint", "severity"), True
)
RECOVERY_ATTEMPTS = Collection(
    "recovery_attempts", RecoveryAttempt, "started_at", ("service", "successful"), True
)
SNAPSHOTS = Collection("snapshots", Snapshot, "taken_at", ("kind",), True)


def filters(**values: str | bool | enum.Enum | None) -> Filters:
    """The canonical form of the given filters (enums by value, None left out)."""
    pairs: list[tuple[str, FilterValue]] = []
    for name, value in values.items():
        if value is None:
            continue
        plain = value.value if isinstance(value, enum.Enum) else value
        if not isinstance(plain, str | bool):
            raise InvalidRecordError("filter", name, f"must be text, got {type(value).__name__}")
        pairs.append((name, plain))
    return tuple(sorted(pairs))


def check_instant(operation: str, name: str, value: float | None) -> float | None:
    """``value`` if it is None or usable epoch seconds (finite, not a bool)."""
    if value is not None and (
        isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value)
    ):
        raise InvalidRecordError(operation, name, f"must be epoch seconds, got {value!r}")
    return value


def check_page(operation: str, limit: int, offset: int) -> None:
    """Refuse a negative offset or a limit outside 0..MAX_PAGE."""
    for name, value, top in (("limit", limit, MAX_PAGE), ("offset", offset, None)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise InvalidRecordError(operation, name, f"must be an int >= 0, got {value!r}")
        if top is not None and value > top:
            raise InvalidRecordError(operation, name, f"must be at most {top}, got {value}")


def check_window(operation: str, since: float | None, until: float | None) -> None:
    """Refuse non-numeric bounds or ``since`` after ``until``."""
    check_instant(operation, "since", since)
    check_instant(operation, "until", until)
    if since is not None and until is not None and since > until:
        raise InvalidRecordError(operation, "since", f"{since} is after until={until}")


def check_retention(name: str, seconds: float) -> float:
    """``seconds`` if it is a positive, finite duration (a store setting, hence
    ConfigurationError)."""
    if (
        isinstance(seconds, bool)
        or not isinstance(seconds, int | float)
        or not 0 < seconds < math.inf
    ):
        raise ConfigurationError(f"store {name} must be a positive number of seconds: {seconds!r}")
    return float(seconds)


def check_namespace(namespace: str) -> str:
    """``namespace`` if it can name Redis keys and MongoDB collections unambiguously."""
    if (
        not isinstance(namespace, str)
        or not namespace
        or any(c in namespace for c in "{}:$ \t\n\0")
    ):
        raise ConfigurationError(
            "store namespace must be non-empty text without spaces or any of '{}:$': "
            f"{namespace!r}"
        )
    return namespace
