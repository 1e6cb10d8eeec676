"""Writes a batch's events to the store as ``ErrorEvent`` records.

Events go in chunks of :data:`CHUNK`, each one ``Store.record_error_events`` call (one
Redis pipeline, one MongoDB ``insert_many``); the store keeps the first record of an id, so
a chunk that failed halfway is simply written again. An event whose record is invalid is
logged and skipped (it would be refused forever); a chunk the store refuses for another
reason than being down is written again event by event, so only the bad record is lost. A
store that does not answer leaves the batch for the next try.

Runs on the flusher's own event loop, never on a caller's.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
from collections.abc import Callable, Sequence
from typing import Final

from outlast.errors import ErrorSeverity, StoreUnavailableError
from outlast.monitoring._batch import Batch
from outlast.monitoring._event import ErrorEventData
from outlast.store import ErrorEvent, Store

__all__ = ["StoreWriter", "record_of"]

log = logging.getLogger("outlast.monitoring")

CHUNK: Final = 500
"""Events written by one store call."""
_ONE_BY_ONE: Final = 64
"""Events written concurrently when a chunk is written event by event."""


def record_of(event: ErrorEventData) -> ErrorEvent:
    """The store record of ``event``: made without the record's checks when the event
    passes :func:`_sound` (ours built it: only its caller-given parts can be wrong, and
    checking them directly is several times cheaper), else checked as any record is."""
    if _FIELDS_KNOWN and _sound(event):
        return _unchecked_record(event)
    return ErrorEvent(
        id=event.id,
        error_type=event.error_type,
        message=event.message,
        severity=event.severity,
        occurred_at=event.occurred_at,
        operation=event.operation,
        fingerprint=event.fingerprint,
        context=event.as_dict(),
        recovery_attempted=event.recovery_attempted,
        recovery_successful=event.recovery_successful,
    )


def _sound(event: ErrorEventData) -> bool:
    """Whether the record of ``event`` would pass ``ErrorEvent``'s checks unchanged: every
    text UTF-8 encodable and the operation named, a finite non-negative float time, flags
    that are bools, and metadata of finite numbers (the rest our builder guarantees)."""
    occurred = event.occurred_at
    successful = event.recovery_successful
    metadata = event.metadata
    return (
        type(occurred) is float
        and 0.0 <= occurred < math.inf
        and type(event.recovery_attempted) is bool
        and (successful is None or type(successful) is bool)
        and isinstance(event.severity, ErrorSeverity)
        and bool(event.operation)
        and bool(event.error_type)
        and _encodable(event.message, event.operation, event.error_type)
        and (not metadata or all(_finite(v) for v in metadata.values()))
    )


def _encodable(*texts: str) -> bool:
    try:
        for text in texts:
            if not text.isascii():  # ASCII (most text) needs no encoding to know
                text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _finite(value: object) -> bool:
    return not isinstance(value, float) or math.isfinite(value)


def _unchecked_record(event: ErrorEventData) -> ErrorEvent:
    """The ``ErrorEvent`` the checked constructor would make of a sound ``event``."""
    values = (  # in the order of _RECORD_FIELDS
        event.error_type,
        event.message,
        event.severity,
        event.occurred_at,
        event.operation,
        event.fingerprint,
        None,
        event.as_dict(),
        event.recovery_attempted,
        event.recovery_successful,
        event.id,
    )
    record = object.__new__(ErrorEvent)
    for set_field, value in zip(_SETTERS, values, strict=True):
        set_field(record, value)
    return record


_RECORD_FIELDS: Final = tuple(spec.name for spec in dataclasses.fields(ErrorEvent))
_FIELDS_KNOWN: Final = _RECORD_FIELDS == (
    "error_type", "message", "severity", "occurred_at", "operation", "fingerprint",
    "task_name", "context", "recovery_attempted", "recovery_successful", "id",
)  # fmt: skip
"""Whether the record has exactly the fields above, in that order (else every record is
made by its checked constructor)."""
_SETTERS: Final[tuple[Callable[[object, object], None], ...]] = tuple(
    getattr(ErrorEvent, name).__set__ for name in _RECORD_FIELDS
)  # the slots' own setters: a frozen record refuses plain attribute assignment


class StoreWriter:
    """Writes events to the store that ``open`` makes (opened on first use)."""

    def __init__(self, open_store: Callable[[], Store]) -> None:
        self._open = open_store
        self._store: Store | None = None
        self.rejected = 0

    async def write(self, batch: Batch) -> bool:
        """Store the batch's remaining events; False if the store did not answer."""
        if self._store is None:
            self._store = self._open()
        while batch.stored < len(batch.events):
            chunk = batch.events[batch.stored : batch.stored + CHUNK]
            if not await self._write_chunk(self._store, self._records(chunk)):
                return False
            batch.stored += len(chunk)
        return True

    def _records(self, events: Sequence[ErrorEventData]) -> list[ErrorEvent]:
        records = []
        for event in events:
            try:
                records.append(record_of(event))
            except ValueError as error:
                self._reject(event.id, error)
        return records

    async def _write_chunk(self, store: Store, records: list[ErrorEvent]) -> bool:
        try:
            await store.record_error_events(records)
        except StoreUnavailableError:
            return False
        except Exception as error:
            log.warning("a chunk of %d error events was refused (%s); writing them one by one",
                        len(records), type(error).__name__)  # fmt: skip
            return await self._write_each(store, records)
        return True

    async def _write_each(self, store: Store, records: list[ErrorEvent]) -> bool:
        for start in range(0, len(records), _ONE_BY_ONE):
            part = records[start : start + _ONE_BY_ONE]
            outcomes = await asyncio.gather(
                *(store.record_error_event(r) for r in part), return_exceptions=True
            )
            if any(isinstance(o, StoreUnavailableError) for o in outcomes):
                return False
            for record, outcome in zip(part, outcomes, strict=True):
                if isinstance(outcome, BaseException):
                    self._reject(record.id, outcome)
        return True

    def _reject(self, event_id: str, error: BaseException) -> None:
        self.rejected += 1
        log.error("error event %s refused by the store: %s", event_id, error)

    async def close(self) -> None:
        """Close the store, if it was opened."""
        store, self._store = self._store, None
        if store is not None:
            await store.close()
