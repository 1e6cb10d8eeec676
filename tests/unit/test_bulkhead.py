"""The bulkhead: capacity, waiting, FIFO hand-over across threads and asyncio, race safety,
context managers, stats and the named registry.

Real threads and real event loops, because concurrency is what is being proven here; every
real wait is a few milliseconds.
"""

from __future__ import annotations

import asyncio
import gc
import random
import threading
import time
from collections.abc import Callable, Iterator

import pytest
from hypothesis import settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from outlast.config import BulkheadConfig
from outlast.errors import BulkheadCapacityError
from outlast.resilience._bulkhead import Bulkhead
from outlast.resilience._bulkhead_registry import bulkheads, get_bulkhead, reset_bulkheads


def make(capacity: int, timeout: float = 5.0, name: str = "test") -> Bulkhead:
    """A fresh, unregistered bulkhead."""
    return Bulkhead(name, config=BulkheadConfig(capacity=capacity, timeout=timeout))


async def eventually(condition: Callable[[], bool], limit: float = 2.0) -> None:
    """Yield to the loop (and other threads) until ``condition`` holds."""
    deadline = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < deadline, "condition never became true"
        await asyncio.sleep(0.001)


def assert_idle(bulkhead: Bulkhead) -> None:
    """Every permit is back and nobody waits."""
    assert bulkhead.active_count == 0
    assert bulkhead.available == bulkhead.capacity
    assert bulkhead.stats()["waiting_count"] == 0


