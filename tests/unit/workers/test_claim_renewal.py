"""An idempotency claim is a short lease renewed while its attempt runs: a live worker's
long call keeps its key, whether the operation is async, sync on the loop's driver (a
Mongo store), or sync on the task's thread (the sync claimer's renewal thread), and a
renewal that finds the claim taken over says so.

Real Redis store, real time: leases of a few tenths of a second, attempts of about a second.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from outlast.config import RetryConfig
from outlast.store import ClaimStatus, IdempotencyState, RedisStore
from outlast.testing import FakeClock
from outlast.workers.execution._claim_keeper import ClaimKeeper
from outlast.workers.execution._envelope import Envelope
from outlast.workers.execution._execute import execute
from outlast.workers.execution._execute_sync import execute_sync
from outlast.workers.execution._operations import OperationSpec
from outlast.workers.execution._steps import Done
from outlast.workers.execution._sync_claimer import SyncClaimer

LEASE = 0.3
ATTEMPT = 1.0


async def slow_async() -> str:
    await asyncio.sleep(ATTEMPT)
    return "charged"


def slow_sync() -> str:
    time.sleep(ATTEMPT)
    return "charged"


def idempotent(fn: Callable[..., Any]) -> OperationSpec:
    return OperationSpec(
        name="unit.slow", fn=fn, queue="operations", retry=RetryConfig(), idempotent=True
    )


@pytest.fixture
async def store(redis_url: str) -> AsyncIterator[RedisStore]:
    opened = RedisStore(redis_url, namespace=f"unit-claims-{uuid.uuid4().hex[:8]}")
    yield opened
    await opened.close()


async def claim_later(store: RedisStore, key: str) -> ClaimStatus:
    """What another worker's claim on ``key`` gets, well after the first lease would end."""
    await asyncio.sleep(ATTEMPT * 0.6)
    return (await store.claim_idempotency(key, lease=LEASE)).status


@pytest.mark.parametrize("driver", ["async", "sync-on-loop", "sync"])
async def test_a_long_attempt_keeps_its_claim(store: RedisStore, driver: str) -> None:
    """An attempt three leases long keeps its key: a second claimer midway is told the
    work is in progress, and the key ends completed with the attempt's result."""
    key = f"order-{uuid.uuid4().hex}"
    envelope = Envelope(key=key)
    if driver == "sync":
        claimer = SyncClaimer(store.sync_claims(), lease=LEASE)
        run = asyncio.to_thread(
            execute_sync, idempotent(slow_sync), (), {}, envelope, clock=FakeClock(),
            claimer=claimer,
        )  # fmt: skip
    else:
        fn = slow_async if driver == "async" else slow_sync
        run = execute(
            idempotent(fn), (), {}, envelope, store=store, clock=FakeClock(), claim_lease=LEASE
        )
    step, other = await asyncio.gather(run, claim_later(store, key))
    assert step == Done("charged")
    assert other is ClaimStatus.IN_PROGRESS
    record = await store.get_idempotency(key)
    assert record is not None
    assert (record.state, record.result) == (IdempotencyState.COMPLETED, "charged")


async def test_a_renewal_says_when_the_claim_was_taken_over(store: RedisStore) -> None:
    """Once another worker holds the key, the keeper's next renewal reports the claim
    lost and stops renewing."""
    first = await store.claim_idempotency("k", lease=LEASE)
    assert first.token is not None
    keeper = ClaimKeeper(store, "k", first.token, lease=LEASE)
    keeper.start()
    await store.release_idempotency("k", first.token)
    taken = await store.claim_idempotency("k", lease=60)
    await asyncio.sleep(LEASE)
    await keeper.stop()
    assert (keeper.lost, keeper.renewals) == (True, 0)
    record = await store.get_idempotency("k")
    assert record is not None
    assert record.token == taken.token


async def test_a_stopped_keeper_renews_no_more(store: RedisStore) -> None:
    """After stop, the lease is left to run out: nothing renews it."""
    claim = await store.claim_idempotency("k", lease=LEASE)
    assert claim.token is not None
    keeper = ClaimKeeper(store, "k", claim.token, lease=LEASE)
    keeper.start()
    await asyncio.sleep(LEASE * 0.5)
    await keeper.stop()
    await asyncio.sleep(LEASE)
    assert keeper.renewals <= 1
    assert (await store.claim_idempotency("k", lease=LEASE)).acquired


async def test_the_sync_claimer_reports_a_claim_taken_over(store: RedisStore) -> None:
    """The renewal thread marks a held claim lost once another worker holds the key, and
    stops renewing it."""
    claimer = SyncClaimer(store.sync_claims(), lease=LEASE)
    first = claimer.claim("k")
    assert first.token is not None
    try:
        with claimer.held("k", first.token) as holding:
            claimer.release("k", first.token)
            taken = await store.claim_idempotency("k", lease=60)
            await asyncio.sleep(LEASE)
    finally:
        claimer.close()
    assert (holding.lost, holding.renewals) == (True, 0)
    record = await store.get_idempotency("k")
    assert record is not None
    assert record.token == taken.token
