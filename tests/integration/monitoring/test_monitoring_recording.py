"""Recording under load: exact counts from threads and processes, fast callers, outages."""

from __future__ import annotations

import multiprocessing
import os
import threading
import time

import pytest

from _forked import finish
from _servers import start_redis_server
from outlast.config import reload_settings
from outlast.errors import ErrorContext, ErrorSeverity
from outlast.monitoring import ErrorMonitor
from outlast.testing import FakeClock

THREADS = 4
PER_THREAD = 5_000
CHILDREN = 2
CHILD_THREADS = 3


def _fail(index: int) -> BaseException:
    try:
        raise ConnectionError(f"node {index % 97} refused request {index}")
    except ConnectionError as error:
        return error


def _record_many(monitor: ErrorMonitor, count: int, timings: list[int] | None) -> None:
    context = ErrorContext(operation="load.write")
    for index in range(count):
        error = _fail(index)
        started = time.perf_counter_ns()
        monitor.record(error, context, ErrorSeverity.MEDIUM)
        if timings is not None:
            timings.append(time.perf_counter_ns() - started)


def _in_threads(monitor: ErrorMonitor, threads: int, timings: list[int] | None) -> None:
    workers = [
        threading.Thread(target=_record_many, args=(monitor, PER_THREAD, timings))
        for _ in range(threads)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


def _child(monitor: ErrorMonitor) -> None:
    _in_threads(monitor, CHILD_THREADS, None)
    os._exit(0 if monitor.flush(timeout=60) else 3)


def test_fifty_thousand_events_from_threads_and_processes_count_exactly(
    redis_url: str, namespace: str
) -> None:
    """50,000 events from 4 threads here and 3 in each of two forked children all count once;
    each caller's p99 stays under 1 ms; what the parent buffered before forking is not
    written twice."""
    clock = FakeClock()
    monitor = ErrorMonitor(
        redis_url=redis_url, namespace=namespace, store_events=False, clock=clock,
        flush_interval=0.05,
    )  # fmt: skip
    _record_many(monitor, 500, None)  # still buffered when the children fork
    context = multiprocessing.get_context("fork")
    children = [context.Process(target=_child, args=(monitor,)) for _ in range(CHILDREN)]
    for child in children:
        child.start()
    timings: list[int] = []
    _in_threads(monitor, THREADS, timings)
    assert [finish(c, 60) for c in children] == [0] * CHILDREN
    assert monitor.flush(timeout=60)
    expected = 500 + THREADS * PER_THREAD + CHILDREN * CHILD_THREADS * PER_THREAD
    assert expected == 50_500
    stats = monitor.get_monitoring_stats()
    assert stats["total_errors"] == expected
    assert stats["windows"]["1m"]["errors"] == expected
    assert stats["recent_errors_24h"] == expected
    assert stats["operations"]["load.write"]["1h"]["errors"] == expected
    assert stats["dropped_events"] == 0
    timings.sort()
    p99 = timings[int(len(timings) * 0.99)] / 1e6
    assert p99 < 1.0, f"p99 per call {p99:.3f} ms"
    monitor.close()


def test_nothing_is_lost_while_redis_is_down(namespace: str) -> None:
    """Events and successes recorded while Redis is stopped wait in the buffer and are all
    counted, once, when a Redis answers on that port again."""
    server = start_redis_server()
    port = server.port
    monitor = ErrorMonitor(
        redis_url=server.url, namespace=namespace, store_events=False, flush_interval=0.05
    )
    try:
        _record_many(monitor, 1_000, None)
        assert monitor.flush(timeout=10)
        assert monitor.get_monitoring_stats()["total_errors"] == 1_000
        server.stop()
        _record_many(monitor, 5_000, None)
        for _ in range(300):
            monitor.note_success("load.write")
        time.sleep(2.0)  # the flusher keeps failing meanwhile
        assert not monitor.get_monitoring_stats()["redis_available"]
        assert monitor.buffered == 5_000
        server = start_redis_server(port)  # an empty Redis: only the outage's events land
        assert monitor.flush(timeout=15)
        stats = monitor.get_monitoring_stats()
        assert stats["total_errors"] == 5_000
        assert stats["windows"]["5m"]["errors"] == 5_000
        assert stats["total_successes"] == 300
        assert stats["windows"]["5m"]["failure_ratio"] == 5_000 / 5_300
        assert monitor.dropped == 0
    finally:
        monitor.close(timeout=1)
        server.stop()


def test_a_full_buffer_drops_and_counts(namespace: str) -> None:
    """Past its capacity the buffer drops events and says how many; the rest still count."""
    server = start_redis_server()
    monitor = ErrorMonitor(
        redis_url=server.url, namespace=namespace, store_events=False, buffer_size=100,
        flush_interval=0.05,
    )  # fmt: skip
    try:
        server.stop()
        _record_many(monitor, 350, None)
        time.sleep(0.3)
        assert monitor.dropped >= 150
        server = start_redis_server(server.port)
        assert monitor.flush(timeout=15)
        stats = monitor.get_monitoring_stats()
        assert stats["total_errors"] + monitor.dropped == 350
        assert stats["dropped_events"] == monitor.dropped
    finally:
        monitor.close(timeout=1)
        server.stop()


def test_reset_forgets_and_rereads_the_settings(
    namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After reset, a monitor that wrote to a Redis now stopped holds nothing and writes to
    the Redis the settings name now, without waiting for the dead one."""
    first, second = start_redis_server(), start_redis_server()
    monkeypatch.setenv("OUTLAST_REDIS_URL", first.url)
    reload_settings()
    monitor = ErrorMonitor(namespace=namespace, store_events=False)
    try:
        _record_many(monitor, 10, None)
        assert monitor.flush(timeout=10)
        first.stop()
        _record_many(monitor, 200, None)
        started = time.monotonic()
        monitor.reset()
        assert time.monotonic() - started < 3.0
        assert monitor.buffered == 0
        monkeypatch.setenv("OUTLAST_REDIS_URL", second.url)
        reload_settings()
        _record_many(monitor, 30, None)
        assert monitor.flush(timeout=10)
        assert monitor.get_monitoring_stats()["total_errors"] == 30
    finally:
        monitor.close(timeout=1)
        first.stop()
        second.stop()
