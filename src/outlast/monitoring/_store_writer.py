"""Writes a batch's events to the store as ``ErrorEvent`` records.

Events go in concurrent chunks; the store keeps the first record of an id, so a chunk that
failed halfway is simply written again. A record the store refuses as invalid is logged and
skipped (it would be refused forever); a store that does not answer leaves the batch for
the next try.

Runs on the flusher's own event loop, never on a caller's.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Final

from outlast.errors import StoreUnavailableError
from outlast.monitoring._batch import Batch
from outlast.monitoring._event import ErrorEventData
from outlast.store import ErrorEvent, Store

__all__ = ["StoreWriter", "record_of"]

log = logging.getLogger("outlast.monitoring")

CHUNK: Final = 64
"""Events written concurrently."""


def record_of(event: ErrorEventData) -> ErrorEvent:
    """The store record of ``event``."""
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
            outcomes = await asyncio.gather(
                *(self._store.record_error_event(record_of(e)) for e in chunk),
                return_exceptions=True,
            )
            if any(isinstance(o, StoreUnavailableError) for o in outcomes):
                return False
            for event, outcome in zip(chunk, outcomes, strict=True):
                if isinstance(outcome, BaseException):
                    self.rejected += 1
                    log.error("error event %s refused by the store: %s", event.id, outcome)
            batch.stored += len(chunk)
        return True

    async def close(self) -> None:
        """Close the store, if it was opened."""
        store, self._store = self._store, None
        if store is not None:
            await store.close()
