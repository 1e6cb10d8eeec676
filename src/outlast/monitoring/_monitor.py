"""``ErrorMonitor``: records errors without blocking, and reads the shared statistics.

Recording (``record``, the core's listeners) only puts a capture in a bounded buffer; the
flusher thread, started on first use, builds and writes the events. Reading
(``get_monitoring_stats``, ``get_error_patterns``, ``get_window_counts``,
``get_active_alerts``) asks the shared Redis and store, so every process reads the same
numbers; each has an ``a``-prefixed twin for async callers, which does the same read in a
worker thread (no Redis client is bound to the caller's event loop).

Settings (``redis_url``, ``namespace``, ``monitoring_buffer_size``,
``monitoring_flush_interval``) are read when the flusher starts, not at import. A forked
child starts empty: it never writes what its parent buffered. ``record`` never raises and
never blocks on I/O; the readers are the only methods that wait for Redis or the store.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import threading
import weakref
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, TypeVar

from outlast._clock import SYSTEM_CLOCK, Clock
from outlast.config import get_settings
from outlast.errors import ErrorSeverity
from outlast.monitoring._buffer import CaptureBuffer
from outlast.monitoring._event import Capture
from outlast.monitoring._flusher import Flusher
from outlast.monitoring._listeners import listener_for
from outlast.monitoring._redis_counters import RedisCounters
from outlast.monitoring._stats import (
    CounterReader,
    WindowTotals,
    pattern_rows,
    rate_view,
    stats_view,
    top_fingerprints,
)
from outlast.monitoring._windows import Dim
from outlast.resilience._events import add_listener
from outlast.resilience._successes import add_duration_listener, add_success_listener
from outlast.resilience.shared._redis_link import RedisLink

if TYPE_CHECKING:
    from outlast.monitoring._silences import Matcher, Silence
    from outlast.store import Alert, Store

__all__ = ["ErrorMonitor"]

log = logging.getLogger("outlast.monitoring")

T = TypeVar("T")

DEFAULT_BUFFER_SIZE: Final = 100_000
DEFAULT_BATCH_SIZE: Final = 2000
_DEFAULT_REDIS_URL: Final = "redis://127.0.0.1:6379/0"
_SLOW_CALL: Final = 5.0


@dataclass(frozen=True, slots=True)
class _Parts:
    """What a started monitor talks to."""

    link: RedisLink
    counters: RedisCounters
    reader: CounterReader
    flusher: Flusher


class ErrorMonitor:
    """Error events in, shared statistics out. ``outlast.error_monitor`` is the process's."""

    def __init__(
        self,
        *,
        redis_url: str | None = None,
        namespace: str | None = None,
        open_store: Callable[[], Store] | None = None,
        store_events: bool = True,
        clock: Clock | None = None,
        buffer_size: int | None = None,
        flush_interval: float | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        slow_call: float | None = None,
    ) -> None:
        """Unset options come from the settings when the flusher starts. ``open_store``
        makes the store events go to (default: ``outlast.store.open_store``); with
        ``store_events=False`` only the Redis counters are written. ``slow_call`` (seconds;
        default ``OUTLAST_MONITORING_SLOW_CALL``) is when a successful call is slow."""
        if slow_call is not None and not slow_call > 0:
            raise ValueError(f"slow_call must be positive, got {slow_call}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        if flush_interval is not None and flush_interval <= 0:
            raise ValueError(f"flush_interval must be positive, got {flush_interval}")
        self._redis_url = redis_url
        self._namespace = namespace
        self._open_store = open_store
        self._store_events = store_events
        self.clock = clock or SYSTEM_CLOCK
        self._buffer_size = buffer_size
        self._flush_interval = flush_interval
        self._batch_size = batch_size
        self._slow_call = slow_call
        self._buffer = CaptureBuffer(
            capacity=buffer_size or DEFAULT_BUFFER_SIZE, on_first=self._start_flusher
        )
        self._parts: _Parts | None = None
        self._lock = threading.Lock()
        self._unsubscribe: list[Callable[[], None]] = []
        _monitors.add(self)

    # -- recording ----------------------------------------------------------------------

    def record(
        self,
        error: BaseException,
        context: Any = None,
        severity: ErrorSeverity | str | None = None,
        *,
        recovery_attempted: bool = False,
        recovery_successful: bool | None = None,
    ) -> None:
        """Queue one error event (never blocks on I/O, never raises).

        ``context`` is an ``ErrorContext`` or a mapping with ``operation``, ``user_id``,
        ``request_id`` and ``metadata``; ``severity`` an ``ErrorSeverity`` or its value,
        None for the default of the error's category.
        """
        try:
            capture = Capture(
                error=_as_error(error),
                context=context,
                severity=_as_severity(severity),
                recovery_attempted=bool(recovery_attempted),
                recovery_successful=recovery_successful,
                occurred_at=self.clock.time(),
            )
            self._buffer.add(capture)
        except Exception:
            log.exception("recording an error event failed; it was dropped")

    def note_success(self, operation: str) -> None:
        """Count one successful call of ``operation`` (what error ratios divide by)."""
        self._buffer.add_success(operation)

    def note_duration(self, operation: str, seconds: float) -> None:
        """Count a successful call of ``operation`` that took ``seconds`` as slow if it
        took at least the slow-call threshold (``performance_impact`` counts slow calls)."""
        threshold = self._slow_call
        if threshold is None:
            threshold = self._slow_call = _slow_call_setting()
        if seconds >= threshold:
            self._buffer.add_slow(operation)

    def tally(self, name: str, count: int = 1) -> None:
        """Add ``count`` to the shared tally ``name``."""
        self._buffer.add_tally(name, count)

    def listen(self) -> None:
        """Feed this monitor from the core's events and successes (once)."""
        with self._lock:
            if not self._unsubscribe:
                self._unsubscribe = [
                    add_listener(listener_for(self)),
                    add_success_listener(self._buffer.add_success),
                    add_duration_listener(self.note_duration),
                ]

    def unlisten(self) -> None:
        """Stop hearing the core."""
        with self._lock:
            unsubscribe, self._unsubscribe = self._unsubscribe, []
        for stop in unsubscribe:
            stop()

    @property
    def listening(self) -> bool:
        """Whether this monitor hears the core's events."""
        return bool(self._unsubscribe)

    def flush(self, timeout: float = 10.0) -> bool:
        """Write everything recorded so far; False if it was not all written in time."""
        return self._started().flusher.drain(timeout)

    def close(self, timeout: float = 5.0) -> bool:
        """Flush, stop the flusher thread and drop the Redis connections; True if nothing
        was left unwritten. A monitor used again afterwards starts afresh."""
        with self._lock:
            parts, self._parts = self._parts, None
        if parts is None:
            return True
        flushed = parts.flusher.drain(timeout)
        parts.flusher.stop()
        parts.link.close()
        return flushed

    def reset(self) -> None:
        """Forget everything, unwritten events included, and read the settings again on next
        use (for tests that change settings or stop Redis). Never blocks on Redis."""
        with self._lock:
            parts, self._parts = self._parts, None
        if parts is not None:
            parts.flusher.stop(last_pass=False)
            parts.link.close()
        self._buffer.reset_after_fork()

    @property
    def buffered(self) -> int:
        """Events recorded in this process and not yet written."""
        parts = self._parts
        return len(self._buffer) if parts is None else parts.flusher.pending()

    @property
    def dropped(self) -> int:
        """Events this process had to drop (buffer full, or Redis down too long)."""
        parts = self._parts
        lost = 0 if parts is None else parts.flusher.dropped
        return self._buffer.dropped_total + lost

    # -- reading ------------------------------------------------------------------------

    def get_monitoring_stats(self) -> dict[str, Any]:
        """The shared statistics (see ``_stats.stats_view``) plus this process's buffer."""
        parts = self._started()
        return self._stats(parts.reader.read(self.clock.time()))

    async def aget_monitoring_stats(self) -> dict[str, Any]:
        """:meth:`get_monitoring_stats` for async callers."""
        parts = self._started()
        return self._stats(await asyncio.to_thread(parts.reader.read, self.clock.time()))

    def get_error_patterns(self, limit: int = 10) -> list[dict[str, Any]]:
        """The ``limit`` most frequent error groups of the last 24 hours, most frequent first."""
        _check_limit(limit)
        reader = self._started().reader
        totals = reader.read(self.clock.time())
        if totals is None:
            return []
        fingerprints = top_fingerprints(totals, limit)
        samples = reader.samples(fingerprints)
        return [] if samples is None else pattern_rows(totals, fingerprints, samples)

    async def aget_error_patterns(self, limit: int = 10) -> list[dict[str, Any]]:
        """:meth:`get_error_patterns` for async callers."""
        _check_limit(limit)
        return await asyncio.to_thread(self.get_error_patterns, limit)

    def get_window_counts(
        self, *, fingerprint: str | None = None, operation: str | None = None,
        service: str | None = None,
    ) -> dict[str, dict[str, Any]] | None:  # fmt: skip
        """Errors, successes and rates per window of exactly one fingerprint, operation or
        service; None if Redis did not answer."""
        dim, name = _one_dimension(fingerprint, operation, service)
        totals = self._started().reader.read(self.clock.time())
        return None if totals is None else rate_view(totals, dim, name)

    def get_active_alerts(self, limit: int = 100) -> list[Alert]:
        """The store's active alerts, newest first (works inside a running event loop too)."""
        _check_limit(limit)
        return _run_blocking(lambda: self.aget_active_alerts(limit))

    async def aget_active_alerts(self, limit: int = 100) -> list[Alert]:
        """:meth:`get_active_alerts` for async callers."""
        _check_limit(limit)
        store = self._store_factory()()
        try:
            return await store.list_alerts(limit=limit)
        finally:
            await store.close()

    # -- alerts -------------------------------------------------------------------------

    def acknowledge(self, alert_id: str, *, by: str | None = None) -> Alert | None:
        """Acknowledge an active alert: its escalation and repeats stop; None if unknown."""
        return _run_blocking(lambda: self.aacknowledge(alert_id, by=by))

    async def aacknowledge(self, alert_id: str, *, by: str | None = None) -> Alert | None:
        """:meth:`acknowledge` for async callers."""
        from outlast.monitoring._alerting import acknowledge_alert

        store = self.open_alert_store()
        try:
            return await acknowledge_alert(store, alert_id, now=self.clock.time(), by=by)
        finally:
            await store.close()

    def resolve(self, alert_id: str) -> Alert | None:
        """Resolve an alert now (its resolution is announced); None if unknown."""
        return _run_blocking(lambda: self.aresolve(alert_id))

    async def aresolve(self, alert_id: str) -> Alert | None:
        """:meth:`resolve` for async callers."""
        store = self.open_alert_store()
        try:
            return await store.resolve_alert(alert_id, at=self.clock.time())
        finally:
            await store.close()

    def silence(
        self, matchers: Iterable[Matcher | str], until: float, *, created_by: str = "",
        comment: str = "",
    ) -> Silence:  # fmt: skip
        """Mute the alerts matching every matcher (``"service=payments"``,
        ``"alertname=~error_rate_.*"``) until the epoch time ``until``."""
        return _run_blocking(
            lambda: self.asilence(matchers, until, created_by=created_by, comment=comment)
        )

    async def asilence(
        self, matchers: Iterable[Matcher | str], until: float, *, created_by: str = "",
        comment: str = "",
    ) -> Silence:  # fmt: skip
        """:meth:`silence` for async callers."""
        from outlast.monitoring._alerting import add_silence

        store = self.open_alert_store()
        try:
            return await add_silence(
                store, list(matchers), until=until, now=self.clock.time(),
                created_by=created_by, comment=comment,
            )  # fmt: skip
        finally:
            await store.close()

    def counter_reader(self) -> CounterReader:
        """The reader of the shared counters (what alert evaluation reads)."""
        return self._started().reader

    def open_alert_store(self) -> Store:
        """A new store client on this monitor's store (the caller closes it)."""
        return self._store_factory()()

    # -- internals ----------------------------------------------------------------------

    def _stats(self, totals: WindowTotals | None) -> dict[str, Any]:
        now = self.clock.time()
        if totals is None:
            stats: dict[str, Any] = {"total_errors": 0, "recent_errors_24h": 0}
            stats.update(error_rate_24h=0.0, redis_available=False)
        else:
            stats = stats_view(totals)
            stats["redis_available"] = True
        parts = self._parts
        unstored = 0 if parts is None else parts.flusher.unstored
        stats.update(buffered_events=self.buffered, dropped_here=self.dropped)
        stats.update(unstored_here=unstored, generated_at=now)
        return stats

    def _started(self) -> _Parts:
        parts = self._parts
        if parts is not None:
            return parts
        with self._lock:
            if self._parts is None:
                self._parts = self._build()
            return self._parts

    def _build(self) -> _Parts:
        settings = get_settings()
        url = self._redis_url or settings.redis_url or _DEFAULT_REDIS_URL
        namespace = self._namespace or settings.namespace
        if self._buffer_size is None:
            self._buffer.capacity = settings.monitoring_buffer_size
        link = RedisLink(url, namespace=namespace)  # its retry timing follows real time
        counters = RedisCounters(link)
        flusher = Flusher(
            buffer=self._buffer,
            counters=counters,
            open_store=self._store_factory() if self._store_events else None,
            clock=self.clock,
            interval=self._flush_interval or settings.monitoring_flush_interval,
            batch_size=self._batch_size,
        )
        return _Parts(link, counters, CounterReader(counters), flusher)

    def _store_factory(self) -> Callable[[], Store]:
        if self._open_store is not None:
            return self._open_store
        from outlast.store import open_store  # loaded on first use: `import outlast` stays light

        return lambda: open_store(clock=self.clock)

    def _start_flusher(self) -> None:
        try:
            self._started().flusher.start()
        except Exception:
            # Without a flusher nothing would ever drain the buffer: stop hearing the core
            # rather than hold counts forever, and say so once.
            log.exception("monitoring is off: its flusher could not start")
            self.unlisten()

    def _after_fork_in_child(self) -> None:
        self._buffer.reset_after_fork()
        self._parts = None
        self._lock = threading.Lock()


def _slow_call_setting() -> float:
    """The slow-call threshold of the settings (the default if they cannot be read: a
    recorder never raises)."""
    from outlast.config import get_monitoring_settings

    try:
        return get_monitoring_settings().monitoring_slow_call
    except Exception:
        log.exception("OUTLAST_MONITORING_SLOW_CALL unreadable; slow calls take %s s", _SLOW_CALL)
        return _SLOW_CALL


def _as_error(error: object) -> BaseException:
    if isinstance(error, BaseException):
        return error
    log.error("record_error_event needs an exception, got %s", type(error).__name__)
    return TypeError(f"record_error_event got a {type(error).__name__}, not an exception")


def _as_severity(severity: ErrorSeverity | str | None) -> ErrorSeverity | None:
    if severity is None or isinstance(severity, ErrorSeverity):
        return severity
    try:
        return ErrorSeverity(severity)
    except ValueError:
        known = ", ".join(s.value for s in ErrorSeverity)
        log.error("unknown error severity %r (known: %s); recorded as medium", severity, known)
        return ErrorSeverity.MEDIUM


def _check_limit(limit: int) -> None:
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValueError(f"limit must be a positive int, got {limit!r}")


def _one_dimension(
    fingerprint: str | None, operation: str | None, service: str | None
) -> tuple[Dim, str]:
    given = [
        (dim, name)
        for dim, name in ((Dim.FINGERPRINT, fingerprint), (Dim.OPERATION, operation),
                          (Dim.SERVICE, service))
        if name is not None
    ]  # fmt: skip
    if len(given) != 1:
        raise ValueError("get_window_counts needs exactly one of fingerprint, operation, service")
    return given[0]


def _run_blocking(make: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine to completion from sync code, even inside a running event loop."""

    async def run() -> T:
        return await make()

    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, run()).result()


_monitors: weakref.WeakSet[ErrorMonitor] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for monitor in list(_monitors):
        monitor._after_fork_in_child()


os.register_at_fork(after_in_child=_after_fork_in_child)
