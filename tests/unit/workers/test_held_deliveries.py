"""The task channel's QoS records each message a worker holds with kombu's own record
(same MULTI, same score) and drops it on every path kombu drops it: ack, reject, restore."""

from __future__ import annotations

import redis

from _orphan_support import QUEUE, close_channel, kombu_redis, publish, take
from outlast.workers.orphans._held_deliveries import HeldQoS, install


def _scores(client: redis.Redis, key: str) -> dict[bytes, float]:
    pairs: list[tuple[bytes, float]] = client.zrange(key, 0, -1, withscores=True)  # type: ignore[assignment]
    return dict(pairs)


def test_a_delivery_is_held_with_kombus_score_and_an_ack_releases_it(
    redis_url: str, redis_key_prefix: str, redis_client: redis.Redis
) -> None:
    """Held tags are exactly kombu's unacked tags, scored alike; an ack drops one from both."""
    with kombu_redis(redis_url, redis_key_prefix) as (connection, keys):
        publish(connection, [{"n": n} for n in range(3)])
        _, messages = take(connection, keys, "w1", 3)
        held = _scores(redis_client, keys.held("w1"))
        assert held == _scores(redis_client, keys.unacked_index)
        assert set(held) == {m.delivery_tag.encode() for m in messages}
        messages[0].ack()
        assert _scores(redis_client, keys.held("w1")) == _scores(redis_client, keys.unacked_index)
        assert messages[0].delivery_tag.encode() not in _scores(redis_client, keys.held("w1"))
        assert redis_client.hlen(keys.unacked) == 2


def test_reject_and_restore_at_close_release_what_was_held(
    redis_url: str, redis_key_prefix: str, redis_client: redis.Redis
) -> None:
    """A rejected message and those restored when the channel closes leave the held set."""
    with kombu_redis(redis_url, redis_key_prefix) as (connection, keys):
        publish(connection, [{"n": n} for n in range(3)])
        channel, messages = take(connection, keys, "w1", 3)
        messages[0].reject(requeue=True)
        messages[1].reject(requeue=False)
        assert redis_client.zcard(keys.held("w1")) == 1
        close_channel(channel)  # kombu restores what is still unacknowledged
        assert redis_client.zcard(keys.held("w1")) == 0
        assert redis_client.hlen(keys.unacked) == 0
        assert redis_client.llen(f"{redis_key_prefix}{QUEUE}") == 2


def test_install_keeps_a_qos_that_already_holds_messages(
    redis_url: str, redis_key_prefix: str
) -> None:
    """A channel that received messages keeps its QoS (its deliveries would be forgotten)."""
    with kombu_redis(redis_url, redis_key_prefix) as (connection, _):
        publish(connection, [{"n": 1}])
        channel = connection.channel()
        assert channel.basic_get(QUEUE, no_ack=False) is not None
        assert not install(channel, held_key="held:other")
        assert not isinstance(channel.qos, HeldQoS)
        assert not install(object(), held_key="held:other")
