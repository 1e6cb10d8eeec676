"""The flusher: one background thread per monitor that moves the buffer to Redis and the
store in batches.

Each pass takes what the buffer holds, builds the events (redaction, fingerprints: work kept
off the callers' path), counts every pending batch in Redis, in order, then stores the
oldest batch's events (the store is the slower writer; it never holds the counters back).
While Redis or the store does not answer, batches wait, bounded by the buffer's capacity in
events: past it the oldest batch is dropped, and what it loses (its counts, or only its
store records if it was counted) is counted and logged. Waiting uses real time
(``threading.Event``), as this thread follows the wall clock; event times come from the
monitor's clock.

The thread never dies of an error and never raises into a caller. A forked child gets a
new flusher (see ``ErrorMonitor``): it never writes what its parent buffered.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Final

from outlast._clock import Clock
from outlast.monitoring._batch import Batch
from outlast.monitoring._buffer import CaptureBuffer
from outlast.monitoring._event import Capture, ErrorEventData, build_event
from outlast.monitoring._redis_counters import RedisCounters

if TYPE_CHECKING:
    from outlast.monitoring._store_writer import StoreWriter
    from outlast.store import Store

__all__ = ["Flusher"]

log = logging.getLogger("outlast.monitoring")

_JOIN_TIMEOUT: Final = 5.0
_DRAIN_POLL: Final = 0.005


class Flusher:
    """Batches from one buffer, written to one Redis and one store."""

    def __init__(
        self,
        *,
        buffer: CaptureBuffer,
        counters: RedisCounters,
        open_store: Callable[[], Store] | None,
        clock: Clock,
        interval: float,
        batch_size: int,
    ) -> None:
        self.buffer = buffer
        self.counters = counters
        self.clock = clock
        self.interval = interval
        self.batch_size = batch_size
        self._open_store = open_store
        self._writer: StoreWriter | None = None
        self._pending: deque[Batch] = deque()
        self._pending_events = 0
        self.dropped = 0  # events dropped from pending batches (Redis down too long)
        self.unstored = 0  # events counted but never stored (the store too slow or down)
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._busy = False
        self._last_pass = True

    # -- control ------------------------------------------------------------------------

    def start(self) -> None:
        """Start the thread (once)."""
        with self._lock:
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(
                    target=self._run, name="outlast-monitoring-flush", daemon=True
                )
                self._thread.start()

    def wake(self) -> None:
        """Flush now instead of at the next interval."""
        self._wake.set()

    def pending(self) -> int:
        """Events not yet written everywhere (buffered or in pending batches)."""
        return len(self.buffer) + self._pending_events

    def drain(self, timeout: float) -> bool:
        """Wake the thread until everything is written; False if ``timeout`` passed first."""
        self.start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._idle():
                return True
            self._wake.set()
            time.sleep(_DRAIN_POLL)
        return self._idle()

    def _idle(self) -> bool:
        # Checked in this order: a pass marks itself busy before it takes from the buffer
        # and clears the mark only after writing.
        quiet = len(self.buffer) == 0 and not self.buffer.has_counts() and not self._pending
        return quiet and not self._busy

    def stop(self, *, last_pass: bool = True) -> None:
        """Stop the thread (after one last pass, unless not ``last_pass``) and close the
        store."""
        self._last_pass = last_pass
        self._stop.set()
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(_JOIN_TIMEOUT)

    # -- the thread ---------------------------------------------------------------------

    def _run(self) -> None:
        self._loop = asyncio.new_event_loop()
        try:
            while not self._stop.is_set():
                self._wake.wait(self.interval)
                self._wake.clear()
                self._pass()
            if self._last_pass:
                self._pass()
        finally:
            self._close_loop()

    def _pass(self) -> None:
        self._busy = True
        try:
            # One batch at a time: built events are counted before the next batch is built.
            more = True
            while more:
                more = self._gather_batch()
                if not self._count_pending():
                    break  # Redis is down: the rest waits in the buffer
            self._store_oldest()
        except Exception:  # a bug must not stop the thread every recorder relies on
            log.exception("flushing monitoring events failed")
        finally:
            self._busy = False

    def _gather_batch(self) -> bool:
        """Take one batch from the buffer; True if it was full (more may wait)."""
        taken = self.buffer.take(self.batch_size)
        if not (taken.captures or taken.successes or taken.slow or taken.tallies or taken.dropped):
            return False
        events = [e for e in map(self._build, taken.captures) if e is not None]
        batch = Batch(
            events=events,
            successes=taken.successes,
            tallies=taken.tallies,
            dropped=taken.dropped,
            taken_at=self.clock.time(),
            slow=taken.slow,
        )
        tail = self._pending[-1] if self._pending else None
        # While Redis is down, each pass would add a batch (if only of success counts):
        # a batch not yet sent takes the new one in, so waiting batches stay few and full.
        if tail is not None and not tail.counts_sent and self._fits(tail, batch):
            _carry_counts(batch, tail, events_too=True)
        else:
            self._pending.append(batch)
        self._pending_events += len(events)
        self._bound()
        return len(taken.captures) == self.batch_size

    def _fits(self, tail: Batch, batch: Batch) -> bool:
        return len(tail.events) + len(batch.events) <= self.batch_size

    def _build(self, capture: Capture) -> ErrorEventData | None:
        try:
            return build_event(capture)
        except Exception:
            log.exception("building a monitoring event failed; it is counted as dropped")
            self.dropped += 1
            return None

    def _bound(self) -> None:
        """Drop the oldest batches past capacity; their counts move to the next batch."""
        while self._pending_events > self.buffer.capacity and len(self._pending) > 1:
            oldest = self._pending.popleft()
            self._pending_events -= len(oldest.events)
            if oldest.counted:
                unstored = len(oldest.events) - oldest.stored
                self.unstored += unstored
                log.warning("monitoring kept %d events out of the store: it is too slow", unstored)
                continue
            self.dropped += len(oldest.events)
            log.warning("monitoring dropped %d events: redis unavailable", len(oldest.events))
            _carry_counts(oldest, self._pending[0])

    def _count_pending(self) -> bool:
        """Count every pending batch in Redis, in order; False if Redis did not answer."""
        return all(self.counters.apply(batch) for batch in self._pending)

    def _store_oldest(self) -> None:
        """Store the oldest counted batch's events, and retire every batch that is done.
        One batch per pass: the store is the slower writer and must not hold counting back."""
        stored_one = False
        while self._pending and self._pending[0].counted:
            head = self._pending[0]
            if len(head.events) > head.stored and self._open_store is not None:
                if stored_one or not self._store_batch(head):
                    break
                stored_one = True
            self._pending.popleft()
            self._pending_events -= len(head.events)
        if stored_one and self._pending:
            self._wake.set()  # more to store: go on at once

    def _store_batch(self, batch: Batch) -> bool:
        if self._open_store is None or not batch.events:
            return True
        if self._writer is None:
            # Imported here: the store (and its drivers) load only once events are written,
            # so importing outlast stays light.
            from outlast.monitoring._store_writer import StoreWriter

            self._writer = StoreWriter(self._open_store)
        assert self._loop is not None
        return self._loop.run_until_complete(self._writer.write(batch))

    def _close_loop(self) -> None:
        loop, self._loop = self._loop, None
        if loop is None:
            return
        try:
            if self._writer is not None:
                loop.run_until_complete(self._writer.close())
        except Exception:
            log.exception("closing the monitoring store failed")
        finally:
            loop.close()


def _carry_counts(source: Batch, into: Batch, *, events_too: bool = False) -> None:
    """Move ``source``'s successes, slow calls, tallies and drop count into ``into``; its events too
    when ``events_too``, else they count as dropped."""
    if events_too:
        into.events.extend(source.events)
        into.dropped += source.dropped
    else:
        into.dropped += source.dropped + len(source.events)
    for operation, count in source.successes.items():
        into.successes[operation] = into.successes.get(operation, 0) + count
    for operation, count in source.slow.items():
        into.slow[operation] = into.slow.get(operation, 0) + count
    for name, count in source.tallies.items():
        into.tallies[name] = into.tallies.get(name, 0) + count