class Peak:
    """Counts callers inside a section and remembers the most seen at once."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.current = 0
        self.highest = 0

    def enter(self) -> None:
        with self.lock:
            self.current += 1
            self.highest = max(self.highest, self.current)

    def leave(self) -> None:
        with self.lock:
            self.current -= 1


@pytest.fixture
def registry() -> Iterator[None]:
    """An empty bulkhead registry for the test, emptied again afterwards."""
    reset_bulkheads()
    yield
    reset_bulkheads()


# --- capacity -------------------------------------------------------------------------


async def test_threads_and_tasks_together_never_exceed_capacity() -> None:
    """Many threads and many tasks on one bulkhead: concurrency peaks at exactly capacity."""
    bulkhead, peak, rounds = make(4), Peak(), 25

    def thread_worker() -> None:
        for _ in range(rounds):
            with bulkhead:
                peak.enter()
                time.sleep(0.0005)
                peak.leave()

    async def task_worker() -> None:
        for _ in range(rounds):
            async with bulkhead:
                peak.enter()
                await asyncio.sleep(0.0005)
                peak.leave()

    threads = [threading.Thread(target=thread_worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    await asyncio.gather(*(task_worker() for _ in range(8)))
    for thread in threads:
        await asyncio.to_thread(thread.join)

    assert peak.highest <= bulkhead.capacity
    assert peak.highest == bulkhead.capacity
    assert bulkhead.stats()["total_acquired"] == 16 * rounds
    assert_idle(bulkhead)


# --- waiting and timeouts -------------------------------------------------------------


async def test_acquire_returns_false_after_its_timeout_when_full() -> None:
    """A full bulkhead makes ``await acquire(timeout)`` wait that long, then return False."""
    bulkhead = make(1)
    assert bulkhead.try_acquire()
    started = time.perf_counter()
    assert await bulkhead.acquire(timeout=0.02) is False
    assert time.perf_counter() - started >= 0.015
    assert bulkhead.stats()["waiting_count"] == 0
    assert bulkhead.active_count == 1


def test_acquire_sync_returns_false_after_its_timeout_when_full() -> None:
    """A full bulkhead makes ``acquire_sync(timeout)`` block that long, then return False."""
    bulkhead = make(1)
    assert bulkhead.try_acquire()
    started = time.perf_counter()
    assert bulkhead.acquire_sync(timeout=0.02) is False
    assert time.perf_counter() - started >= 0.015
    assert bulkhead.stats()["waiting_count"] == 0


async def test_timeout_none_waits_the_configured_timeout() -> None:
    """``acquire()`` without a timeout waits ``config.timeout`` before giving up."""
    bulkhead = make(1, timeout=0.02)
    assert bulkhead.try_acquire()
    started = time.perf_counter()
    assert await bulkhead.acquire() is False
    assert time.perf_counter() - started >= 0.015


def test_zero_timeout_does_not_suspend_the_coroutine() -> None:
    """``acquire(timeout=0)`` on a full bulkhead finishes without ever suspending."""
    bulkhead = make(1)
    assert bulkhead.try_acquire()
    coroutine = bulkhead.acquire(timeout=0)
    with pytest.raises(StopIteration) as finished:
        coroutine.send(None)
    assert finished.value.value is False


def test_zero_timeout_does_not_block_the_thread() -> None:
    """``acquire_sync(timeout=0)`` returns False at once, not after the 5 s config timeout."""
    bulkhead = make(1, timeout=5.0)
    assert bulkhead.try_acquire()
    started = time.perf_counter()
    assert bulkhead.acquire_sync(timeout=0) is False
    assert time.perf_counter() - started < 1.0


def test_acquire_sync_gets_a_permit_released_by_another_thread() -> None:
    """A blocked ``acquire_sync`` returns True once another thread releases."""
    bulkhead = make(1)
    assert bulkhead.try_acquire()
    releaser = threading.Timer(0.01, bulkhead.release)
    releaser.start()
    assert bulkhead.acquire_sync(timeout=2.0) is True
    releaser.join()
    bulkhead.release()
    assert_idle(bulkhead)


async def test_permit_released_from_a_thread_wakes_an_async_waiter() -> None:
    """``release()`` called on a plain thread resumes a coroutine waiting on the loop."""
    bulkhead = make(1)
    assert bulkhead.try_acquire()
    waiter = asyncio.create_task(bulkhead.acquire(timeout=2.0))
    await eventually(lambda: bulkhead.stats()["waiting_count"] == 1)
    releaser = threading.Thread(target=bulkhead.release)
    releaser.start()
    assert await asyncio.wait_for(waiter, timeout=2.0) is True
    await asyncio.to_thread(releaser.join)
    bulkhead.release()
    assert_idle(bulkhead)


# --- fairness -------------------------------------------------------------------------


async def test_released_permit_is_handed_to_the_first_waiter_not_raced() -> None:
    """After a release with a waiter queued, the permit is already the waiter's: no barging."""
    bulkhead = make(1)
    assert bulkhead.try_acquire()
    waiter = asyncio.create_task(bulkhead.acquire(timeout=2.0))
    await eventually(lambda: bulkhead.stats()["waiting_count"] == 1)
    bulkhead.release()
    assert bulkhead.try_acquire() is False
    assert bulkhead.active_count == 1
    assert await waiter is True
    bulkhead.release()
    assert_idle(bulkhead)


async def test_waiters_are_served_first_in_first_out_across_threads_and_tasks() -> None:
    """Sync and async waiters get permits in the order they started waiting."""
    bulkhead, served = make(1), list[str]()
    assert bulkhead.try_acquire()

    def thread_waiter(label: str) -> None:
        assert bulkhead.acquire_sync(timeout=2.0)
        served.append(label)
        bulkhead.release()

    async def task_waiter(label: str) -> None:
        assert await bulkhead.acquire(timeout=2.0)
        served.append(label)
        bulkhead.release()

    threads: list[threading.Thread] = []
    tasks: list[asyncio.Task[None]] = []
    arrival: list[str] = []
    for index in range(8):
        label = f"{'thread' if index % 2 else 'task'}-{index}"
        if index % 2:
            threads.append(threading.Thread(target=thread_waiter, args=(label,)))
            threads[-1].start()
        else:
            tasks.append(asyncio.create_task(task_waiter(label)))
        arrival.append(label)
        await eventually(lambda: bulkhead.stats()["waiting_count"] == len(arrival))

    bulkhead.release()
    await asyncio.gather(*tasks)
    for thread in threads:
        await asyncio.to_thread(thread.join)
    assert served == arrival
    assert_idle(bulkhead)


