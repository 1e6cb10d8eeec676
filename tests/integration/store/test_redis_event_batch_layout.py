"""The Redis store writes a batch of error events byte for byte as single writes would:
the same documents (compact ASCII JSON of the record), indexes, scores and expiries."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import redis

from _servers import delete_keys_with_prefix
from outlast.errors import ErrorSeverity
from outlast.store import ErrorEvent, RedisStore
from outlast.store.redis._redis import store_prefix
from outlast.testing import FakeClock

from ._store_factories import TRICKY_PAYLOAD, error_event

RETENTION = 3600.0


@pytest.fixture
def namespaces(redis_url: str) -> Iterator[tuple[str, str]]:
    """Two fresh namespaces (single writes, batched writes), deleted afterwards."""
    pair = (f"test-{uuid.uuid4().hex[:12]}", f"test-{uuid.uuid4().hex[:12]}")
    yield pair
    client = redis.Redis.from_url(redis_url)
    for namespace in pair:
        delete_keys_with_prefix(client, store_prefix(namespace))
    client.close()


@pytest.fixture
async def stores(
    redis_url: str, namespaces: tuple[str, str]
) -> AsyncIterator[tuple[RedisStore, RedisStore]]:
    """A store for single writes and one for batches, on one fake clock."""
    clock = FakeClock(wall_start=1_700_000_000.0)
    single, batched = (
        RedisStore(redis_url, namespace=name, clock=clock, event_retention=RETENTION)
        for name in namespaces
    )
    yield single, batched
    await single.close()
    await batched.close()


def awkward_events(now: float) -> list[ErrorEvent]:
    """Events whose ids, texts, filters and payloads stress the encoding: separators,
    non-ASCII, lone surrogates, empty containers, no fingerprint, duplicates, stale ones."""
    odd_ids = ["plain", "with space", "comma,colon:", "new\nline", "ünï 🎉", 'q"uote\\']
    events = [
        error_event(
            id=item_id,
            occurred_at=now - index,
            message=f"line one\nline two\t{item_id} \udc80 ✓",
            context=dict(TRICKY_PAYLOAD),
            fingerprint=[None, "fp&=1", "fp ü/2"][index % 3],
            severity=list(ErrorSeverity)[index % len(ErrorSeverity)],
            task_name=None if index % 2 else "outlast.payments.charge",
            recovery_attempted=bool(index % 2),
            recovery_successful=[None, True, False][index % 3],
        )
        for index, item_id in enumerate(odd_ids)
    ]
    events += [error_event(id=f"e{index}", occurred_at=now + 0.1 * index) for index in range(40)]
    events.append(error_event(id="plain", occurred_at=now, message="a later duplicate"))
    events.append(error_event(id="stale", occurred_at=now - 2 * RETENTION))
    return events


def layout(client: redis.Redis, prefix: str) -> dict[bytes, Any]:
    """Every key under ``prefix`` (prefix removed) with its content and expiry in whole
    minutes (both stores write within the same minute of real time)."""
    found: dict[bytes, Any] = {}
    for key in client.scan_iter(match=prefix.encode() + b"*"):
        content = (
            client.get(key)
            if client.type(key) == b"string"
            else client.zrange(key, 0, -1, withscores=True)
        )
        found[key[len(prefix) :]] = (content, round(client.pttl(key) / 60_000))
    return found


async def test_a_batch_stores_exactly_what_single_writes_store(
    redis_url: str, namespaces: tuple[str, str], stores: tuple[RedisStore, RedisStore]
) -> None:
    """Keys, documents, index members, scores and expiries are identical after writing the
    same events one by one and as one batch; each document is the record's compact JSON."""
    single, batched = stores
    events = awkward_events(1_700_000_000.0)
    for event in events:
        await single.record_error_event(event)
    assert await batched.record_error_events(events) == len(events) - 2
    client = redis.Redis.from_url(redis_url)
    try:
        expected = layout(client, store_prefix(namespaces[0]))
        assert layout(client, store_prefix(namespaces[1])) == expected
        stored = client.get(store_prefix(namespaces[1]) + "error_events:item:new\nline")
    finally:
        client.close()
    assert len(expected) > len(events)
    first = events[3]
    assert stored == json.dumps(first.to_document(), separators=(",", ":")).encode()
    assert await batched.list_error_events(limit=100) == await single.list_error_events(limit=100)


async def test_a_batch_larger_than_one_zadd_is_indexed_whole(
    stores: tuple[RedisStore, RedisStore],
) -> None:
    """A batch putting 5,000 members in one index (more than Lua can unpack into one ZADD)
    is listed and counted whole, per filter too."""
    _, batched = stores
    events = [
        error_event(
            id=f"e{index}", occurred_at=1_700_000_000.0 - index / 10, fingerprint=f"fp-{index % 2}"
        )
        for index in range(5_000)
    ]
    assert await batched.record_error_events(events) == 5_000
    assert await batched.count_error_events() == 5_000
    assert (
        await batched.count_error_events(fingerprint="fp-1", severity=ErrorSeverity.HIGH) == 2_500
    )
    listed = await batched.list_error_events(limit=5_000)
    assert [event.id for event in listed] == [event.id for event in events]
