"""The ``Store`` behaviour, written once: argument checks, defaults from the clock, and
dispatch to the backend's parts (``_parts``). ``RedisStore`` and ``MongoStore`` only build
their parts and say how to reach the backend (``_handle``) and how its errors translate.

Every public method is wrapped by ``translated``, so no driver error leaves it unmapped.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any

from outlast._clock import Clock
from outlast.errors import ErrorSeverity
from outlast.store._collections import check_instant, check_page, check_window, filters
from outlast.store._document import check_enum
from outlast.store._errors import InvalidRecordError, translated
from outlast.store._idempotency import IdempotencyClaim, IdempotencyRecord, check_lease
from outlast.store._parts import AlertsPart, IdempotencyPart, RetriesPart, TimelinePart
from outlast.store._records import (
    Alert,
    AlertStatus,
    DeadLetter,
    ErrorEvent,
    RecoveryAttempt,
    ScheduledRetry,
    Snapshot,
)

__all__ = ["StoreCore"]


class StoreCore:
    """The Store protocol over backend parts; subclasses set the parts and ``_clock``.

    Each public method is documented on :class:`~outlast.store.Store`.
    """

    _clock: Clock
    _dead_letters: TimelinePart[DeadLetter]
    _events: TimelinePart[ErrorEvent]
    _recoveries: TimelinePart[RecoveryAttempt]
    _snapshots: TimelinePart[Snapshot]
    _idempotency: IdempotencyPart
    _retries: RetriesPart
    _alerts: AlertsPart

    async def _handle(self, kind: str) -> Any:
        """What the parts of ``kind`` records are given to reach the backend."""
        raise NotImplementedError

    def translation(self, operation: str) -> AbstractContextManager[None]:
        """Where the backend's driver errors become StoreUnavailableError."""
        raise NotImplementedError

    def _now(self, at: float | None = None, name: str = "at") -> float:
        check_instant("Store", name, at)
        return self._clock.time() if at is None else at

    # -- dead letters ---------------------------------------------------------------------

    @translated
    async def add_dead_letter(self, letter: DeadLetter) -> DeadLetter:
        handle = await self._handle("dead_letters")
        return await self._dead_letters.put(handle, letter, now=self._now())

    @translated
    async def get_dead_letter(self, letter_id: str) -> DeadLetter | None:
        handle = await self._handle("dead_letters")
        return await self._dead_letters.get(handle, letter_id, now=self._now())

    @translated
    async def list_dead_letters(
        self, *, task_name: str | None = None, limit: int = 100, offset: int = 0
    ) -> list[DeadLetter]:
        check_page("list_dead_letters", limit, offset)
        chosen = filters(task_name=task_name)
        handle = await self._handle("dead_letters")
        return await self._dead_letters.find(
            handle, chosen, since=None, until=None, limit=limit, offset=offset, now=self._now()
        )

    @translated
    async def count_dead_letters(self, *, task_name: str | None = None) -> int:
        chosen = filters(task_name=task_name)
        handle = await self._handle("dead_letters")
        return await self._dead_letters.count(
            handle, chosen, since=None, until=None, now=self._now()
        )

    @translated
    async def delete_dead_letter(self, letter_id: str) -> bool:
        return await self._dead_letters.delete(await self._handle("dead_letters"), letter_id)

    @translated
    async def purge_dead_letters(
        self, *, task_name: str | None = None, before: float | None = None
    ) -> int:
        check_window("purge_dead_letters", None, before)
        chosen = filters(task_name=task_name)
        handle = await self._handle("dead_letters")
        return await self._dead_letters.purge(handle, chosen, before=before)

    @translated
    async def mark_dead_letter_replayed(
        self, letter_id: str, *, replay_task_id: str | None = None, at: float | None = None
    ) -> DeadLetter | None:
        when = self._now(at)
        handle = await self._handle("dead_letters")
        return await self._dead_letters.update(
            handle,
            letter_id,
            lambda letter: letter.replayed(at=when, replay_task_id=replay_task_id),
        )

    # -- idempotency ----------------------------------------------------------------------

    @translated
    async def claim_idempotency(self, key: str, *, lease: float) -> IdempotencyClaim:
        handle = await self._handle("idempotency")
        return await self._idempotency.claim(handle, key, lease=lease)

    @translated
    async def complete_idempotency(self, key: str, token: str, result: Any = None) -> bool:
        handle = await self._handle("idempotency")
        return await self._idempotency.complete(handle, key, token, result)

    @translated
    async def renew_idempotency(self, key: str, token: str, *, lease: float) -> bool:
        handle = await self._handle("idempotency")
        return await self._idempotency.renew(handle, key, token, lease=lease)

    @translated
    async def release_idempotency(self, key: str, token: str) -> bool:
        return await self._idempotency.release(await self._handle("idempotency"), key, token)

    @translated
    async def get_idempotency(self, key: str) -> IdempotencyRecord | None:
        return await self._idempotency.get(await self._handle("idempotency"), key)

    # -- retry schedule -------------------------------------------------------------------

    @translated
    async def schedule_retry(self, retry: ScheduledRetry) -> ScheduledRetry:
        return await self._retries.schedule(await self._handle("retries"), retry)

    @translated
    async def take_due_retries(
        self, *, now: float | None = None, limit: int = 100, lease: float | None = None
    ) -> list[ScheduledRetry]:
        check_page("take_due_retries", limit, 0)
        lease = None if lease is None else check_lease(lease)
        when = self._now(now, "now")
        handle = await self._handle("retries")
        return await self._retries.take(handle, now=when, limit=limit, lease=lease)

    @translated
    async def list_scheduled_retries(
        self, *, limit: int = 100, offset: int = 0
    ) -> list[ScheduledRetry]:
        check_page("list_scheduled_retries", limit, offset)
        return await self._retries.find(await self._handle("retries"), limit=limit, offset=offset)

    @translated
    async def count_scheduled_retries(self, *, due_before: float | None = None) -> int:
        check_window("count_scheduled_retries", None, due_before)
        return await self._retries.count(await self._handle("retries"), due_before=due_before)

    @translated
    async def cancel_retry(self, retry_id: str) -> bool:
        return await self._retries.cancel(await self._handle("retries"), retry_id)

    # -- error events ---------------------------------------------------------------------

    @translated
    async def record_error_event(self, event: ErrorEvent) -> ErrorEvent:
        handle = await self._handle("error_events")
        return await self._events.put(handle, event, now=self._now())

    @translated
    async def record_error_events(self, events: Sequence[ErrorEvent]) -> int:
        batch = list(events)
        for event in batch:
            if not isinstance(event, ErrorEvent):
                raise InvalidRecordError("record_error_events", "events", "must be ErrorEvents")
        if not batch:
            return 0
        handle = await self._handle("error_events")
        return await self._events.put_many(handle, batch, now=self._now())

    @translated
    async def purge_error_events(self, *, before: float) -> int:
        _check_before("purge_error_events", before)
        handle = await self._handle("error_events")
        return await self._events.purge(handle, (), before=before)

    @translated
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
        check_window("list_error_events", since, until)
        check_page("list_error_events", limit, offset)
        chosen = filters(severity=severity, fingerprint=fingerprint)
        handle = await self._handle("error_events")
        return await self._events.find(
            handle, chosen, since=since, until=until, limit=limit, offset=offset, now=self._now()
        )

    @translated
    async def count_error_events(
        self,
        *,
        since: float | None = None,
        until: float | None = None,
        severity: ErrorSeverity | None = None,
        fingerprint: str | None = None,
    ) -> int:
        check_window("count_error_events", since, until)
        chosen = filters(severity=severity, fingerprint=fingerprint)
        handle = await self._handle("error_events")
        return await self._events.count(handle, chosen, since=since, until=until, now=self._now())

    # -- recovery attempts ----------------------------------------------------------------

    @translated
    async def record_recovery_attempt(self, attempt: RecoveryAttempt) -> RecoveryAttempt:
        handle = await self._handle("recovery_attempts")
        return await self._recoveries.put(handle, attempt, now=self._now())

    @translated
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
        check_window("list_recovery_attempts", since, until)
        check_page("list_recovery_attempts", limit, offset)
        chosen = filters(service=service, successful=successful)
        handle = await self._handle("recovery_attempts")
        return await self._recoveries.find(
            handle, chosen, since=since, until=until, limit=limit, offset=offset, now=self._now()
        )

    @translated
    async def count_recovery_attempts(
        self,
        *,
        service: str | None = None,
        successful: bool | None = None,
        since: float | None = None,
        until: float | None = None,
    ) -> int:
        check_window("count_recovery_attempts", since, until)
        chosen = filters(service=service, successful=successful)
        handle = await self._handle("recovery_attempts")
        return await self._recoveries.count(
            handle, chosen, since=since, until=until, now=self._now()
        )

    # -- alerts ---------------------------------------------------------------------------

    @translated
    async def upsert_alert(self, alert: Alert) -> Alert:
        return await self._alerts.upsert(await self._handle("alerts"), alert)

    @translated
    async def get_alert(self, alert_id: str) -> Alert | None:
        return await self._alerts.get(await self._handle("alerts"), alert_id)

    @translated
    async def list_alerts(
        self, *, status: AlertStatus = AlertStatus.ACTIVE, limit: int = 100, offset: int = 0
    ) -> list[Alert]:
        check_page("list_alerts", limit, offset)
        status = check_enum("list_alerts", "status", AlertStatus, status)
        handle = await self._handle("alerts")
        return await self._alerts.find(handle, status=status, limit=limit, offset=offset)

    @translated
    async def resolve_alert(self, alert_id: str, *, at: float | None = None) -> Alert | None:
        when = self._now(at)
        return await self._alerts.resolve(await self._handle("alerts"), alert_id, at=when)

    @translated
    async def update_alert(self, alert_id: str, change: Callable[[Alert], Alert]) -> Alert | None:
        return await self._alerts.update(await self._handle("alerts"), alert_id, change)

    @translated
    async def purge_resolved_alerts(self, *, before: float) -> int:
        _check_before("purge_resolved_alerts", before)
        return await self._alerts.purge_resolved(await self._handle("alerts"), before=before)

    # -- snapshots ------------------------------------------------------------------------

    @translated
    async def put_snapshot(self, snapshot: Snapshot) -> Snapshot:
        handle = await self._handle("snapshots")
        return await self._snapshots.put(handle, snapshot, now=self._now())

    @translated
    async def latest_snapshot(self, kind: str) -> Snapshot | None:
        chosen = filters(kind=kind)
        handle = await self._handle("snapshots")
        found = await self._snapshots.find(
            handle, chosen, since=None, until=None, limit=1, offset=0, now=self._now()
        )
        return found[0] if found else None

    @translated
    async def list_snapshots(
        self,
        *,
        kind: str | None = None,
        since: float | None = None,
        until: float | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[Snapshot]:
        check_window("list_snapshots", since, until)
        check_page("list_snapshots", limit, offset)
        chosen = filters(kind=kind)
        handle = await self._handle("snapshots")
        return await self._snapshots.find(
            handle, chosen, since=since, until=until, limit=limit, offset=offset, now=self._now()
        )

    @translated
    async def purge_snapshots(self, *, before: float, kind: str | None = None) -> int:
        _check_before("purge_snapshots", before)
        handle = await self._handle("snapshots")
        return await self._snapshots.purge(handle, filters(kind=kind), before=before)


def _check_before(operation: str, before: float) -> None:
    """A purge needs a time: None would mean "everything"."""
    if before is None or check_instant(operation, "before", before) is None:
        raise InvalidRecordError(operation, "before", "must be epoch seconds, got None")
