"""A worker's heartbeat: a key that lapses, an entry in the registry, a lapse it notices
itself, and the orphan check run from the heartbeat thread when it is due."""

from __future__ import annotations

import time

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from outlast.workers.orphans._heartbeat import Heartbeat, HeartbeatThread
from outlast.workers.orphans._orphan_keys import OrphanKeys


def _keys(prefix: str) -> OrphanKeys:
    return OrphanKeys(
        base=f"{prefix}orphans", keyprefix=prefix,
        unacked=f"{prefix}unacked", unacked_index=f"{prefix}unacked_index",
    )  # fmt: skip


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds

    async def asleep(self, seconds: float) -> None:
        self.now += seconds


def test_a_beat_registers_the_worker_and_lapses_after_its_ttl(
    redis_client: redis.Redis, redis_key_prefix: str
) -> None:
    """The key expires after the TTL; the next beat renews it and reports the lapse."""
    keys = _keys(redis_key_prefix)
    heartbeat = Heartbeat(redis_client, keys, "w1", ttl=0.3)
    assert heartbeat.beat()
    assert redis_client.smembers(keys.workers) == {b"w1"}
    assert 0 < redis_client.pttl(keys.alive("w1")) <= 300
    assert heartbeat.beat()  # in time
    time.sleep(0.5)
    assert not redis_client.exists(keys.alive("w1"))
    assert not heartbeat.beat()  # lapsed, and it says so
    assert redis_client.exists(keys.alive("w1"))


def test_the_thread_runs_the_check_every_check_interval(
    redis_client: redis.Redis, redis_key_prefix: str
) -> None:
    """Ticks beat every time; the check runs only once its interval has passed."""
    clock, checks = _Clock(), []
    heartbeat = Heartbeat(redis_client, _keys(redis_key_prefix), "w1", ttl=5.0, clock=clock)
    thread = HeartbeatThread(
        heartbeat, interval=2.0, check=lambda: checks.append(clock.now), check_interval=5.0,
        clock=clock,
    )  # fmt: skip
    for _ in range(6):
        clock.sleep(2.0)
        thread.tick()
    assert heartbeat.beats == 6
    assert checks == [106.0, 112.0]


def test_a_failing_check_or_beat_does_not_stop_the_thread(redis_key_prefix: str) -> None:
    """A Redis that does not answer and a check that raises are logged; the next tick runs."""
    dead = redis.Redis(host="127.0.0.1", port=1, retry=Retry(NoBackoff(), 0))
    clock, calls = _Clock(), []

    def check() -> None:
        calls.append(1)
        raise RuntimeError("broken")

    heartbeat = Heartbeat(dead, _keys(redis_key_prefix), "w1", ttl=5.0, clock=clock)
    thread = HeartbeatThread(heartbeat, interval=1.0, check=check, check_interval=0, clock=clock)
    thread.tick()
    thread.tick()
    assert calls == [1, 1]
