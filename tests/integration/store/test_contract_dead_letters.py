"""Store contract, dead letters: every backend stores, lists, filters, purges and marks
replays the same way (see conftest.py for the backends and how they are chosen)."""

from __future__ import annotations

import asyncio

from outlast.store import DeadLetter, Store

from ._store_backends import Backend
from ._store_factories import TRICKY_PAYLOAD, dead_letter


async def test_dead_letter_round_trips_every_field(store: Store) -> None:
    """A dead letter with every field set comes back from get and list exactly as stored."""
    letter = DeadLetter(
        id="letter-1",
        task_name="outlast.payments.charge",
        task_id="celery-task-7",
        queue="payments",
        idempotency_key="charge:order-1",
        args=["order-1", 12.5, None, True, [1, [2]]],
        kwargs=dict(TRICKY_PAYLOAD),
        error_type="GatewayError",
        error_message="card declined: insufficient funds",
        traceback='Traceback (most recent call last):\n  File "x.py", line 1\nGatewayError',
        reason="exhausted",
        attempts=7,
        first_attempt_at=500.25,
        failed_at=1_000.5,
        replay_count=2,
        replayed_at=1_200.0,
        replay_task_id="celery-task-9",
    )
    assert await store.add_dead_letter(letter) == letter
    assert await store.get_dead_letter("letter-1") == letter
    assert await store.list_dead_letters() == [letter]


async def test_unknown_dead_letter_is_none(store: Store) -> None:
    """Getting, deleting or marking a dead letter that was never stored finds nothing."""
    assert await store.get_dead_letter("missing") is None
    assert await store.delete_dead_letter("missing") is False
    assert await store.mark_dead_letter_replayed("missing") is None


async def test_adding_an_existing_id_keeps_the_first_letter(store: Store) -> None:
    """A redelivered task that dead-letters the same id twice leaves the first record."""
    first = dead_letter(id="same", error_message="first failure")
    assert await store.add_dead_letter(first) == first
    assert await store.add_dead_letter(dead_letter(id="same", error_message="second")) == first
    assert await store.count_dead_letters() == 1


async def test_dead_letters_list_newest_first_and_page(store: Store) -> None:
    """Listing orders by failure time, newest first (ties by id, descending), and pages."""
    times = {"a": 10.0, "b": 30.0, "c": 20.0, "d": 30.0, "e": 5.0}
    for letter_id, failed_at in times.items():
        await store.add_dead_letter(dead_letter(id=letter_id, failed_at=failed_at))
    listed = [letter.id for letter in await store.list_dead_letters()]
    assert listed == ["d", "b", "c", "a", "e"]
    assert [x.id for x in await store.list_dead_letters(limit=2, offset=1)] == ["b", "c"]
    assert await store.list_dead_letters(limit=0) == []
    assert await store.list_dead_letters(offset=5) == []


async def test_dead_letters_filter_by_task_name(store: Store) -> None:
    """Filtering by task name lists and counts only that task's letters."""
    for index in range(3):
        await store.add_dead_letter(dead_letter(task_name="emails.send", failed_at=index))
    await store.add_dead_letter(dead_letter(task_name="payments.charge", failed_at=9.0))
    emails = await store.list_dead_letters(task_name="emails.send")
    assert [letter.failed_at for letter in emails] == [2.0, 1.0, 0.0]
    assert await store.count_dead_letters(task_name="emails.send") == 3
    assert await store.count_dead_letters(task_name="payments.charge") == 1
    assert await store.count_dead_letters(task_name="nothing") == 0
    assert await store.count_dead_letters() == 4


async def test_delete_dead_letter_removes_it_everywhere(store: Store) -> None:
    """A deleted letter is gone from get, every listing and every count."""
    await store.add_dead_letter(dead_letter(id="gone", task_name="emails.send"))
    await store.add_dead_letter(dead_letter(id="kept", task_name="emails.send"))
    assert await store.delete_dead_letter("gone") is True
    assert await store.get_dead_letter("gone") is None
    assert [x.id for x in await store.list_dead_letters(task_name="emails.send")] == ["kept"]
    assert await store.count_dead_letters() == 1


async def test_purge_counts_what_it_deletes(store: Store) -> None:
    """Purging by task and by age deletes exactly the matching letters and says how many."""
    for index in range(4):
        await store.add_dead_letter(dead_letter(task_name="a", failed_at=float(index)))
        await store.add_dead_letter(dead_letter(task_name="b", failed_at=float(index)))
    assert await store.purge_dead_letters(task_name="a", before=1.0) == 2
    assert await store.count_dead_letters(task_name="a") == 2
    assert await store.purge_dead_letters(before=2.0) == 4  # a@2, b@0, b@1, b@2
    assert await store.count_dead_letters() == 2
    assert await store.purge_dead_letters() == 2
    assert await store.purge_dead_letters() == 0
    assert await store.list_dead_letters() == []


async def test_purge_handles_more_letters_than_one_batch(store: Store) -> None:
    """A purge larger than the Redis backend's batch still deletes and counts every letter."""
    await asyncio.gather(*(store.add_dead_letter(dead_letter(failed_at=i)) for i in range(1100)))
    assert await store.purge_dead_letters() == 1100
    assert await store.count_dead_letters() == 0


async def test_mark_replayed_records_each_replay(store: Store, backend: Backend) -> None:
    """Marking a replay counts it and keeps when and as which task; the rest is unchanged."""
    letter = await store.add_dead_letter(dead_letter(id="r1"))
    first = await store.mark_dead_letter_replayed("r1", replay_task_id="t-1", at=2_000.0)
    assert first is not None
    assert (first.replay_count, first.replayed_at, first.replay_task_id) == (1, 2_000.0, "t-1")
    second = await store.mark_dead_letter_replayed("r1")
    assert second is not None
    assert (second.replay_count, second.replayed_at) == (2, backend.clock.time())
    assert second.replay_task_id is None
    assert await store.get_dead_letter("r1") == second
    assert (second.args, second.kwargs, second.failed_at) == (letter.args, letter.kwargs, 1_000.0)


async def test_concurrent_replay_marks_are_all_counted(backend: Backend) -> None:
    """Replays marked at once through two stores are each counted (no lost update)."""
    one, two = backend.store(), backend.store()
    await one.add_dead_letter(dead_letter(id="busy"))
    await asyncio.gather(*(store.mark_dead_letter_replayed("busy") for store in [one, two] * 10))
    marked = await one.get_dead_letter("busy")
    assert marked is not None
    assert marked.replay_count == 20
