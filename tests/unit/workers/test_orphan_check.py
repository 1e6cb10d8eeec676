"""The orphan check moves a dead worker's unacknowledged messages back to the lists kombu
restores them to, once, and never touches a live worker's or a message delivered since."""

from __future__ import annotations

import base64
import json
import threading
from typing import Any

import redis

from _orphan_support import QUEUE, kombu_redis, publish, take
from outlast.workers.orphans._orphan_keys import OrphanKeys
from outlast.workers.orphans._orphans import KombuRestore, OrphanCheck


def _register(client: redis.Redis, keys: OrphanKeys, *, dead: str, alive: str = "") -> None:
    client.sadd(keys.workers, dead, *([alive] if alive else []))
    if alive:
        client.set(keys.alive(alive), "1", px=60_000)


def _listed(client: redis.Redis, key: str) -> list[dict[str, Any]]:
    return [json.loads(raw) for raw in client.lrange(key, 0, -1)]


def _body(message: dict[str, Any]) -> Any:
    return json.loads(base64.b64decode(message["body"]))


def test_a_dead_workers_messages_go_back_to_their_queue_and_priority_list(
    redis_url: str, redis_key_prefix: str, redis_client: redis.Redis
) -> None:
    """Moved to kombu's lists (priority too), marked redelivered; unacked, held set and
    registry entry gone; the live worker's messages stay where they are."""
    with kombu_redis(redis_url, redis_key_prefix) as (connection, keys):
        publish(connection, [{"n": n} for n in range(2)])
        publish(connection, [{"n": 9}], priority=5)
        take(connection, keys, "dead", 3)
        publish(connection, [{"n": 7}])
        take(connection, keys, "alive", 1)
        _register(redis_client, keys, dead="dead", alive="alive")
        check = OrphanCheck(redis_client, keys, ttl=1.0)
        report = check.run(lambda: KombuRestore(connection.channel()))
        assert report.moved == {"dead": 3}
        plain = _listed(redis_client, f"{redis_key_prefix}{QUEUE}")
        urgent = _listed(redis_client, f"{redis_key_prefix}{QUEUE}\x06\x163")
        assert [_body(m) for m in urgent] == [{"n": 9}]
        assert sorted(_body(m)["n"] for m in plain) == [0, 1]
        assert all(m["headers"]["redelivered"] for m in plain + urgent)
        assert redis_client.hlen(keys.unacked) == 1  # the live worker's
        assert redis_client.zcard(keys.held("alive")) == 1
        assert not redis_client.exists(keys.held("dead"))
        assert redis_client.smembers(keys.workers) == {b"alive"}


def test_a_second_check_and_racing_checks_move_each_message_once(
    redis_url: str, redis_key_prefix: str, redis_client: redis.Redis
) -> None:
    """Four checks at once move the 20 messages once in all; a later check moves none."""
    with kombu_redis(redis_url, redis_key_prefix) as (connection, keys):
        publish(connection, [{"n": n} for n in range(20)])
        take(connection, keys, "dead", 20)
        _register(redis_client, keys, dead="dead")
        totals: list[int] = []

        def check() -> None:
            client = redis.Redis.from_url(redis_url)
            with connection.clone() as own:
                found = OrphanCheck(client, keys, ttl=1.0).requeue(
                    "dead", KombuRestore(own.channel())
                )
            totals.append(found)
            client.close()

        threads = [threading.Thread(target=check) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert sum(totals) == 20
        assert redis_client.llen(f"{redis_key_prefix}{QUEUE}") == 20
        again = OrphanCheck(redis_client, keys, ttl=1.0)
        assert again.run(lambda: KombuRestore(connection.channel())).moved == {}
        assert redis_client.llen(f"{redis_key_prefix}{QUEUE}") == 20


def test_a_message_delivered_again_since_is_not_the_dead_workers(
    redis_url: str, redis_key_prefix: str, redis_client: redis.Redis
) -> None:
    """A tag restored and taken by another worker (a new score) stays with that worker."""
    with kombu_redis(redis_url, redis_key_prefix) as (connection, keys):
        publish(connection, [{"n": 1}])
        _, (message,) = take(connection, keys, "dead", 1)
        # kombu's sweep on another channel: the dead worker's held entry stays behind
        connection.channel().qos.restore_by_tag(message.delivery_tag)
        assert redis_client.zcard(keys.held("dead")) == 1
        take(connection, keys, "alive", 1)
        _register(redis_client, keys, dead="dead", alive="alive")
        report = OrphanCheck(redis_client, keys, ttl=1.0).run(
            lambda: KombuRestore(connection.channel())
        )
        assert report.moved == {"dead": 0}
        assert redis_client.hlen(keys.unacked) == 1
        assert redis_client.zcard(keys.held("alive")) == 1
        assert redis_client.llen(f"{redis_key_prefix}{QUEUE}") == 0


def test_a_worker_beating_again_keeps_its_messages(
    redis_url: str, redis_key_prefix: str, redis_client: redis.Redis
) -> None:
    """A heartbeat back before the move (a worker that was only late) keeps what it holds."""
    with kombu_redis(redis_url, redis_key_prefix) as (connection, keys):
        publish(connection, [{"n": 1}, {"n": 2}])
        take(connection, keys, "late", 2)
        _register(redis_client, keys, dead="late")
        check = OrphanCheck(redis_client, keys, ttl=1.0)
        assert check.dead_workers() == ["late"]
        redis_client.set(keys.alive("late"), "1", px=60_000)
        assert check.requeue("late", KombuRestore(connection.channel())) == 0
        assert redis_client.zcard(keys.held("late")) == 2
        assert redis_client.hlen(keys.unacked) == 2


def test_no_worker_is_dead_while_redis_is_younger_than_a_heartbeat(
    redis_url: str, redis_key_prefix: str, redis_client: redis.Redis
) -> None:
    """A Redis restarted under live workers lost their beats: no one is declared dead."""
    with kombu_redis(redis_url, redis_key_prefix) as (_, keys):
        _register(redis_client, keys, dead="w1")
        uptime = float(redis_client.info("server")["uptime_in_seconds"])
        assert OrphanCheck(redis_client, keys, ttl=uptime + 3600).dead_workers() == []
        assert OrphanCheck(redis_client, keys, ttl=1.0).dead_workers() == ["w1"]
