"""kombu on the test Redis for the orphan unit tests: a connection under a key prefix of
the test's own, a direct-exchange queue like Outlast's, publishing, and taking messages
on a channel whose QoS records what "its worker" holds."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import kombu.connection
import kombu.entity

from outlast.workers.orphans._held_deliveries import install
from outlast.workers.orphans._orphan_keys import OrphanKeys

__all__ = ["QUEUE", "close_channel", "kombu_redis", "publish", "take"]

QUEUE = "orphan-test"

Connection: Callable[..., Any] = kombu.connection.Connection


@contextlib.contextmanager
def kombu_redis(redis_url: str, prefix: str) -> Iterator[tuple[Any, OrphanKeys]]:
    """A kombu connection whose keys are under ``prefix``, with its queue declared; and
    the orphan keys of namespace ``prefix`` on it."""
    options = {"global_keyprefix": prefix}
    connection = Connection(redis_url, transport_options=options)
    try:
        _queue(connection).declare()
        keys = OrphanKeys(
            base=f"{prefix}orphans", keyprefix=prefix,
            unacked=f"{prefix}unacked", unacked_index=f"{prefix}unacked_index",
        )  # fmt: skip
        yield connection, keys
    finally:
        for channel in list(connection.transport.channels):
            close_channel(channel)
        connection.release()


def close_channel(channel: Any) -> None:
    """Close a kombu Redis channel, and the sockets its close leaves open.

    kombu's ``Channel.close`` disconnects its pools first and restores the unacknowledged
    messages afterwards, through its cached client, whose pool then opens a connection
    nobody closes (the garbage collector finds the socket later, in some other test)."""
    channel.close()
    client = channel.__dict__.get("client")
    if client is not None:
        client.connection_pool.disconnect()
    channel._disconnect_pools()


def _queue(connection: Any) -> Any:
    exchange = kombu.entity.Exchange(QUEUE, type="direct")  # type: ignore[no-untyped-call]
    return kombu.entity.Queue(QUEUE, exchange, routing_key=QUEUE)(connection.default_channel)  # type: ignore[no-untyped-call]


def publish(connection: Any, bodies: list[Any], *, priority: int | None = None) -> None:
    """Publish each body to the test queue (with ``priority`` if given)."""
    producer = connection.Producer()
    for body in bodies:
        producer.publish(
            body, exchange=QUEUE, routing_key=QUEUE, serializer="json", priority=priority
        )


def take(connection: Any, keys: OrphanKeys, worker: str, count: int) -> tuple[Any, list[Any]]:
    """A new channel holding ``count`` messages for ``worker`` (not acknowledged)."""
    channel = connection.channel()
    assert install(channel, held_key=keys.unprefixed(keys.held(worker)))
    messages = []
    for _ in range(count):
        message = channel.basic_get(QUEUE, no_ack=False)
        assert message is not None
        messages.append(message)
    return channel, messages