# --- cancellation and timeout races ----------------------------------------------------


async def test_waiter_cancelled_before_the_release_passes_the_permit_on() -> None:
    """A waiter cancelled just before it is handed a permit gives it to the next waiter."""
    bulkhead = make(1)
    assert bulkhead.try_acquire()
    doomed = asyncio.create_task(bulkhead.acquire(timeout=2.0))
    patient = asyncio.create_task(bulkhead.acquire(timeout=2.0))
    await eventually(lambda: bulkhead.stats()["waiting_count"] == 2)
    doomed.cancel()
    bulkhead.release()  # granted to the cancelled waiter, before it has run
    with pytest.raises(asyncio.CancelledError):
        await doomed
    assert await patient is True
    bulkhead.release()
    assert_idle(bulkhead)


async def test_waiter_cancelled_after_the_release_gives_the_permit_back() -> None:
    """A waiter cancelled after its permit was granted, but before it resumed, returns it."""
    bulkhead = make(1)
    assert bulkhead.try_acquire()
    doomed = asyncio.create_task(bulkhead.acquire(timeout=2.0))
    await eventually(lambda: bulkhead.stats()["waiting_count"] == 1)
    bulkhead.release()
    doomed.cancel()
    with pytest.raises(asyncio.CancelledError):
        await doomed
    assert_idle(bulkhead)
    assert bulkhead.stats()["total_acquired"] == 1  # the holder's; the cancelled one is undone


async def test_racing_timeouts_cancellations_and_releases_never_leak_permits() -> None:
    """Many rounds of waiters timing out or being cancelled while threads release: all
    permits come back every time and the capacity is never exceeded."""
    bulkhead, peak, jitter = make(2), Peak(), random.Random(7)

    async def task_contender(wait: float) -> None:
        if await bulkhead.acquire(timeout=wait):
            peak.enter()
            try:
                await asyncio.sleep(0)
            finally:
                peak.leave()
                bulkhead.release()

    def thread_contender(wait: float) -> None:
        if bulkhead.acquire_sync(timeout=wait):
            peak.enter()
            peak.leave()
            bulkhead.release()

    def release_held(delays: list[float]) -> None:
        for delay in delays:
            time.sleep(delay)
            peak.leave()
            bulkhead.release()

    for _ in range(60):
        for _ in range(2):
            assert bulkhead.try_acquire()
            peak.enter()
        tasks = [asyncio.create_task(task_contender(0.0005 * (i % 4))) for i in range(6)]
        threads = [threading.Thread(target=thread_contender, args=(0.001,)) for _ in range(2)]
        threads.append(
            threading.Thread(
                target=release_held, args=([jitter.uniform(0, 0.001), jitter.uniform(0, 0.001)],)
            )
        )
        for thread in threads:
            thread.start()
        await asyncio.sleep(jitter.uniform(0, 0.0015))
        for task in tasks[::2]:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for thread in threads:
            await asyncio.to_thread(thread.join)
        assert_idle(bulkhead)
    assert peak.highest <= bulkhead.capacity


def test_permit_for_a_waiter_whose_loop_closed_goes_back_to_the_pool() -> None:
    """A waiter on an event loop that has since closed cannot take a permit: it is freed."""
    bulkhead = make(1)
    assert bulkhead.try_acquire()
    loop = asyncio.new_event_loop()
    stranded = loop.create_task(bulkhead.acquire(timeout=2.0))
    loop.run_until_complete(asyncio.sleep(0.001))
    assert bulkhead.stats()["waiting_count"] == 1
    loop.close()

    bulkhead.release()
    assert_idle(bulkhead)
    stranded.get_coro().close()  # what garbage collection would do; must not give twice
    del stranded
    gc.collect()
    assert_idle(bulkhead)


