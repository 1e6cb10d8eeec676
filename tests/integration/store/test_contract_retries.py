"""Store contract, retry schedule: due retries go to exactly one taker even when beat
processes race, later ones stay, leases bring back what a dead taker held, cancel works."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from outlast.store import InvalidRecordError, ScheduledRetry, Store

from ._store_backends import Backend
from ._store_factories import TRICKY_PAYLOAD, scheduled_retry


async def test_retry_round_trips_every_field(store: Store) -> None:
    """A scheduled retry with every field set is taken back exactly as it was parked."""
    retry = ScheduledRetry(
        id="r1",
        task_name="outlast.payments.charge",
        task_id="celery-1",
        queue="payments",
        idempotency_key="charge:1",
        args=[1, "two", [3]],
        kwargs=dict(TRICKY_PAYLOAD),
        due_at=1_000.0,
        scheduled_at=400.5,
        attempts=4,
        reason="breaker open",
    )
    assert await store.schedule_retry(retry) == retry
    assert await store.list_scheduled_retries() == [retry]
    assert await store.take_due_retries(now=1_000.0) == [retry]
    assert await store.count_scheduled_retries() == 0


async def test_only_due_retries_are_taken_soonest_first(store: Store) -> None:
    """take_due_retries hands out due retries by due time (ties by id), up to the limit,
    and leaves the ones not yet due."""
    for retry_id, due_at in {"late": 50.0, "b": 10.0, "a": 10.0, "c": 5.0, "d": 20.0}.items():
        await store.schedule_retry(scheduled_retry(id=retry_id, due_at=due_at))
    assert [r.id for r in await store.take_due_retries(now=20.0, limit=3)] == ["c", "a", "b"]
    assert [r.id for r in await store.take_due_retries(now=20.0)] == ["d"]
    assert await store.take_due_retries(now=20.0) == []
    assert [r.id for r in await store.list_scheduled_retries()] == ["late"]
    assert await store.take_due_retries(now=20.0, limit=0) == []


async def test_take_defaults_to_the_store_clock(store: Store, backend: Backend) -> None:
    """Without ``now`` a take uses the store's clock."""
    now = backend.clock.time()
    await store.schedule_retry(scheduled_retry(id="due", due_at=now))
    await store.schedule_retry(scheduled_retry(id="later", due_at=now + 60))
    assert [r.id for r in await store.take_due_retries()] == ["due"]
    backend.clock.advance(60)
    assert [r.id for r in await store.take_due_retries()] == ["later"]


async def test_racing_takers_get_each_due_retry_exactly_once(backend: Backend) -> None:
    """Twenty takers on two stores (two beat processes) split 150 due retries with no
    retry handed out twice and none lost; the 10 not yet due stay scheduled."""
    one, two = backend.store(), backend.store()
    for index in range(150):
        await one.schedule_retry(scheduled_retry(id=f"due-{index:03}", due_at=float(index)))
    for index in range(10):
        await one.schedule_retry(scheduled_retry(id=f"later-{index}", due_at=10_000.0))

    async def drain(store: Store) -> list[str]:
        taken: list[str] = []
        while batch := await store.take_due_retries(now=500.0, limit=7):
            taken.extend(retry.id for retry in batch)
        return taken

    results = await asyncio.gather(*(drain(store) for store in [one, two] * 10))
    counts = Counter(retry_id for taken in results for retry_id in taken)
    assert set(counts) == {f"due-{index:03}" for index in range(150)}
    assert set(counts.values()) == {1}
    assert await one.count_scheduled_retries() == 10


async def test_leased_take_comes_back_until_confirmed(store: Store, backend: Backend) -> None:
    """With a lease a taken retry is hidden for the lease, then due again (its taker died),
    and cancel_retry confirms it for good."""
    now = backend.clock.time()
    await store.schedule_retry(scheduled_retry(id="r", due_at=now - 5))
    first = await store.take_due_retries(lease=30)
    assert [(r.id, r.due_at) for r in first] == [("r", now - 5)]
    assert await store.take_due_retries(lease=30) == []
    assert [r.due_at for r in await store.list_scheduled_retries()] == [now + 30]
    backend.clock.advance(30)
    again = await store.take_due_retries(lease=30)
    assert [(r.id, r.due_at) for r in again] == [("r", now + 30)]
    assert await store.cancel_retry("r") is True
    backend.clock.advance(60)
    assert await store.take_due_retries(lease=30) == []


async def test_scheduling_an_id_again_replaces_it(store: Store) -> None:
    """Re-scheduling the same id moves the one entry instead of adding a second."""
    await store.schedule_retry(scheduled_retry(id="r", due_at=10.0, attempts=1))
    await store.schedule_retry(scheduled_retry(id="r", due_at=99.0, attempts=2))
    listed = await store.list_scheduled_retries()
    assert [(r.id, r.due_at, r.attempts) for r in listed] == [("r", 99.0, 2)]
    assert await store.take_due_retries(now=50.0) == []


async def test_list_count_and_cancel(store: Store) -> None:
    """Listing pages soonest first; counts honour due_before; cancel removes one entry."""
    for index in range(5):
        await store.schedule_retry(scheduled_retry(id=f"r{index}", due_at=float(10 * index)))
    assert [r.id for r in await store.list_scheduled_retries(limit=2, offset=1)] == ["r1", "r2"]
    assert await store.count_scheduled_retries() == 5
    assert await store.count_scheduled_retries(due_before=20.0) == 3
    assert await store.cancel_retry("r2") is True
    assert await store.cancel_retry("r2") is False
    assert await store.count_scheduled_retries(due_before=20.0) == 2
    assert [r.id for r in await store.list_scheduled_retries()] == ["r0", "r1", "r3", "r4"]


@pytest.mark.parametrize(("limit", "lease"), [(-1, None), (10_001, None), (10, 0.0), (10, -5)])
async def test_bad_take_arguments_are_refused(
    store: Store, limit: int, lease: float | None
) -> None:
    """A negative or huge limit, or a lease that is not positive, is refused up front."""
    with pytest.raises(InvalidRecordError, match=r"limit|lease"):
        await store.take_due_retries(now=0.0, limit=limit, lease=lease)
