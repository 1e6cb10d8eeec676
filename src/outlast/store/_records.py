"""The records of the worker system: dead letters and scheduled retries (idempotency
state lives in ``_idempotency``; monitoring records in ``_monitoring_records``).

Every record is a frozen, keyword-only dataclass that checks itself on construction and
names the failing field (:class:`InvalidRecordError`); a record that exists is storable by
every backend. Timestamps are float epoch seconds, read by the caller from its ``Clock``.
Payload fields (``args``, ``kwargs``, ``context``, ``details``, ``data``) must be plain JSON
and are copied on construction, so later changes to the caller's objects do not leak in.
Identifiers (names, ids, types) must be valid text; free diagnostic text (messages,
tracebacks) has lone surrogates escaped instead, so an odd error never loses its record.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from outlast.store._document import Record, new_id
from outlast.store._errors import InvalidRecordError
from outlast.store._fields import (
    check_count,
    check_json,
    check_json_object,
    check_optional_text,
    check_optional_timestamp,
    check_order,
    check_record_id,
    check_text,
    check_timestamp,
    set_fields,
    storable_text,
)
from outlast.store._monitoring_records import (
    Alert,
    AlertStatus,
    ErrorEvent,
    RecoveryAttempt,
    Snapshot,
    changed_alert,
    merge_alert,
    resolved_alert,
)

__all__ = [
    "Alert",
    "AlertStatus",
    "DeadLetter",
    "ErrorEvent",
    "RecoveryAttempt",
    "ScheduledRetry",
    "Snapshot",
    "changed_alert",
    "merge_alert",
    "resolved_alert",
]


def _check_args(record: DeadLetter | ScheduledRetry) -> None:
    """Check and copy a task's ``args`` (a list; tuples accepted) and ``kwargs``."""
    name = type(record).__name__
    if not isinstance(record.args, list | tuple):
        raise InvalidRecordError(name, "args", f"must be a list, got {type(record.args).__name__}")
    set_fields(
        record,
        args=check_json(name, "args", record.args),
        kwargs=check_json_object(name, "kwargs", record.kwargs),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class DeadLetter(Record):
    """A task that will not be retried again: what ran, how it failed, and its replays.

    ``reason`` says why it was given up (e.g. "exhausted", "non_retryable", "poison",
    "timeout" for work a time limit cut short, "worker_lost" for work whose worker process
    died at each of its last starts);
    ``attempts`` counts the attempts made; ``first_attempt_at`` (if known) and ``failed_at``
    bracket them. ``replay_count``/``replayed_at``/``replay_task_id`` are set by
    ``Store.mark_dead_letter_replayed``. Pass a stable ``id`` (for example derived from the
    task id) to make adding the same failure twice a no-op.
    """

    json_fields = ("args", "kwargs")

    task_name: str
    error_type: str
    error_message: str
    failed_at: float
    args: Any = field(default_factory=list)
    kwargs: Any = field(default_factory=dict)
    traceback: str = ""
    reason: str = ""
    attempts: int = 1
    first_attempt_at: float | None = None
    task_id: str | None = None
    queue: str | None = None
    idempotency_key: str | None = None
    replay_count: int = 0
    replayed_at: float | None = None
    replay_task_id: str | None = None
    id: str = field(default_factory=new_id)

    def __post_init__(self) -> None:
        name = "DeadLetter"
        check_record_id(self)
        check_text(name, "task_name", self.task_name)
        check_text(name, "error_type", self.error_type)
        check_text(name, "reason", self.reason, empty=True)
        _check_args(self)
        check_count(name, "attempts", self.attempts)
        check_count(name, "replay_count", self.replay_count)
        for text in ("task_id", "queue", "idempotency_key", "replay_task_id"):
            check_optional_text(name, text, getattr(self, text))
        set_fields(
            self,
            error_message=storable_text(name, "error_message", self.error_message),
            traceback=storable_text(name, "traceback", self.traceback),
            failed_at=check_timestamp(name, "failed_at", self.failed_at),
            first_attempt_at=check_optional_timestamp(
                name, "first_attempt_at", self.first_attempt_at
            ),
            replayed_at=check_optional_timestamp(name, "replayed_at", self.replayed_at),
        )
        check_order(name, "first_attempt_at", self.first_attempt_at, "failed_at", self.failed_at)

    def replayed(self, *, at: float, replay_task_id: str | None = None) -> DeadLetter:
        """This letter after one more replay at ``at`` (as the task ``replay_task_id``)."""
        return replace(
            self, replay_count=self.replay_count + 1, replayed_at=at, replay_task_id=replay_task_id
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class ScheduledRetry(Record):
    """A task parked until ``due_at`` because its retry delay is too long for the broker.

    ``attempts`` is the number of attempts already made; ``scheduled_at`` is when it was
    parked. Scheduling the same ``id`` again replaces the entry.
    """

    json_fields = ("args", "kwargs")

    task_name: str
    due_at: float
    scheduled_at: float
    args: Any = field(default_factory=list)
    kwargs: Any = field(default_factory=dict)
    attempts: int = 0
    queue: str | None = None
    task_id: str | None = None
    idempotency_key: str | None = None
    reason: str = ""
    id: str = field(default_factory=new_id)

    def __post_init__(self) -> None:
        name = "ScheduledRetry"
        check_record_id(self)
        check_text(name, "task_name", self.task_name)
        check_text(name, "reason", self.reason, empty=True)
        _check_args(self)
        check_count(name, "attempts", self.attempts)
        for text in ("queue", "task_id", "idempotency_key"):
            check_optional_text(name, text, getattr(self, text))
        set_fields(
            self,
            due_at=check_timestamp(name, "due_at", self.due_at),
            scheduled_at=check_timestamp(name, "scheduled_at", self.scheduled_at),
        )
