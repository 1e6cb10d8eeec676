"""The ledger sweep on a real Redis: what it sends again, what it leaves, what it drops.

Messages are written as kombu's Redis transport writes them (a queue list of JSON
messages, the ``unacked`` hash of ``[message, exchange, routing key]``); result states and
the sender are the sweep's injected seams, time is the ``now`` it is given.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import redis

from outlast.workers.sending._ledger import Ledger, LedgerEntry, record_sent
from outlast.workers.sending._ledger_sweep import BrokerView, SweepReport, sweep

GRACE = 30.0


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    opened = redis.Redis.from_url(redis_url)
    yield opened
    opened.close()


class World:
    """A ledger, the broker's keys, result states and a recording sender."""

    def __init__(self, client: redis.Redis, namespace: str) -> None:
        self.client = client
        self.prefix = f"outlast:{namespace}:"
        self.ledger = Ledger(client, namespace=namespace)
        self.states: dict[str, str] = {}
        self.sent: list[LedgerEntry] = []

    def enqueued(self, task_id: str, *, at: float) -> LedgerEntry:
        entry = LedgerEntry(task_id=task_id, name="tests.noop", args=[1], kwargs={}, queue="q")
        record_sent(self.ledger, entry, sent_at=at)
        return entry

    def in_queue(self, task_id: str) -> None:
        self.client.lpush(f"{self.prefix}q", json.dumps(_message(task_id)))

    def unacked(self, task_id: str) -> None:
        value = json.dumps([_message(task_id), "q", "q"])
        self.client.hset(f"{self.prefix}unacked", f"tag-{task_id}", value)

    def sweep(self, now: float, *, page: int = 500) -> SweepReport:
        return sweep(
            self.ledger, broker=BrokerView(self.client, prefix=self.prefix),
            states=lambda ids: {t: self.states.get(t, "PENDING") for t in ids},
            send=self.sent.append, now=now, grace=GRACE, page=page,
        )  # fmt: skip


def _message(task_id: str) -> dict[str, object]:
    return {"body": "", "headers": {"id": task_id, "task": "tests.noop"}, "properties": {}}


@pytest.fixture
def world(client: redis.Redis, namespace: str) -> World:
    return World(client, namespace)


def test_work_found_nowhere_on_two_sweeps_is_sent_again_once(world: World) -> None:
    """Never started, in no queue, not unacked: a suspect at the first sweep, sent again
    (same entry) at the second, and not again at once: its grace starts over."""
    entry = world.enqueued("lost-1", at=0.0)
    first = world.sweep(now=GRACE + 1)
    second = world.sweep(now=GRACE + 2)
    third = world.sweep(now=GRACE + 3)
    assert (first.resent, second.resent, third.resent) == (0, 1, 0)
    assert world.sent == [entry]


def test_work_in_a_queue_or_unacknowledged_is_never_sent_again(world: World) -> None:
    """A message waiting in its queue, or delivered and not acknowledged, is left alone."""
    world.enqueued("queued-1", at=0.0)
    world.enqueued("held-1", at=0.0)
    world.in_queue("queued-1")
    world.unacked("held-1")
    reports = [world.sweep(now=GRACE + n) for n in range(1, 4)]
    assert world.sent == []
    assert [r.suspects for r in reports] == [0, 0, 0]


def test_a_suspect_seen_again_starts_its_count_over(world: World) -> None:
    """Lost-looking once, then found unacknowledged (a move between reads): it needs two
    more sweeps in a row that find it nowhere before it is sent again."""
    world.enqueued("moving-1", at=0.0)
    world.sweep(now=GRACE + 1)
    world.unacked("moving-1")
    world.sweep(now=GRACE + 2)
    world.client.delete(f"{world.prefix}unacked")
    world.sweep(now=GRACE + 3)
    assert world.sent == []
    world.sweep(now=GRACE + 4)
    assert [e.task_id for e in world.sent] == ["moving-1"]


def test_started_work_leaves_the_ledger_and_young_work_is_not_looked_at(world: World) -> None:
    """An entry with a result state is dropped; one inside its grace is not even checked."""
    world.enqueued("started-1", at=0.0)
    world.enqueued("done-1", at=0.0)
    world.enqueued("young-1", at=GRACE)
    world.states.update({"started-1": "STARTED", "done-1": "SUCCESS"})
    report = world.sweep(now=GRACE + 1)
    assert (report.checked, report.started) == (2, 2)
    assert world.ledger.older_than(GRACE * 10, limit=10) == ["young-1"]


def test_one_sweep_goes_through_every_page(world: World) -> None:
    """Pages of two: five started entries are all dropped and the lost one behind them,
    queued entries in front, is found and sent again at the second sweep."""
    for n in range(3):
        world.enqueued(f"queued-{n}", at=0.0)
        world.in_queue(f"queued-{n}")
    for n in range(5):
        world.enqueued(f"started-{n}", at=1.0)
        world.states[f"started-{n}"] = "SUCCESS"
    world.enqueued("lost-1", at=2.0)
    first = world.sweep(now=GRACE + 3, page=2)
    world.sweep(now=GRACE + 4, page=2)
    assert (first.started, first.suspects) == (5, 1)
    assert [e.task_id for e in world.sent] == ["lost-1"]
    remaining = world.ledger.older_than(GRACE * 10, limit=20)
    assert sorted(remaining) == ["lost-1", "queued-0", "queued-1", "queued-2"]


@pytest.mark.parametrize("state", ["RETRY", "PARKED"])
def test_a_task_waiting_on_its_retry_stays_and_a_lost_retry_is_sent_again(
    world: World, state: str
) -> None:
    """RETRY (on the broker) and PARKED (released from the store) mean an attempt ran and
    the next has not started: the entry (the retry, as recorded when it was sent) stays,
    and found nowhere on two sweeps it is sent again."""
    world.enqueued("retrying-1", at=0.0)
    world.states["retrying-1"] = state
    assert world.sweep(now=GRACE + 1).started == 0
    world.sweep(now=GRACE + 2)
    assert [e.task_id for e in world.sent] == ["retrying-1"]
