"""The local bulkhead's own promises: FIFO hand-over across threads and asyncio, a
zero-timeout acquire that never suspends, a waiter cancelled before the release passing its
permit on, waiters whose loop closed, and the named registry. What both scopes promise
(capacity, timeouts, cancellation after a release, races, context managers, stats, the seed
example) is proven once, for the local bulkhead too, in
tests/integration/resilience/bulkhead/test_bulkhead_both_scopes.py.

Real threads and real event loops, because concurrency is what is being proven here; every
real wait is a few milliseconds.
"""

from __future__ import annotations

import asyncio
import gc
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from outlast.config import BulkheadConfig
from outlast.resilience.bulkhead._bulkhead import Bulkhead
from outlast.resilience.bulkhead._bulkhead_registry import bulkheads, get_bulkhead, reset_bulkheads


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


@pytest.fixture
def registry() -> Iterator[None]:
    """An empty bulkhead registry for the test, emptied again afterwards."""
    reset_bulkheads()
    yield
    reset_bulkheads()


def test_zero_timeout_does_not_suspend_the_coroutine() -> None:
    """``acquire(timeout=0)`` on a full bulkhead finishes without ever suspending."""
    bulkhead = make(1)
    assert bulkhead.try_acquire()
    coroutine = bulkhead.acquire(timeout=0)
    with pytest.raises(StopIteration) as finished:
        coroutine.send(None)
    assert finished.value.value is False


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
