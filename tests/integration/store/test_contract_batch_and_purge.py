"""Store contract, batched event writes and purges: ``record_error_events`` stores as many
single writes would, and the ``purge_*`` methods delete exactly what is old enough, on
every backend."""

from __future__ import annotations

import pytest

from outlast.store import AlertStatus, InvalidRecordError, Store

from ._store_backends import Backend
from ._store_factories import alert, error_event, snapshot


async def test_batched_events_store_like_single_writes(store: Store, backend: Backend) -> None:
    """A batch of 300 events is listed and counted back whole, filters included."""
    now = backend.clock.time()
    events = [
        error_event(id=f"e{i}", occurred_at=now - i, fingerprint=f"fp-{i % 3}") for i in range(300)
    ]
    assert await store.record_error_events(events) == 300
    assert await store.count_error_events() == 300
    assert await store.count_error_events(fingerprint="fp-1") == 100
    listed = await store.list_error_events(limit=300)
    assert sorted(e.id for e in listed) == sorted(e.id for e in events)
    assert listed[0] == events[0]


async def test_batched_events_keep_the_first_of_an_id(store: Store, backend: Backend) -> None:
    """Ids already stored (or repeated within the batch) are skipped, the rest still land,
    and the count says how many were new."""
    now = backend.clock.time()
    await store.record_error_event(error_event(id="old", occurred_at=now, message="first"))
    batch = [
        error_event(id="old", occurred_at=now, message="second"),
        error_event(id="new", occurred_at=now),
        error_event(id="new", occurred_at=now),
    ]
    assert await store.record_error_events(batch) == 1
    assert {e.id: e.message for e in await store.list_error_events()} == {
        "old": "first",
        "new": "payment gateway timed out",
    }


async def test_batched_events_past_retention_are_not_stored(backend: Backend) -> None:
    """An event already older than the retention is left out of a batch, as of a single
    write; an empty batch writes nothing."""
    store = backend.store(event_retention=60)
    now = backend.clock.time()
    batch = [
        error_event(id="stale", occurred_at=now - 120),
        error_event(id="fresh", occurred_at=now),
    ]
    assert await store.record_error_events(batch) == 1
    assert [e.id for e in await store.list_error_events()] == ["fresh"]
    assert await store.record_error_events([]) == 0


async def test_batched_events_refuse_other_records(store: Store) -> None:
    """A batch holding something other than an ErrorEvent is refused before any write."""
    with pytest.raises(InvalidRecordError):
        await store.record_error_events([error_event(id="a"), snapshot()])  # type: ignore[list-item]
    assert await store.count_error_events() == 0


async def test_purge_error_events_deletes_up_to_the_time(store: Store, backend: Backend) -> None:
    """Events at or before ``before`` go, later ones stay, and the count is exact."""
    now = backend.clock.time()
    await store.record_error_events(
        [error_event(id=f"e{i}", occurred_at=now - 10 * i) for i in range(6)]
    )
    assert await store.purge_error_events(before=now - 30) == 3
    assert sorted(e.id for e in await store.list_error_events()) == ["e0", "e1", "e2"]
    assert await store.count_error_events(fingerprint="fp-1") == 0
    assert await store.purge_error_events(before=now - 30) == 0


async def test_purge_snapshots_by_kind_and_time(store: Store, backend: Backend) -> None:
    """Only snapshots of the kind asked for, taken at or before ``before``, go."""
    now = backend.clock.time()
    await store.put_snapshot(snapshot(id="s-old", taken_at=now - 100))
    await store.put_snapshot(snapshot(id="s-new", taken_at=now))
    await store.put_snapshot(snapshot(id="silence", kind="silence", taken_at=now - 100))
    assert await store.purge_snapshots(before=now - 50, kind="monitoring_stats") == 1
    assert sorted(s.id for s in await store.list_snapshots()) == ["s-new", "silence"]


async def test_purge_resolved_alerts_never_touches_active_ones(
    store: Store, backend: Backend
) -> None:
    """Alerts resolved at or before ``before`` go; a later resolution and an active alert
    stay."""
    now = backend.clock.time()
    for name, created in (("old", now - 100), ("late", now - 100), ("live", now - 100)):
        await store.upsert_alert(alert(id=name, created_at=created, updated_at=created))
    await store.resolve_alert("old", at=now - 90)
    await store.resolve_alert("late", at=now - 10)
    assert await store.purge_resolved_alerts(before=now - 50) == 1
    assert await store.get_alert("old") is None
    resolved = await store.list_alerts(status=AlertStatus.RESOLVED)
    assert [a.id for a in resolved] == ["late"]
    assert [a.id for a in await store.list_alerts()] == ["live"]


async def test_purges_need_a_time(store: Store) -> None:
    """A purge without a time is refused (it would delete everything)."""
    with pytest.raises(InvalidRecordError):
        await store.purge_error_events(before=None)  # type: ignore[arg-type]
