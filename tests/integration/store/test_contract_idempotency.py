"""Store contract, idempotency: claims race safely, lapse with their lease, complete with a
result that later claims get back, and can be released; only the holder's token counts.

Besides every store backend, this contract also runs as ``redis-sync``: the Redis store
whose claims go through the workers' sync client (``RedisSyncClaims``), read back through
the async store, so the two clients are proven to agree."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest

from outlast.store import (
    ClaimStatus,
    IdempotencyState,
    InvalidRecordError,
    Store,
)
from outlast.testing import FakeClock

from ._store_backends import BACKENDS, Backend
from ._store_factories import TRICKY_PAYLOAD


@pytest.fixture(params=[*BACKENDS, "redis-sync"])
async def backend(
    request: pytest.FixtureRequest, redis_url: str, clock: FakeClock
) -> AsyncIterator[Backend]:
    """A store backend (or the sync claims on Redis) in a namespace of its own."""
    built = Backend(
        request.param, namespace=f"test-{uuid.uuid4().hex[:12]}", redis_url=redis_url, clock=clock
    )
    try:
        yield built
    finally:
        await built.cleanup()


async def test_concurrent_claims_have_exactly_one_winner(backend: Backend) -> None:
    """Of 60 simultaneous claims through three stores, exactly one acquires the key."""
    stores = [backend.store() for _ in range(3)]
    claims = await asyncio.gather(
        *(stores[i % 3].claim_idempotency("charge:order-1", lease=30) for i in range(60))
    )
    winners = [claim for claim in claims if claim.acquired]
    assert len(winners) == 1
    assert winners[0].token is not None
    losers = [claim for claim in claims if not claim.acquired]
    assert {claim.status for claim in losers} == {ClaimStatus.IN_PROGRESS}
    assert {claim.lease_expires_at for claim in losers} == {winners[0].lease_expires_at}
    assert all(claim.token is None for claim in losers)


async def test_completed_key_returns_its_result(store: Store, backend: Backend) -> None:
    """After completion, every claim answers COMPLETED with the stored result, untouched."""
    claim = await store.claim_idempotency("k", lease=30)
    assert claim.token is not None
    assert await store.complete_idempotency("k", claim.token, TRICKY_PAYLOAD) is True
    again = await store.claim_idempotency("k", lease=30)
    assert (again.status, again.result, again.completed) == (
        ClaimStatus.COMPLETED,
        TRICKY_PAYLOAD,
        True,
    )
    record = await store.get_idempotency("k")
    assert record is not None
    assert record.state is IdempotencyState.COMPLETED
    assert (record.result, record.completed_at) == (TRICKY_PAYLOAD, backend.clock.time())
    assert record.lease_expires_at is None


async def test_completed_result_may_be_none(store: Store) -> None:
    """A task that returns nothing still completes: the claim says COMPLETED, result None."""
    claim = await store.claim_idempotency("void", lease=30)
    assert claim.token is not None
    assert await store.complete_idempotency("void", claim.token) is True
    again = await store.claim_idempotency("void", lease=30)
    assert (again.status, again.result) == (ClaimStatus.COMPLETED, None)


async def test_lapsed_claim_can_be_claimed_again(store: Store, backend: Backend) -> None:
    """A claim whose holder died lapses with its lease; the next claimer takes over, and
    the old holder can no longer complete or release it."""
    old = await store.claim_idempotency("k", lease=10)
    backend.clock.advance(9.5)
    assert (await store.claim_idempotency("k", lease=10)).status is ClaimStatus.IN_PROGRESS
    backend.clock.advance(0.5)
    new = await store.claim_idempotency("k", lease=10)
    assert new.acquired
    assert new.token != old.token
    assert new.lease_expires_at == backend.clock.time() + 10
    assert old.token is not None
    assert new.token is not None
    assert await store.complete_idempotency("k", old.token, "late") is False
    assert await store.release_idempotency("k", old.token) is False
    assert await store.complete_idempotency("k", new.token, "done") is True
    assert (await store.claim_idempotency("k", lease=10)).result == "done"


async def test_renewal_extends_only_the_holders_pending_claim(
    store: Store, backend: Backend
) -> None:
    """Renewing with the holder's token moves the lease end (in the backend too); a
    stranger's token, a completed key or a missing key renews nothing."""
    claim = await store.claim_idempotency("k", lease=10)
    assert claim.token is not None
    backend.clock.advance(8)
    assert await store.renew_idempotency("k", "stranger", lease=10) is False
    assert await store.renew_idempotency("k", claim.token, lease=10) is True
    record = await store.get_idempotency("k")
    assert record is not None
    assert record.lease_expires_at == backend.clock.time() + 10
    expiry = await backend.expiry("idempotency", "k")
    assert expiry is not None
    assert 8 < expiry <= 10
    backend.clock.advance(9)
    assert (await store.claim_idempotency("k", lease=10)).status is ClaimStatus.IN_PROGRESS
    await store.complete_idempotency("k", claim.token, "done")
    assert await store.renew_idempotency("k", claim.token, lease=10) is False
    assert await store.renew_idempotency("nobody", claim.token, lease=10) is False


