"""The ``Store`` protocol: one async interface over every durable record Outlast keeps.

Backends (``RedisStore``, ``MongoStore``) pass one shared contract suite, so code written
against this protocol runs on either. Rules every backend keeps:

- Listings are newest first (scheduled retries: soonest first), ties broken by id in the
  same direction, and take ``limit``/``offset``; ``since``/``until`` are inclusive.
- Adding a dead letter, error event, recovery attempt or snapshot whose id is already
  stored keeps the first one and returns it, so a redelivered task that records the same
  failure twice stores it once. (A scheduled retry with a known id replaces the old entry;
  an alert merges into the active one.) ``update_alert`` changes one alert atomically:
  concurrent updates all apply, none overwrites another.
- Events, recovery attempts, snapshots and resolved alerts expire after the store's
  retention (the ``purge_*`` methods delete them sooner, for monitoring's prune); dead
  letters and scheduled retries never expire; a completed idempotency key expires after
  the idempotency retention and a pending claim after its lease.
- Every backend failure surfaces as ``StoreUnavailableError``; bad records and arguments as
  ``InvalidRecordError`` (a ``ValueError``), before anything is written.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

from outlast.errors import ErrorSeverity
from outlast.store._idempotency import IdempotencyClaim, IdempotencyRecord
from outlast.store._records import (
    Alert,
    AlertStatus,
    DeadLetter,
    ErrorEvent,
    RecoveryAttempt,
    ScheduledRetry,
    Snapshot,
)

__all__ = ["Store"]


@runtime_checkable
class Store(Protocol):
    """Durable storage for the worker system (see the module docstring for the rules)."""

    # -- dead letters ---------------------------------------------------------------------

    async def add_dead_letter(self, letter: DeadLetter) -> DeadLetter:
        """Store ``letter``; returns what is stored (the earlier one if the id existed)."""
        ...

    async def get_dead_letter(self, letter_id: str) -> DeadLetter | None:
        """The dead letter with this id, or None."""
        ...

    async def list_dead_letters(
        self, *, task_name: str | None = None, limit: int = 100, offset: int = 0
    ) -> list[DeadLetter]:
        """Dead letters, most recently failed first, optionally of one task."""
        ...

    async def count_dead_letters(self, *, task_name: str | None = None) -> int:
        """How many dead letters there are (of one task, if given)."""
        ...

    async def delete_dead_letter(self, letter_id: str) -> bool:
        """Delete one dead letter; False if there was none."""
        ...

    async def purge_dead_letters(
        self, *, task_name: str | None = None, before: float | None = None
    ) -> int:
        """Delete dead letters (of one task; failed at or before ``before``); the count."""
        ...

    async def mark_dead_letter_replayed(
        self, letter_id: str, *, replay_task_id: str | None = None, at: float | None = None
    ) -> DeadLetter | None:
        """Record one replay of a dead letter (now, unless ``at``); None if it is gone."""
        ...

    # -- idempotency ----------------------------------------------------------------------

    async def claim_idempotency(self, key: str, *, lease: float) -> IdempotencyClaim:
        """Claim ``key`` for ``lease`` seconds; exactly one of racing claimers acquires it."""
        ...

    async def complete_idempotency(self, key: str, token: str, result: Any = None) -> bool:
        """Record ``result`` for a claim held with ``token``; False if the claim was lost."""
        ...

    async def renew_idempotency(self, key: str, token: str, *, lease: float) -> bool:
        """Extend a claim held with ``token`` to ``lease`` seconds from now, while its work
        runs; False if the claim was lost (completed, released, or taken over)."""
        ...

    async def release_idempotency(self, key: str, token: str) -> bool:
        """Give up a claim held with ``token`` so the work can be claimed again."""
        ...

    async def get_idempotency(self, key: str) -> IdempotencyRecord | None:
        """What is stored for ``key`` (a pending claim, even a lapsed one, or a result)."""
        ...

    # -- retry schedule -------------------------------------------------------------------

    async def schedule_retry(self, retry: ScheduledRetry) -> ScheduledRetry:
        """Park ``retry`` until its ``due_at``; replaces an entry with the same id."""
        ...

    async def take_due_retries(
        self, *, now: float | None = None, limit: int = 100, lease: float | None = None
    ) -> list[ScheduledRetry]:
        """Hand out up to ``limit`` retries due at ``now``, each to exactly one caller.

        Without ``lease`` a taken retry leaves the schedule. With ``lease`` it stays, due
        again ``lease`` seconds later, until the taker confirms with ``cancel_retry`` (so a
        taker that dies before re-enqueueing loses nothing).
        """
        ...

    async def list_scheduled_retries(
        self, *, limit: int = 100, offset: int = 0
    ) -> list[ScheduledRetry]:
        """Scheduled retries, soonest due first (``due_at`` as it stands now)."""
        ...

    async def count_scheduled_retries(self, *, due_before: float | None = None) -> int:
        """How many retries are scheduled (due at or before ``due_before``, if given)."""
        ...

    async def cancel_retry(self, retry_id: str) -> bool:
        """Remove a scheduled retry; False if it was not scheduled."""
        ...

    # -- error events ---------------------------------------------------------------------

    async def record_error_event(self, event: ErrorEvent) -> ErrorEvent:
        """Store ``event`` until it is older than the retention."""
        ...

    async def record_error_events(self, events: Sequence[ErrorEvent]) -> int:
        """Store many events as ``record_error_event`` stores each, in one round trip (one
        Redis pipeline, one MongoDB ``insert_many``); how many were new. Raises before
        writing anything if one of them is not an ``ErrorEvent``."""
        ...

    async def purge_error_events(self, *, before: float) -> int:
        """Delete every error event that occurred at or before ``before``; how many."""
        ...

    async def list_error_events(
        self,
        *,
        since: float | None = None,
        until: float | None = None,
        severity: ErrorSeverity | None = None,
        fingerprint: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[ErrorEvent]:
        """Error events, newest first, filtered by time, severity and fingerprint."""
        ...

    async def count_error_events(
        self,
        *,
        since: float | None = None,
        until: float | None = None,
        severity: ErrorSeverity | None = None,
        fingerprint: str | None = None,
    ) -> int:
        """How many error events match the same filters as ``list_error_events``."""
        ...

    # -- recovery attempts ----------------------------------------------------------------

    async def record_recovery_attempt(self, attempt: RecoveryAttempt) -> RecoveryAttempt:
        """Store ``attempt`` until it is older than the retention."""
        ...

    async def list_recovery_attempts(
        self,
        *,
        service: str | None = None,
        successful: bool | None = None,
        since: float | None = None,
        until: float | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[RecoveryAttempt]:
        """Recovery attempts, most recently started first."""
        ...

    async def count_recovery_attempts(
        self,
        *,
        service: str | None = None,
        successful: bool | None = None,
        since: float | None = None,
        until: float | None = None,
    ) -> int:
        """How many recovery attempts match (for success rates)."""
        ...

    # -- alerts ---------------------------------------------------------------------------

    async def upsert_alert(self, alert: Alert) -> Alert:
        """Raise ``alert``: merged into an active alert with its id, else stored afresh."""
        ...

    async def get_alert(self, alert_id: str) -> Alert | None:
        """The alert with this id, active or resolved (until it expires), or None."""
        ...

    async def list_alerts(
        self, *, status: AlertStatus = AlertStatus.ACTIVE, limit: int = 100, offset: int = 0
    ) -> list[Alert]:
        """Active alerts by last update, or resolved ones by resolution; newest first."""
        ...

    async def resolve_alert(self, alert_id: str, *, at: float | None = None) -> Alert | None:
        """Resolve an alert (now, unless ``at``); None if there is no such alert."""
        ...

    async def update_alert(self, alert_id: str, change: Callable[[Alert], Alert]) -> Alert | None:
        """Store ``change(stored alert)`` atomically (``change`` may run more than once, so it
        must be pure); None if there is no such alert. The id must stay and a resolved alert
        cannot become active again."""
        ...

    async def purge_resolved_alerts(self, *, before: float) -> int:
        """Delete every alert resolved at or before ``before`` (never an active one); how
        many."""
        ...

    # -- snapshots ------------------------------------------------------------------------

    async def put_snapshot(self, snapshot: Snapshot) -> Snapshot:
        """Store ``snapshot`` until it is older than the retention."""
        ...

    async def latest_snapshot(self, kind: str) -> Snapshot | None:
        """The most recently taken snapshot of ``kind``, or None."""
        ...

    async def list_snapshots(
        self,
        *,
        kind: str | None = None,
        since: float | None = None,
        until: float | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[Snapshot]:
        """Snapshots, most recently taken first."""
        ...

    async def purge_snapshots(self, *, before: float, kind: str | None = None) -> int:
        """Delete every snapshot (of ``kind``, if given) taken at or before ``before``; how
        many."""
        ...

    # -- lifecycle ------------------------------------------------------------------------

    async def ping(self) -> None:
        """Return if the backend answers; raise ``StoreUnavailableError`` if not."""
        ...

    async def close(self) -> None:
        """Release the connections the store opened (not ones it was given)."""
        ...
