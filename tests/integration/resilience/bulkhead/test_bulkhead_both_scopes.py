"""The bulkhead behaviour suite, run for both scopes: a local ``Bulkhead`` and a
``ClusterBulkhead`` whose permits are leases in the real test Redis.

Only behaviour both scopes promise is here; what is local-only (FIFO hand-over, a
zero-timeout ``acquire`` that never suspends, waiters whose loop closed) stays in
tests/unit/resilience/bulkhead/test_bulkhead.py, and what is cluster-only in
test_cluster_bulkhead.py. Each test
gets its own Redis namespace. Real threads and loops, because concurrency is what is
proven; every real wait is short.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable

import pytest
from hypothesis import settings
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from _servers import delete_keys_with_prefix
from outlast import handle_errors
from outlast.config import BulkheadConfig, reload_settings
from outlast.errors import BulkheadCapacityError
from outlast.resilience.bulkhead._bulkhead import Bulkhead
from outlast.resilience.bulkhead._bulkhead_registry import Scope, get_bulkhead
from outlast.resilience.bulkhead._redis_bulkhead import ClusterBulkhead
from outlast.resilience.shared._redis_link import RedisLink

Make = Callable[..., Bulkhead]


@pytest.fixture(params=["local", "cluster"])
def scope(request: pytest.FixtureRequest) -> Scope:
    """The scope under test."""
    value: Scope = request.param
    return value


@pytest.fixture
async def make(scope: Scope, redis_url: str) -> AsyncIterator[Make]:
    """A factory of fresh, unregistered bulkheads of the scope under test.

    Cluster bulkheads share one link in a namespace of their own; afterwards its clients
    are closed and its keys deleted.
    """
    namespace = f"outlast-test-{uuid.uuid4().hex[:12]}"
    link = RedisLink(redis_url, namespace=namespace)

    def factory(capacity: int, timeout: float = 5.0, name: str = "test") -> Bulkhead:
        config = BulkheadConfig(capacity=capacity, timeout=timeout)
        if scope == "local":
            return Bulkhead(name, config=config)
        return ClusterBulkhead(name, config=config, link=link)

    yield factory
    await link.async_client().aclose()
    delete_keys_with_prefix(link.client, f"outlast:{{{namespace}:")
    link.close()


async def eventually(condition: Callable[[], bool], limit: float = 3.0) -> None:
    """Yield to the loop (and other threads) until ``condition`` holds."""
    deadline = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < deadline, "condition never became true"
        await asyncio.sleep(0.002)


def idle(bulkhead: Bulkhead) -> bool:
    """Every permit is back and nobody waits."""
    stats = bulkhead.stats()
    return (
        stats["active_count"] == 0
        and bulkhead.available == bulkhead.capacity
        and stats["waiting_count"] == 0
    )


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


# --- capacity -------------------------------------------------------------------------


async def test_threads_and_tasks_together_never_exceed_capacity(make: Make) -> None:
    """Threads and tasks on one bulkhead: concurrency peaks at exactly capacity."""
    bulkhead, peak, rounds = make(4), Peak(), 15

    def thread_worker() -> None:
        for _ in range(rounds):
            with bulkhead:
                peak.enter()
                time.sleep(0.002)
                peak.leave()

    async def task_worker() -> None:
        for _ in range(rounds):
            async with bulkhead:
                peak.enter()
                await asyncio.sleep(0.002)
                peak.leave()

    threads = [threading.Thread(target=thread_worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    await asyncio.gather(*(task_worker() for _ in range(4)))
    for thread in threads:
        await asyncio.to_thread(thread.join)

    assert peak.highest == bulkhead.capacity
    assert bulkhead.stats()["total_acquired"] == 8 * rounds
    assert idle(bulkhead)


# --- waiting and timeouts -------------------------------------------------------------


async def test_acquire_returns_false_after_its_timeout_when_full(make: Make) -> None:
    """A full bulkhead makes ``await acquire(timeout)`` wait that long, then return False."""
    bulkhead = make(1)
    assert bulkhead.try_acquire()
    started = time.perf_counter()
    assert await bulkhead.acquire(timeout=0.05) is False
    assert time.perf_counter() - started >= 0.045
    assert bulkhead.stats()["waiting_count"] == 0
    assert bulkhead.active_count == 1


def test_acquire_sync_returns_false_after_its_timeout_when_full(make: Make) -> None:
    """A full bulkhead makes ``acquire_sync(timeout)`` block that long, then return False."""
    bulkhead = make(1)
    assert bulkhead.try_acquire()
    started = time.perf_counter()
    assert bulkhead.acquire_sync(timeout=0.05) is False
    assert time.perf_counter() - started >= 0.045
    assert bulkhead.stats()["waiting_count"] == 0


async def test_timeout_none_waits_the_configured_timeout(make: Make) -> None:
    """``acquire()`` without a timeout waits ``config.timeout`` before giving up."""
    bulkhead = make(1, timeout=0.05)
    assert bulkhead.try_acquire()
    started = time.perf_counter()
    assert await bulkhead.acquire() is False
    assert time.perf_counter() - started >= 0.045


def test_zero_timeout_does_not_block_the_thread(make: Make) -> None:
    """``acquire_sync(timeout=0)`` returns False at once, not after the 5 s config timeout."""
    bulkhead = make(1, timeout=5.0)
    assert bulkhead.try_acquire()
    started = time.perf_counter()
    assert bulkhead.acquire_sync(timeout=0) is False
    assert time.perf_counter() - started < 1.0


def test_acquire_sync_gets_a_permit_released_by_another_thread(make: Make) -> None:
    """A blocked ``acquire_sync`` returns True once another thread releases."""
    bulkhead = make(1)
    assert bulkhead.try_acquire()
    releaser = threading.Timer(0.02, bulkhead.release)
    releaser.start()
    assert bulkhead.acquire_sync(timeout=3.0) is True
    releaser.join()
    bulkhead.release()
    assert idle(bulkhead)


async def test_permit_released_from_a_thread_reaches_an_async_waiter(make: Make) -> None:
    """``release()`` called on a plain thread lets a coroutine waiting on the loop in."""
    bulkhead = make(1)
    assert bulkhead.try_acquire()
    waiter = asyncio.create_task(bulkhead.acquire(timeout=3.0))
    await eventually(lambda: bulkhead.stats()["waiting_count"] == 1)
    releaser = threading.Thread(target=bulkhead.release)
    releaser.start()
    assert await asyncio.wait_for(waiter, timeout=3.0) is True
    await asyncio.to_thread(releaser.join)
    bulkhead.release()
    assert idle(bulkhead)


# --- cancellation ---------------------------------------------------------------------


async def test_cancelled_waiter_keeps_no_permit(make: Make) -> None:
    """A waiter cancelled around the moment a permit frees up leaves every permit free."""
    bulkhead = make(1)
    assert bulkhead.try_acquire()
    doomed = asyncio.create_task(bulkhead.acquire(timeout=3.0))
    await eventually(lambda: bulkhead.stats()["waiting_count"] == 1)
    bulkhead.release()
    doomed.cancel()
    with pytest.raises(asyncio.CancelledError):
        await doomed
    await eventually(lambda: idle(bulkhead))
    assert bulkhead.stats()["total_acquired"] == 1  # the holder's; the cancelled one is undone


async def test_racing_timeouts_cancellations_and_releases_never_leak_permits(
    make: Make,
) -> None:
    """Rounds of waiters timing out or being cancelled while threads release: every permit
    comes back every round and the capacity is never exceeded."""
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

    for _ in range(15):
        for _ in range(2):
            assert bulkhead.try_acquire()
            peak.enter()
        tasks = [asyncio.create_task(task_contender(0.002 * (i % 4))) for i in range(6)]
        threads = [threading.Thread(target=thread_contender, args=(0.003,)) for _ in range(2)]
        delays = [jitter.uniform(0, 0.003), jitter.uniform(0, 0.003)]
        threads.append(threading.Thread(target=release_held, args=(delays,)))
        for thread in threads:
            thread.start()
        await asyncio.sleep(jitter.uniform(0, 0.004))
        for task in tasks[::2]:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for thread in threads:
            await asyncio.to_thread(thread.join)
        await eventually(lambda: idle(bulkhead))
    assert peak.highest <= bulkhead.capacity


# --- context managers -----------------------------------------------------------------


def test_with_statement_raises_capacity_error_naming_the_bulkhead(make: Make) -> None:
    """``with bulkhead:`` on a full bulkhead raises BulkheadCapacityError(name, capacity)."""
    bulkhead = make(1, timeout=0.02, name="reports")
    assert bulkhead.try_acquire()
    with pytest.raises(BulkheadCapacityError) as raised, bulkhead:
        pass
    assert (raised.value.name, raised.value.capacity) == ("reports", 1)
    assert "reports" in str(raised.value)


async def test_async_with_raises_capacity_error_naming_the_bulkhead(make: Make) -> None:
    """``async with bulkhead:`` on a full bulkhead raises BulkheadCapacityError."""
    bulkhead = make(2, timeout=0.02, name="uploads")
    assert bulkhead.try_acquire()
    assert bulkhead.try_acquire()
    with pytest.raises(BulkheadCapacityError) as raised:
        async with bulkhead:
            pass
    assert (raised.value.name, raised.value.capacity) == ("uploads", 2)


async def test_context_managers_release_even_when_the_body_raises(make: Make) -> None:
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
    assert idle(bulkhead)


# --- release errors and stats ---------------------------------------------------------


def test_releasing_more_than_acquired_is_an_error_naming_the_bulkhead(make: Make) -> None:
    """An over-release raises RuntimeError and does not invent a permit."""
    bulkhead = make(2, name="ledger")
    assert bulkhead.try_acquire()
    bulkhead.release()
    with pytest.raises(RuntimeError, match="'ledger'"):
        bulkhead.release()
    assert bulkhead.available == bulkhead.capacity


async def test_stats_are_exact_for_a_scripted_sequence(make: Make) -> None:
    """Counters follow the script: probes are not rejections, timed-out and zero-wait
    attempts are, cancelled waits are neither."""
    bulkhead = make(2, name="script")
    assert bulkhead.stats()["rejection_rate"] == 0.0
    assert bulkhead.try_acquire()  # acquired 1
    assert await bulkhead.acquire(timeout=0)  # acquired 2
    assert not bulkhead.try_acquire()  # a probe: not counted
    assert not await bulkhead.acquire(timeout=0)  # rejected 1
    assert not bulkhead.acquire_sync(timeout=0.01)  # rejected 2
    cancelled = asyncio.create_task(bulkhead.acquire(timeout=3.0))
    await eventually(lambda: bulkhead.stats()["waiting_count"] == 1)
    cancelled.cancel()  # neither
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    bulkhead.release()

    stats = dict(bulkhead.stats())
    assert {key: stats.pop(key) for key in ("scope", "mode") if key in stats} in (
        {},
        {"scope": "cluster", "mode": "cluster"},
    )
    assert stats == {
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

    def __init__(self, bulkhead: Bulkhead) -> None:
        super().__init__()
        self.bulkhead = bulkhead
        self.capacity = bulkhead.capacity
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


def test_random_operation_sequences_match_the_counting_model(make: Make) -> None:
    """Hypothesis drives try/acquire/release/over-release; stats always match the model."""

    class FreshBulkheadModel(PermitModel):
        def __init__(self) -> None:
            super().__init__(make(3, name=f"model-{uuid.uuid4().hex[:8]}"))

    run_state_machine_as_test(
        FreshBulkheadModel,
        settings=settings(max_examples=30, stateful_step_count=20, deadline=None),
    )


# --- the registry, the seed and handle_errors ------------------------------------------


async def test_seed_example_runs_as_written(
    scope: Scope, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The seed's section 3 snippet acquires, runs the operation and releases, in either
    scope picked by ``get_bulkhead(scope=...)``."""
    monkeypatch.setenv("OUTLAST_REDIS_URL", redis_url)
    monkeypatch.setenv("OUTLAST_NAMESPACE", f"outlast-test-{uuid.uuid4().hex[:12]}")
    reload_settings()

    async def database_operation() -> str:
        return "rows"

    bulkhead = get_bulkhead("database_connections", capacity=10, scope=scope)
    assert isinstance(bulkhead, ClusterBulkhead) is (scope == "cluster")
    if await bulkhead.acquire(timeout=5.0):
        try:
            result = await database_operation()
        finally:
            bulkhead.release()
    else:
        raise BulkheadCapacityError("Database connection pool at capacity")
    assert result == "rows"
    assert idle(bulkhead)
    if isinstance(bulkhead, ClusterBulkhead):
        await bulkhead.link.async_client().aclose()