async def test_renewal_fails_once_another_worker_took_over(store: Store, backend: Backend) -> None:
    """After a lapse and a takeover, the old holder's renewal is refused and the new
    holder's lease is untouched."""
    old = await store.claim_idempotency("k", lease=5)
    backend.clock.advance(5)
    new = await store.claim_idempotency("k", lease=5)
    assert new.acquired
    assert old.token is not None
    assert await store.renew_idempotency("k", old.token, lease=60) is False
    record = await store.get_idempotency("k")
    assert record is not None
    assert (record.token, record.lease_expires_at) == (new.token, new.lease_expires_at)


async def test_pending_claim_is_readable(store: Store, backend: Backend) -> None:
    """get_idempotency shows a pending claim with its token, claim time and lease end."""
    assert await store.get_idempotency("k") is None
    claim = await store.claim_idempotency("k", lease=30)
    record = await store.get_idempotency("k")
    assert record is not None
    assert (record.state, record.token) == (IdempotencyState.PENDING, claim.token)
    assert (record.claimed_at, record.lease_expires_at) == (
        backend.clock.time(),
        backend.clock.time() + 30,
    )
    assert record.result is None


async def test_release_lets_the_work_be_claimed_again(store: Store) -> None:
    """A released claim is gone; only its holder's token releases it."""
    claim = await store.claim_idempotency("k", lease=30)
    assert claim.token is not None
    assert await store.release_idempotency("k", "someone-else") is False
    assert await store.release_idempotency("k", claim.token) is True
    assert await store.get_idempotency("k") is None
    assert (await store.claim_idempotency("k", lease=30)).acquired


async def test_completion_needs_the_holders_token(store: Store) -> None:
    """A stranger's token neither completes a live claim nor overwrites a completed one."""
    claim = await store.claim_idempotency("k", lease=30)
    assert claim.token is not None
    assert await store.complete_idempotency("k", "stranger", "forged") is False
    assert await store.complete_idempotency("k", claim.token, "real") is True
    assert await store.complete_idempotency("k", claim.token, "again") is False
    assert (await store.claim_idempotency("k", lease=30)).result == "real"


async def test_releasing_a_completed_key_keeps_the_result(store: Store) -> None:
    """Release only drops pending claims: a completed result stays."""
    claim = await store.claim_idempotency("k", lease=30)
    assert claim.token is not None
    await store.complete_idempotency("k", claim.token, 1)
    assert await store.release_idempotency("k", claim.token) is False
    assert (await store.claim_idempotency("k", lease=30)).result == 1


async def test_keys_expire_in_the_backend(backend: Backend) -> None:
    """The backend deletes a pending claim after its lease, a result after the retention."""
    short = backend.store(idempotency_retention=3600)
    claim = await short.claim_idempotency("k", lease=20)
    pending = await backend.expiry("idempotency", "k")
    assert pending is not None
    assert 18 < pending <= 20
    assert claim.token is not None
    await short.complete_idempotency("k", claim.token, "ok")
    completed = await backend.expiry("idempotency", "k")
    assert completed is not None
    assert 3590 < completed <= 3600


async def test_bad_result_is_refused_and_claim_stays_pending(store: Store) -> None:
    """A result that is not plain JSON is refused by field name; the claim is untouched."""
    claim = await store.claim_idempotency("k", lease=30)
    assert claim.token is not None
    with pytest.raises(InvalidRecordError, match=r"result\[0\]: set is not JSON-serializable"):
        await store.complete_idempotency("k", claim.token, [{1, 2}])
    record = await store.get_idempotency("k")
    assert record is not None
    assert record.state is IdempotencyState.PENDING


@pytest.mark.parametrize("lease", [0, -1, float("nan"), float("inf"), True])
async def test_claims_need_a_positive_lease(store: Store, lease: float) -> None:
    """A claim without a real lease could never lapse, so it is refused."""
    with pytest.raises(InvalidRecordError, match="lease"):
        await store.claim_idempotency("k", lease=lease)


@pytest.mark.parametrize("key", ["", "x" * 513])
async def test_claims_need_a_usable_key(store: Store, key: str) -> None:
    """Empty or oversized idempotency keys are refused, naming the key field."""
    with pytest.raises(InvalidRecordError, match=r"IdempotencyRecord\.key"):
        await store.claim_idempotency(key, lease=30)
