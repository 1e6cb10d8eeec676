"""The flusher's shortcuts change nothing: an event built from the parts cache equals one
built afresh, and a store record made without the record's checks equals the checked one
(an event that would fail the checks still goes through them)."""

from __future__ import annotations

import dataclasses
import math
from typing import cast

import pytest

from outlast.errors import ErrorContext
from outlast.monitoring._event import (
    MAX_CACHED_MESSAGE,
    PARTS_CACHE_SIZE,
    Capture,
    ErrorEventData,
    _cached_parts,
    _parts,
    build_event,
)
from outlast.monitoring._fingerprint import frames_of
from outlast.monitoring._store_writer import _FIELDS_KNOWN, record_of
from outlast.store import ErrorEvent
from outlast.store._errors import InvalidRecordError


def raised(message: str) -> ConnectionError:
    """A ConnectionError raised (so it has a traceback) with ``message``."""
    try:
        raise ConnectionError(message)
    except ConnectionError as error:
        return error


def event_of(
    error: BaseException, operation: str = "payments.charge", *,
    metadata: dict[str, object] | None = None, recovery_successful: object = None,
) -> ErrorEventData:  # fmt: skip
    """The event of ``error`` recorded under ``operation`` with ``metadata``."""
    context = ErrorContext(operation=operation, user_id="u1", request_id="r1",
                           metadata=dict(metadata or {}))  # fmt: skip
    return build_event(Capture(error=error, context=context, severity=None,
                               recovery_attempted=False,
                               recovery_successful=cast("bool | None", recovery_successful),
                               occurred_at=1_700_000_000.0))  # fmt: skip


def checked_record(event: ErrorEventData) -> ErrorEvent:
    """The record of ``event`` made through every check of ``ErrorEvent``."""
    return ErrorEvent(
        id=event.id, error_type=event.error_type, message=event.message,
        severity=event.severity, occurred_at=event.occurred_at, operation=event.operation,
        fingerprint=event.fingerprint, context=event.as_dict(),
        recovery_attempted=event.recovery_attempted,
        recovery_successful=event.recovery_successful,
    )  # fmt: skip


def test_a_repeated_error_builds_the_same_event_from_the_cache() -> None:
    """The same error at the same place gives equal events (ids aside), equal to what
    building the parts afresh gives; another operation is another fingerprint."""
    message = "login for bob@example.com failed, password=hunter2 at db1.example.com"
    first, again = (event_of(raised(message)) for _ in range(2))
    assert dataclasses.replace(again, id=first.id) == first
    error = raised(message)
    frames = frames_of(error.__traceback__)
    parts = _parts("builtins.ConnectionError", message, frames, "payments.charge")
    assert (first.message, first.normalized_message) == (parts.message, parts.normalized)
    assert "hunter2" not in first.message
    assert first.normalized_message == "login for <email> failed, password=[REDACTED] at <hostname>"
    assert event_of(raised(message), "orders.create").fingerprint != first.fingerprint


def test_a_long_message_is_built_without_the_cache_and_the_cache_stays_bounded() -> None:
    """A message past MAX_CACHED_MESSAGE is trimmed as always; distinct errors past the
    cache size leave it at its bound."""
    long = "x" * (MAX_CACHED_MESSAGE + 1)
    event = event_of(raised(long))
    assert event.message == "x" * 1000
    for index in range(PARTS_CACHE_SIZE + 10):
        event_of(raised(f"distinct error {index}"))
    assert _cached_parts.cache_info().currsize == PARTS_CACHE_SIZE


@pytest.mark.parametrize(
    "metadata",
    [{}, {"service": "billing", "attempt": 3, "ratio": 0.5, "flag": True, "note": None},
     {"card": "4111 1111 1111 1111", 7: "seven"}],
)  # fmt: skip
def test_a_sound_event_makes_the_record_the_checks_would(metadata: dict[object, object]) -> None:
    """The record made without checks equals the checked one, field by field and as the
    document the store writes."""
    event = event_of(raised("order 12 declined"), metadata={str(k): v for k, v in metadata.items()})
    assert _FIELDS_KNOWN  # else every record takes the checked path: update _store_writer
    record, checked = record_of(event), checked_record(event)
    assert record == checked
    assert record.to_document() == checked.to_document()
    assert type(record.context["traceback"]) is list


def test_an_unsound_event_goes_through_the_checks() -> None:
    """A lone surrogate is fingerprinted, and escaped as the checks escape it; a non-finite
    metadata number, a non-bool recovery flag or an empty operation is refused as the
    checks refuse it."""
    surrogate = event_of(raised("bad \udc80 byte"))
    assert len(surrogate.fingerprint) == 32  # built, not dropped
    assert record_of(surrogate).message == checked_record(surrogate).message
    assert record_of(surrogate).message.endswith("\\udc80 byte")
    for bad in (
        event_of(raised("x"), metadata={"ratio": math.nan}),
        event_of(raised("x"), recovery_successful=1),
        event_of(raised("x"), operation=""),
    ):
        with pytest.raises(InvalidRecordError):
            record_of(bad)