# --- context managers -----------------------------------------------------------------


def test_with_statement_raises_capacity_error_naming_the_bulkhead() -> None:
    """``with bulkhead:`` on a full bulkhead raises BulkheadCapacityError(name, capacity)."""
    bulkhead = make(1, timeout=0.01, name="reports")
    assert bulkhead.try_acquire()
    with pytest.raises(BulkheadCapacityError) as raised, bulkhead:
        pass
    assert (raised.value.name, raised.value.capacity) == ("reports", 1)
    assert "reports" in str(raised.value)


async def test_async_with_raises_capacity_error_naming_the_bulkhead() -> None:
    """``async with bulkhead:`` on a full bulkhead raises BulkheadCapacityError."""
    bulkhead = make(2, timeout=0.01, name="uploads")
    assert bulkhead.try_acquire()
    assert bulkhead.try_acquire()
    with pytest.raises(BulkheadCapacityError) as raised:
        async with bulkhead:
            pass
    assert (raised.value.name, raised.value.capacity) == ("uploads", 2)


async def test_context_managers_release_even_when_the_body_raises() -> None:
    """Both context managers return the permit when the guarded block fails."""
    bulkhead, inside = make(1), list[int]()

    def guarded_sync() -> None:
        with bulkhead:
            inside.append(bulkhead.active_count)
            raise ZeroDivisionError

    async def guarded_async() -> None:
        async with bulkhead:
            inside.append(bulkhead.active_count)
            raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        guarded_sync()
    with pytest.raises(ZeroDivisionError):
        await guarded_async()
    assert inside == [1, 1]
    assert_idle(bulkhead)


# --- release errors and stats ---------------------------------------------------------


def test_releasing_more_than_acquired_is_an_error_naming_the_bulkhead() -> None:
    """An over-release raises RuntimeError and does not invent a permit."""
    bulkhead = make(2, name="ledger")
    assert bulkhead.try_acquire()
    bulkhead.release()
    with pytest.raises(RuntimeError, match="'ledger'"):
        bulkhead.release()
    assert bulkhead.available == bulkhead.capacity


async def test_stats_are_exact_for_a_scripted_sequence() -> None:
    """Counters follow the script: probes are not rejections, timed-out and zero-wait
    attempts are, cancelled waits are neither."""
    bulkhead = make(2, name="script")
    assert bulkhead.stats()["rejection_rate"] == 0.0
    assert bulkhead.try_acquire()  # acquired 1
    assert await bulkhead.acquire(timeout=0)  # acquired 2
    assert not bulkhead.try_acquire()  # a probe: not counted
    assert not await bulkhead.acquire(timeout=0)  # rejected 1
    assert not bulkhead.acquire_sync(timeout=0.005)  # rejected 2
    cancelled = asyncio.create_task(bulkhead.acquire(timeout=2.0))
    await eventually(lambda: bulkhead.stats()["waiting_count"] == 1)
    cancelled.cancel()  # neither
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    bulkhead.release()

    assert bulkhead.stats() == {
        "name": "script",
        "capacity": 2,
        "active_count": 1,
        "waiting_count": 0,
        "total_acquired": 2,
        "total_rejected": 2,
        "rejection_rate": pytest.approx(2 / 4),
    }
    assert (bulkhead.capacity, bulkhead.active_count, bulkhead.available) == (2, 1, 1)


