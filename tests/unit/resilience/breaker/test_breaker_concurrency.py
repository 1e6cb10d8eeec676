"""Real threads through one breaker: no lock is held during the protected call, probe
admission stays exact under contention, and no outcome is lost."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pybreaker

from outlast.config import CircuitBreakerConfig
from outlast.errors import CircuitBreakerOpenError
from outlast.resilience.breaker._breaker import CircuitBreaker
from outlast.testing import FakeClock

THREADS = 8
CALLS = 30
IO_SECONDS = 0.002


def io_call() -> None:
    time.sleep(IO_SECONDS)  # the I/O being protected: real waiting, GIL released


def run_threads(work: Callable[[], None], calls: int) -> float:
    """Wall-clock seconds for THREADS threads to each run ``work`` ``calls`` times."""
    start = threading.Barrier(THREADS + 1)

    def worker() -> None:
        start.wait()
        for _ in range(calls):
            work()

    threads = [threading.Thread(target=worker) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    began = time.perf_counter()
    start.wait()
    for thread in threads:
        thread.join()
    return time.perf_counter() - began


@contextmanager
def fine_grained_thread_switching() -> Iterator[None]:
    """Make the interpreter switch threads far more often, to provoke races."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(previous)


def test_calls_through_one_breaker_run_in_parallel() -> None:
    """8 threads doing 2 ms of I/O through one breaker take about as long as unwrapped."""
    breaker = CircuitBreaker("parallel")
    bare = wrapped = float("inf")
    for _ in range(3):  # interleaved, so drifting machine load hits both sides alike
        bare = min(bare, run_threads(io_call, CALLS))
        wrapped = min(wrapped, run_threads(lambda: breaker.call_sync(io_call), CALLS))
    assert wrapped <= 1.2 * bare, f"wrapped {wrapped:.3f}s vs bare {bare:.3f}s"
    assert breaker.stats()["success_count"] == 3 * THREADS * CALLS


def test_the_timing_harness_detects_a_lock_held_during_the_call() -> None:
    """The same harness shows pybreaker, which locks around the call, serialising threads."""
    serialising = pybreaker.CircuitBreaker()
    calls = 10
    bare = run_threads(io_call, calls)
    locked = run_threads(lambda: serialising.call(io_call), calls)
    assert locked > 3 * bare, f"pybreaker {locked:.3f}s vs bare {bare:.3f}s"


def race_for_admission(breaker: CircuitBreaker) -> tuple[int, int]:
    """THREADS threads ask ``breaker`` for admission at once: (admitted, rejected)."""
    admitted: list[float] = []
    rejected: list[CircuitBreakerOpenError] = []
    start = threading.Barrier(THREADS)

    def race() -> None:
        start.wait()
        try:
            admitted.append(breaker.before_call())
        except CircuitBreakerOpenError as error:
            rejected.append(error)

    threads = [threading.Thread(target=race) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return len(admitted), len(rejected)


def test_half_open_admits_exactly_max_probes_under_contention() -> None:
    """Threads racing into a half-open breaker get exactly half_open_max_calls admissions."""
    clock = FakeClock()
    config = CircuitBreakerConfig(failure_threshold=1, recovery_timeout=1.0, half_open_max_calls=3)
    with fine_grained_thread_switching():
        for _ in range(20):
            breaker = CircuitBreaker("probes", config=config, clock=clock)
            breaker.force_open()
            clock.advance(1.0)
            assert race_for_admission(breaker) == (3, THREADS - 3)
            assert breaker.state == "half_open"


def test_no_outcome_is_lost_under_contention() -> None:
    """Every success and failure from many threads is counted exactly once."""
    breaker = CircuitBreaker("tally", config=CircuitBreakerConfig(failure_threshold=10**9))
    per_thread = 2000

    def work() -> None:
        for index in range(per_thread):
            started = breaker.before_call()
            if index % 3:
                breaker.on_success(started)
            else:
                breaker.on_failure(ConnectionError("down"), started)

    threads = [threading.Thread(target=work) for _ in range(THREADS)]
    with fine_grained_thread_switching():
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    stats = breaker.stats()
    failures_per_thread = len(range(0, per_thread, 3))
    assert stats["total_failures"] == THREADS * failures_per_thread
    assert stats["success_count"] == THREADS * (per_thread - failures_per_thread)
