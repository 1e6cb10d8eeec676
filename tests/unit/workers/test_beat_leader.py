"""The beat leader lease and the scheduler that sends only while holding it (real Redis).

The lease's own clock is injected where the test is about how long a holder believes it
leads; expiry in Redis is the server's and is waited for in real time."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import redis
from celery import Celery

from _servers import start_redis_server
from _workers import fresh_namespace
from outlast.config import Settings
from outlast.errors import ConfigurationError
from outlast.resilience.shared._redis_link import UNAVAILABLE, RedisLink
from outlast.testing import FakeClock
from outlast.workers import create_app
from outlast.workers.beat._beat import LeaderScheduler
from outlast.workers.beat._leader_lease import LeaderLease


@pytest.fixture
def link(redis_url: str) -> Iterator[RedisLink]:
    """A link to the test Redis."""
    opened = RedisLink(redis_url)
    yield opened
    opened.close()


@pytest.fixture
def key(redis_key_prefix: str) -> str:
    """The lease's key (deleted after the test with the prefix)."""
    return f"{redis_key_prefix}beat:leader"


def test_only_one_process_holds_the_lease(
    link: RedisLink, key: str, redis_client: redis.Redis
) -> None:
    """The first hold takes the lease for its ttl; a second holder is refused."""
    first, second = LeaderLease(link, key, ttl=5), LeaderLease(link, key, ttl=5)
    assert first.hold() is True
    assert second.hold() is False
    assert (first.held, second.held) == (True, False)
    assert redis_client.get(key) == first.token.encode()
    assert 4_000 < redis_client.pttl(key) <= 5_000


def test_a_hold_renews_only_its_own_lease(
    link: RedisLink, key: str, redis_client: redis.Redis
) -> None:
    """The holder's hold extends the key back to the full ttl; a standby's leaves it alone."""
    holder, standby = LeaderLease(link, key, ttl=5), LeaderLease(link, key, ttl=5)
    assert holder.hold() is True
    redis_client.pexpire(key, 1_000)
    assert standby.hold() is False
    assert redis_client.pttl(key) <= 1_000
    assert holder.hold() is True
    assert redis_client.pttl(key) > 4_000


def test_a_standby_takes_over_when_the_leader_stops_renewing(
    link: RedisLink, key: str, redis_client: redis.Redis
) -> None:
    """Once Redis expires a silent leader's lease, the standby takes it and the old leader
    cannot renew the new holder's lease."""
    leader, standby = LeaderLease(link, key, ttl=0.3), LeaderLease(link, key, ttl=0.3)
    assert leader.hold() is True
    assert standby.hold() is False
    time.sleep(0.45)  # the lease lapses on the Redis server's clock, not one we inject
    assert standby.hold() is True
    assert leader.hold() is False
    assert leader.held is False
    assert redis_client.get(key) == standby.token.encode()


def test_release_deletes_only_the_holders_own_lease(
    link: RedisLink, key: str, redis_client: redis.Redis
) -> None:
    """A standby's release leaves the leader's lease; the leader's frees it for the standby."""
    leader, standby = LeaderLease(link, key, ttl=5), LeaderLease(link, key, ttl=5)
    assert leader.hold() is True
    standby.hold()
    standby.release()
    assert redis_client.get(key) == leader.token.encode()
    leader.release()
    assert redis_client.exists(key) == 0
    assert leader.held is False
    assert standby.hold() is True


def test_a_holder_stops_believing_it_leads_when_its_ttl_runs_out(link: RedisLink, key: str) -> None:
    """Without a renewal, held turns False one ttl after the hold was sent, on its own clock."""
    clock = FakeClock()
    lease = LeaderLease(link, key, ttl=10, clock=clock)
    assert lease.hold() is True
    clock.advance(9.9)
    assert lease.held is True
    clock.advance(0.2)
    assert lease.held is False
    assert lease.hold() is True  # the same token renews its lease
    assert lease.held is True


def test_a_leader_that_loses_redis_leads_no_more_and_raises_nothing() -> None:
    """When Redis stops answering, hold is UNAVAILABLE and held is False at once."""
    with start_redis_server() as server:
        link = RedisLink(server.url, retry_interval=0.0)
        lease = LeaderLease(link, "beat:leader", ttl=30)
        assert lease.hold() is True
        server.stop()
        assert lease.hold() is UNAVAILABLE
        assert lease.held is False
        lease.release()  # nothing to say, nothing raised
        link.close()


@pytest.fixture
def beat_app(redis_url: str) -> Iterator[tuple[Celery, redis.Redis, str]]:
    """An app with a 0.2 s schedule and a 3 s lease in a namespace of its own; the client
    and the name of the broker queue the schedule's task lands in."""
    with fresh_namespace(redis_url) as namespace:
        settings = Settings(
            broker_url=redis_url,
            redis_url=redis_url,
            namespace=namespace,
            retry_release_interval=0.2,
            beat_lease_ttl=3,
        )
        app = create_app(settings)
        client = redis.Redis.from_url(redis_url)
        yield app, client, f"outlast:{namespace}:monitoring"
        client.close()
        app.close()


def test_only_the_scheduler_holding_the_lease_sends(
    beat_app: tuple[Celery, redis.Redis, str],
) -> None:
    """Of two schedulers the standby skips what comes due and re-checks at a third of the
    ttl; it sends once the leader closes and gives the lease back."""
    app, client, queue = beat_app
    leader, standby = LeaderScheduler(app=app), LeaderScheduler(app=app)
    try:
        assert leader.tick() <= 1.0
        assert leader.lease.held
        assert standby.tick() <= 1.0
        assert not standby.lease.held
        time.sleep(0.25)  # Celery's schedule comes due on its own (real) clock
        assert standby.tick() == 0  # the due entry was taken off the schedule, and skipped
        assert client.llen(queue) == 0
        assert leader.tick() == 0
        assert client.llen(queue) == 1
        leader.close()
        standby.tick()  # takes the lease (and sends what came due meanwhile on a slow machine)
        assert standby.lease.held
        sent = client.llen(queue)
        time.sleep(0.25)  # Celery's schedule comes due on its own (real) clock
        standby.tick()
        assert client.llen(queue) == sent + 1
    finally:
        leader.close()
        standby.close()


def test_schedulers_recheck_the_lease_at_a_third_of_its_ttl(redis_url: str) -> None:
    """With nothing due for a minute, leader and standby still ask to wake within ttl/3."""
    with fresh_namespace(redis_url) as namespace:
        settings = Settings(
            redis_url=redis_url, namespace=namespace, retry_release_interval=60, beat_lease_ttl=3
        )
        app = create_app(settings)
        leader, standby = LeaderScheduler(app=app), LeaderScheduler(app=app)
        try:
            assert 0.9 < leader.tick() <= 1.0
            assert leader.lease.held
            assert 0.9 < standby.tick() <= 1.0
            assert not standby.lease.held
        finally:
            leader.close()
            standby.close()
            app.close()


def test_the_scheduler_needs_an_outlast_app() -> None:
    """A plain Celery app has no lease settings: a clear configuration error."""
    with pytest.raises(ConfigurationError, match="outlast_beat_lease"):
        LeaderScheduler(app=Celery("plain"), lazy=True)
