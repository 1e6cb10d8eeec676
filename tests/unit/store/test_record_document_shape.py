"""``to_document`` reads a record's fields at once yet gives exactly the field-by-field
document: enums by value wherever they sit, every other value as it is, in field order."""

from __future__ import annotations

import dataclasses
import enum
import json
from typing import Any

from outlast.errors import ErrorSeverity
from outlast.store import (
    Alert,
    AlertStatus,
    DeadLetter,
    ErrorEvent,
    IdempotencyRecord,
    IdempotencyState,
    RecoveryAttempt,
    ScheduledRetry,
    Snapshot,
)
from outlast.store._document import Document


class Flavor(enum.StrEnum):
    SOUR = "sour"


class Level(enum.IntEnum):
    TWO = 2


def reference(record: Document) -> dict[str, Any]:
    """The document as one reads it field by field."""
    return {
        spec.name: (value.value if isinstance(value, enum.Enum) else value)
        for spec in dataclasses.fields(record)  # type: ignore[arg-type]
        for value in (getattr(record, spec.name),)
    }


def records() -> list[Document]:
    """One record of every kind, with enums, None, payloads and enum members in text and
    count fields (which the record checks accept: they are str and int)."""
    return [
        ErrorEvent(error_type="E", message="m", severity=ErrorSeverity.LOW, occurred_at=1.0,
                   operation=Flavor.SOUR, context={"k": [1, {"x": None}]}),
        Alert(alert_type="a", severity=ErrorSeverity.HIGH, title="t", message="m", created_at=1.0,
              updated_at=2.0, status=AlertStatus.RESOLVED, resolved_at=2.0,
              escalation_level=Level.TWO, labels={"l": "v"}),
        DeadLetter(task_name="t", error_type="E", error_message="m", failed_at=1.0,
                   args=(1, "a"), kwargs={"b": 2.5}),
        ScheduledRetry(task_name="t", due_at=5.0, scheduled_at=1.0, attempts=Level.TWO),
        RecoveryAttempt(service="s", strategy="x", started_at=1.0, finished_at=1.0,
                        successful=True),
        Snapshot(kind="k", taken_at=1.0, data={"n": 1}),
        IdempotencyRecord(key="k", state=IdempotencyState.COMPLETED, token="t",
                          completed_at=1.0, result=[1]),
    ]  # fmt: skip


def test_documents_equal_the_field_by_field_reading() -> None:
    """Every record kind's document equals the reference: same keys in the same order, the
    same values, enums (declared or not) replaced by their values."""
    for record in records():
        document = record.to_document()
        expected = reference(record)
        assert list(document) == list(expected)
        assert document == expected
        assert [type(v) for v in document.values()] == [type(v) for v in expected.values()]
        assert json.dumps(document) == json.dumps(expected)