class PermitModel(RuleBasedStateMachine):
    """Random sequences of non-waiting operations agree with a simple counting model."""

    def __init__(self) -> None:
        super().__init__()
        self.capacity = 3
        self.bulkhead = make(self.capacity)
        self.held = self.acquired = self.rejected = 0

    @rule()
    def probe(self) -> None:
        assert self.bulkhead.try_acquire() is (self.held < self.capacity)
        if self.held < self.capacity:
            self.held += 1
            self.acquired += 1

    @rule()
    def acquire_without_waiting(self) -> None:
        free = self.held < self.capacity
        assert self.bulkhead.acquire_sync(timeout=0) is free
        self.held += free
        self.acquired += free
        self.rejected += not free

    @precondition(lambda self: self.held > 0)
    @rule()
    def release(self) -> None:
        self.bulkhead.release()
        self.held -= 1

    @precondition(lambda self: self.held == 0)
    @rule()
    def over_release(self) -> None:
        with pytest.raises(RuntimeError):
            self.bulkhead.release()

    @invariant()
    def stats_match_the_model(self) -> None:
        stats = self.bulkhead.stats()
        attempts = self.acquired + self.rejected
        assert stats["active_count"] == self.held
        assert self.bulkhead.available == self.capacity - self.held
        assert (stats["total_acquired"], stats["total_rejected"]) == (self.acquired, self.rejected)
        assert stats["rejection_rate"] == (self.rejected / attempts if attempts else 0.0)


TestPermitModel = PermitModel.TestCase
TestPermitModel.settings = settings(max_examples=50, stateful_step_count=30, deadline=None)


# --- registry and configuration -------------------------------------------------------


@pytest.mark.usefixtures("registry")
def test_registry_returns_one_instance_per_name() -> None:
    """``get_bulkhead`` hands out the same object for a name; ``bulkheads()`` lists them."""
    first = get_bulkhead("database_connections")
    assert get_bulkhead("database_connections") is first
    other = get_bulkhead("redis_connections")
    assert other is not first
    assert bulkheads() == {"database_connections": first, "redis_connections": other}


@pytest.mark.usefixtures("registry")
def test_registry_picks_up_the_seed_table_and_the_default() -> None:
    """A seed name gets its profile (database: 20 permits, 10 s); an unknown name 10 and 5 s."""
    database = get_bulkhead("database_connections")
    assert (database.capacity, database.config.timeout) == (20, 10.0)
    unknown = get_bulkhead("no_such_resource")
    assert (unknown.capacity, unknown.config.timeout) == (10, 5.0)


@pytest.mark.usefixtures("registry")
def test_explicit_arguments_override_the_profile_on_first_creation_only() -> None:
    """``capacity``/``timeout``/``config`` apply when the bulkhead is created, then stick."""
    database = get_bulkhead("database_connections", capacity=10)
    assert (database.capacity, database.config.timeout) == (10, 10.0)
    assert get_bulkhead("database_connections", capacity=99).capacity == 10
    custom = get_bulkhead("custom", timeout=0.5, config=BulkheadConfig(capacity=3, timeout=9))
    assert (custom.capacity, custom.config.timeout) == (3, 0.5)


@pytest.mark.usefixtures("registry")
def test_reset_bulkheads_forgets_every_instance() -> None:
    """After ``reset_bulkheads()`` a name gets a new bulkhead."""
    before = get_bulkhead("email_sending")
    reset_bulkheads()
    assert bulkheads() == {}
    assert get_bulkhead("email_sending") is not before


def test_bulkhead_without_config_uses_the_profile_for_its_name() -> None:
    """``Bulkhead(name)`` with no config takes that name's seed profile."""
    assert Bulkhead("family_creation").capacity == 5


@pytest.mark.usefixtures("registry")
async def test_seed_example_runs_as_written() -> None:
    """The seed's section 3 snippet acquires, runs the operation and releases."""

    async def database_operation() -> str:
        return "rows"

    bulkhead = get_bulkhead("database_connections", capacity=10)
    if await bulkhead.acquire(timeout=5.0):
        try:
            result = await database_operation()
        finally:
            bulkhead.release()
    else:
        raise BulkheadCapacityError("Database connection pool at capacity")
    assert result == "rows"
    assert_idle(bulkhead)
