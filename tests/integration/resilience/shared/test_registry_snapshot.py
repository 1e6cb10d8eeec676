"""Each process's registries published to Redis: what a reader gets, and what it drops.

A snapshot carries this process's breakers and bulkheads as their ``stats()`` say; a
snapshot past its expiry (a process that died without withdrawing it) is not returned and
is deleted; a stopped publisher withdraws its own; a Redis that does not answer reads as
None, and publishing to it returns False without raising.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import time
import uuid
from collections.abc import Callable, Iterator

import pytest
import redis

from _forked import finish
from _servers import delete_keys_with_prefix
from outlast.resilience import get_bulkhead, get_circuit_breaker
from outlast.resilience.shared._redis_link import RedisLink
from outlast.resilience.shared._registry_commands import (
    COMMAND_TTL,
    CommandFollower,
    issue_command,
)
from outlast.resilience.shared._registry_snapshot import (
    RegistryPublisher,
    read_snapshots,
    snapshots_key,
)


@pytest.fixture
def link(redis_url: str) -> Iterator[RedisLink]:
    """A link on a namespace of this test's own; its keys are deleted afterwards."""
    namespace = f"snap-test-{uuid.uuid4().hex[:12]}"
    made = RedisLink(redis_url, namespace=namespace)
    yield made
    client = redis.Redis.from_url(redis_url)
    delete_keys_with_prefix(client, f"outlast:{{{namespace}:")
    client.close()
    made.close()


def test_snapshot_carries_this_process_registries(link: RedisLink) -> None:
    """A published snapshot holds each breaker's and bulkhead's stats, by name."""
    get_circuit_breaker("inventory", scope="local").force_open()
    get_bulkhead("exports", 4, scope="local")
    publisher = RegistryPublisher(link, interval=1.0)
    assert publisher.publish_once()
    [snapshot] = read_snapshots(link) or []
    assert snapshot["process"] == publisher.process_id
    assert snapshot["breakers"]["inventory"]["state"] == "open"
    assert snapshot["bulkheads"]["exports"]["capacity"] == 4


def test_expired_snapshot_is_dropped_and_deleted(link: RedisLink) -> None:
    """A snapshot older than its ttl is not read, and the reader deletes it."""
    publisher = RegistryPublisher(link, interval=1.0, ttl=3.0)
    publisher.publish_once()
    now = link.clock.time()
    assert len(read_snapshots(link, now=now) or []) == 1
    assert read_snapshots(link, now=now + 10) == []
    assert not link.client.hexists(snapshots_key(link), publisher.process_id)


def test_stopped_publisher_withdraws_its_snapshot(link: RedisLink) -> None:
    """Stopping the thread deletes this process's snapshot at once."""
    publisher = RegistryPublisher(link, interval=0.05).start()
    assert publisher.running
    publisher.stop()
    assert not publisher.running
    assert read_snapshots(link) == []


def test_unreachable_redis_never_raises() -> None:
    """Publishing to a Redis that does not answer is False; reading it is None."""
    dead = RedisLink("redis://127.0.0.1:1/0", namespace="nowhere", socket_timeout=0.2)
    assert RegistryPublisher(dead, interval=1.0).publish_once() is False
    assert read_snapshots(dead) is None
    dead.close()


def test_a_breaker_that_changes_state_is_published_at_once(link: RedisLink) -> None:
    """With a minute between rounds, a breaker opened after the first round is in Redis as
    open within a second: a transition wakes the publisher."""
    breaker = get_circuit_breaker(f"prompt-{uuid.uuid4().hex[:6]}", scope="local")
    publisher = RegistryPublisher(link, interval=60.0).start()
    try:
        wait_for(lambda: _state(link, breaker.name) == "closed")
        breaker.force_open()
        wait_for(lambda: _state(link, breaker.name) == "open")
    finally:
        publisher.stop()


def _state(link: RedisLink, name: str) -> str | None:
    snapshots = read_snapshots(link) or []
    states = [s["breakers"][name]["state"] for s in snapshots if name in s["breakers"]]
    return states[0] if states else None


def wait_for(condition: Callable[[], bool], timeout: float = 1.0) -> None:
    """Poll ``condition`` for ``timeout`` seconds; fail if it never holds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "not published within the timeout"
        time.sleep(0.01)


def test_a_command_to_a_local_breaker_is_applied_once(link: RedisLink) -> None:
    """An operator's "open" reaches this process's local breaker through its publisher and
    is published; reset by hand afterwards, later rounds do not open it again."""
    breaker = get_circuit_breaker(f"cmd-{uuid.uuid4().hex[:6]}", scope="local")
    publisher = RegistryPublisher(link, interval=0.1).start()
    try:
        assert issue_command(link, breaker.name, "open")
        wait_for(lambda: _state(link, breaker.name) == "open")
        breaker.reset()
        for _ in range(3):  # three more rounds, run here rather than waited for
            assert publisher.publish_once()
        assert breaker.state == "closed"
    finally:
        publisher.stop()


def test_a_command_past_its_time_or_for_another_breaker_moves_nothing() -> None:
    """A command older than COMMAND_TTL, one for a breaker this process lacks, and a
    malformed one are skipped; a fresh one for a local breaker here opens it."""
    breaker = get_circuit_breaker(f"cmd-{uuid.uuid4().hex[:6]}", scope="local")
    now = time.time()

    def command(action: str, at: float) -> bytes:
        return json.dumps({"id": uuid.uuid4().hex, "action": action, "issued_at": at}).encode()

    follower = CommandFollower()
    stale = {breaker.name.encode(): command("open", now - COMMAND_TTL - 1)}
    assert follower.apply(stale, now) == []
    assert follower.apply({b"nobody-here": command("open", now), b"x": b"{"}, now) == []
    assert breaker.state == "closed"
    assert follower.apply({breaker.name.encode(): command("open", now)}, now) == [breaker.name]
    assert breaker.state == "open"


def _child_sees_the_copy_stay_quiet(publisher: RegistryPublisher) -> None:
    """In a forked child: a transition reaches the parent's (copied) publisher, which must
    leave its copied event alone (exit 0)."""
    breaker = get_circuit_breaker(f"child-{uuid.uuid4().hex[:6]}", scope="local")
    breaker.force_open()
    os._exit(0 if not publisher._wake.is_set() else 3)


def test_a_forked_childs_copy_of_the_publisher_ignores_transitions(link: RedisLink) -> None:
    """The parent's publisher, copied into a forked child, never touches its copied event
    when a breaker moves there (its lock may have been copied held)."""
    publisher = RegistryPublisher(link, interval=60.0).start()
    try:
        time.sleep(0.1)  # past the first round: the thread waits on its event
        child = multiprocessing.get_context("fork").Process(
            target=_child_sees_the_copy_stay_quiet, args=(publisher,)
        )
        child.start()
        assert finish(child, 20) == 0
    finally:
        publisher.stop()
