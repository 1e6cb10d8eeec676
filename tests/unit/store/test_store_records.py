"""Store records on their own: they refuse bad values by field name, copy and normalize
their JSON payloads, and survive every document round trip a backend makes."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from outlast.errors import ErrorSeverity
from outlast.store import (
    Alert,
    AlertStatus,
    ClaimStatus,
    DeadLetter,
    ErrorEvent,
    IdempotencyClaim,
    IdempotencyRecord,
    IdempotencyState,
    InvalidRecordError,
    RecoveryAttempt,
    ScheduledRetry,
    Snapshot,
)
from outlast.store._records import merge_alert, resolved_alert
from outlast.store.mongo._mongo_codec import from_mongo, to_mongo

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


def letter(**overrides: Any) -> DeadLetter:
    """A valid dead letter with ``overrides``."""
    values: dict[str, Any] = {
        "task_name": "t",
        "error_type": "E",
        "error_message": "m",
        "failed_at": 10.0,
    }
    return DeadLetter(**(values | overrides))


@given(args=st.lists(JSON, max_size=4), kwargs=st.dictionaries(st.text(max_size=8), JSON))
def test_any_json_payload_survives_every_round_trip(
    args: list[Any], kwargs: dict[str, Any]
) -> None:
    """Any plain-JSON arguments come back equal from the document form, from JSON text (the
    Redis form) and from a MongoDB document."""
    record = letter(args=args, kwargs=kwargs)
    assert DeadLetter.from_document(record.to_document()) == record
    assert DeadLetter.from_document(json.loads(json.dumps(record.to_document()))) == record
    assert from_mongo(DeadLetter, to_mongo(record)) == record


def test_payloads_are_copied_and_tuples_become_lists() -> None:
    """A record keeps its own copy of the caller's arguments; tuples are stored as lists."""
    kwargs: dict[str, Any] = {"items": (1, 2)}
    record = letter(args=("a", ("b",)), kwargs=kwargs)
    kwargs["items"] = "changed"
    assert record.args == ["a", ["b"]]
    assert record.kwargs == {"items": [1, 2]}


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: letter(failed_at=True), r"DeadLetter\.failed_at: must be epoch seconds"),
        (lambda: letter(failed_at=-1), r"DeadLetter\.failed_at: must be finite and >= 0"),
        (
            lambda: letter(first_attempt_at=20.0),
            r"DeadLetter\.failed_at: must not be before first_attempt_at",
        ),
        (lambda: letter(id=""), r"DeadLetter\.id: must not be empty"),
        (lambda: letter(kwargs=[1]), r"DeadLetter\.kwargs: must be a dict, got list"),
        (lambda: letter(args=[object()]), r"DeadLetter\.args\[0\]: object is not JSON"),
        (lambda: letter(args=[math.inf]), r"DeadLetter\.args\[0\]: inf is not valid JSON"),
        (
            lambda: ErrorEvent(
                error_type="E",
                message="",
                severity="urgent",  # type: ignore[arg-type]
                occurred_at=1.0,
                operation="o",
            ),
            r"ErrorEvent\.severity: must be one of 'low', 'medium', 'high', 'critical'",
        ),
        (
            lambda: RecoveryAttempt(
                service="db", strategy="s", started_at=5.0, finished_at=4.0, successful=True
            ),
            r"RecoveryAttempt\.finished_at: must not be before started_at",
        ),
        (
            lambda: RecoveryAttempt(
                service="db",
                strategy="s",
                started_at=5.0,
                finished_at=5.0,
                successful="yes",  # type: ignore[arg-type]
            ),
            r"RecoveryAttempt\.successful: must be a bool",
        ),
        (
            lambda: Alert(
                alert_type="a",
                severity=ErrorSeverity.LOW,
                title="t",
                message="",
                created_at=1.0,
                updated_at=1.0,
                status=AlertStatus.RESOLVED,
            ),
            r"Alert\.resolved_at: must be set exactly when status is 'resolved'",
        ),
        (
            lambda: ScheduledRetry(task_name="t", due_at=1.0, scheduled_at=1.0, attempts=1.5),  # type: ignore[arg-type]
            r"ScheduledRetry\.attempts: must be an integer, got float",
        ),
        (
            lambda: Snapshot(kind="k", taken_at=1.0, data={"x": b"bytes"}),
            r"Snapshot\.data\['x'\]: bytes is not JSON-serializable",
        ),
        (
            lambda: IdempotencyRecord(key="k", state=IdempotencyState.PENDING, claimed_at=1.0),
            r"IdempotencyRecord\.token: must be set on a pending claim",
        ),
        (
            lambda: IdempotencyClaim(key="k", status=ClaimStatus.ACQUIRED),
            r"IdempotencyClaim\.token: an acquired claim needs one",
        ),
    ],
)
def test_bad_values_are_refused_by_field(build: Any, message: str) -> None:
    """Every record refuses a bad value with an InvalidRecordError (a ValueError) that
    names the record and the field."""
    with pytest.raises(InvalidRecordError, match=message) as caught:
        build()
    assert isinstance(caught.value, ValueError)


def test_payload_nesting_is_bounded() -> None:
    """A payload nested deeper than 64 levels is refused instead of blowing the stack."""
    deep: list[Any] = []
    for _ in range(100):
        deep = [deep]
    with pytest.raises(InvalidRecordError, match="nests deeper than 64 levels"):
        letter(args=deep)


def test_documents_missing_a_field_are_refused() -> None:
    """A stored document without a required field fails loudly, naming the field; fields a
    backend added are ignored."""
    document = letter(id="x").to_document()
    assert DeadLetter.from_document(document | {"expire_at": 1}) == letter(id="x")
    del document["task_name"]
    with pytest.raises(InvalidRecordError, match=r"DeadLetter\.task_name: missing"):
        DeadLetter.from_document(document)


def test_enums_are_stored_by_value() -> None:
    """Documents hold enum values, and records accept them back."""
    event = ErrorEvent(
        error_type="E", message="m", severity=ErrorSeverity.HIGH, occurred_at=1.0, operation="o"
    )
    assert event.to_document()["severity"] == "high"
    assert ErrorEvent.from_document(event.to_document()).severity is ErrorSeverity.HIGH


def test_only_active_alerts_can_be_raised() -> None:
    """Raising a resolved alert is refused: resolution goes through resolve_alert."""
    raised = Alert(
        alert_type="a",
        severity=ErrorSeverity.LOW,
        title="t",
        message="",
        created_at=1.0,
        updated_at=1.0,
    )
    with pytest.raises(InvalidRecordError, match=r"Alert\.status: only an active alert"):
        merge_alert(None, resolved_alert(raised, at=2.0))


def test_resolution_never_precedes_the_last_update() -> None:
    """Resolving at a time before the alert's last update resolves it at that update."""
    raised = Alert(
        alert_type="a",
        severity=ErrorSeverity.LOW,
        title="t",
        message="",
        created_at=1.0,
        updated_at=5.0,
    )
    assert resolved_alert(raised, at=3.0).resolved_at == 5.0