def test_handle_errors_with_a_bulkhead_instance_guards_sync_functions(make: Make) -> None:
    """A sync function decorated with a bulkhead runs inside a permit and gives it back;
    a full bulkhead rejects the call with BulkheadCapacityError."""
    bulkhead = make(1, timeout=0.02, name="sync-guard")
    seen: list[int] = []

    @handle_errors(bulkhead=bulkhead)
    def work(value: int) -> int:
        seen.append(bulkhead.active_count)
        return value * 2

    assert work(21) == 42
    assert seen == [1]
    assert idle(bulkhead)
    assert bulkhead.try_acquire()
    with pytest.raises(BulkheadCapacityError):
        work(1)
    bulkhead.release()


async def test_handle_errors_with_a_bulkhead_instance_guards_async_functions(
    make: Make,
) -> None:
    """An async function decorated with a bulkhead runs inside a permit and gives it back;
    a full bulkhead rejects the call with BulkheadCapacityError."""
    bulkhead = make(1, timeout=0.02, name="async-guard")
    seen: list[int] = []

    @handle_errors(bulkhead=bulkhead)
    async def work(value: int) -> int:
        seen.append(bulkhead.active_count)
        await asyncio.sleep(0)
        return value * 2

    assert await work(21) == 42
    assert seen == [1]
    assert idle(bulkhead)
    assert bulkhead.try_acquire()
    with pytest.raises(BulkheadCapacityError):
        await work(1)
    bulkhead.release()
