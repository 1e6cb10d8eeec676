"""How many messages wait in some queues, on whichever broker the app uses.

On Redis a queue is a list per priority step (kombu's Redis transport), read with ``LLEN``;
on RabbitMQ a passive ``queue.declare`` answers with the number of messages ready. Either
way over a connection of its own, with short timeouts, so a broker that does not answer
costs its reader that long and no more. A queue that cannot be read is None (unknown),
never 0. The watchdog (every worker, for stalls), the health sweep (stalled queues) and
``outlast status`` read through :class:`QueueDepths`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from typing import Any, Final

import redis
from amqp.exceptions import ChannelError
from kombu.connection import Connection as _Connection

__all__ = ["PRIORITY_SEPARATOR", "PRIORITY_STEPS", "QueueDepths", "queue_depths"]

PRIORITY_SEPARATOR: Final = "\x06\x16"
"""kombu's Redis transport keeps a queue's messages of each priority step in a list named
``<queue><separator><step>`` (step 0 is the queue's own name)."""
PRIORITY_STEPS: Final = (3, 6, 9)

Connection: Any = _Connection  # kombu is untyped

_REDIS_SCHEMES: Final = ("redis://", "rediss://", "unix://")
_AMQP_SCHEMES: Final = ("amqp://", "amqps://", "pyamqp://")


class QueueDepths:
    """Reads queue depths on one app's broker; keep it to read again, then close it."""

    def __init__(self, app: Any, *, timeout: float) -> None:
        self.url = str(app.conf.broker_url or "")
        options = app.conf.broker_transport_options or {}
        self.prefix = str(options.get("global_keyprefix", ""))
        self.timeout = timeout
        self._redis: redis.Redis | None = None
        self._amqp: Any = None
        self._channel: Any = None

    @property
    def readable(self) -> bool:
        """Whether this broker's depths can be read at all (Redis or RabbitMQ)."""
        return self.url.startswith(_REDIS_SCHEMES + _AMQP_SCHEMES)

    def read(self, queues: Iterable[str]) -> dict[str, int | None]:
        """Messages waiting per queue; None for each one that could not be read."""
        names = list(queues)
        if self.url.startswith(_REDIS_SCHEMES):
            return self._read_redis(names)
        if self.url.startswith(_AMQP_SCHEMES):
            return {name: self._read_amqp(name) for name in names}
        return dict.fromkeys(names)

    def close(self) -> None:
        """Drop the connection (a later read opens a new one)."""
        client, self._redis = self._redis, None
        if client is not None:
            client.close()
        self._drop_amqp()

    def _read_redis(self, names: list[str]) -> dict[str, int | None]:
        if self._redis is None:
            self._redis = redis.Redis.from_url(
                self.url, socket_timeout=self.timeout, socket_connect_timeout=self.timeout
            )
        steps = 1 + len(PRIORITY_STEPS)
        try:
            with self._redis.pipeline(transaction=False) as pipe:
                for name in names:
                    for key in redis_keys(f"{self.prefix}{name}"):
                        pipe.llen(key)
                lengths = [int(n) for n in pipe.execute()]
        except (redis.RedisError, OSError):
            return dict.fromkeys(names)
        return {n: sum(lengths[i * steps : (i + 1) * steps]) for i, n in enumerate(names)}

    def _read_amqp(self, name: str) -> int | None:
        try:
            if self._channel is None:
                self._channel = self._amqp_connection().channel()
            _, ready, _ = self._channel.queue_declare(queue=name, passive=True)
            return int(ready)
        except ChannelError:  # no such queue: the broker closed this channel only
            self._channel = None
            return None
        except Exception:  # no broker: the next read connects again
            self._drop_amqp()
            return None

    def _amqp_connection(self) -> Any:
        if self._amqp is None:
            connection = Connection(
                self.url,
                connect_timeout=self.timeout,
                transport_options={"read_timeout": self.timeout, "write_timeout": self.timeout},
            )
            self._amqp = connection  # kept first, so a failed connect is released too
            connection.ensure_connection(
                max_retries=1, interval_start=0, interval_step=0, timeout=self.timeout
            )
        return self._amqp

    def _drop_amqp(self) -> None:
        connection, self._amqp, self._channel = self._amqp, None, None
        if connection is not None:
            # A connection that broke is gone whatever its release says.
            with contextlib.suppress(Exception):
                connection.release()


def redis_keys(queue_key: str) -> list[str]:
    """The Redis lists of one queue (``queue_key`` with its key prefix), every priority."""
    return [queue_key, *(f"{queue_key}{PRIORITY_SEPARATOR}{step}" for step in PRIORITY_STEPS)]


def queue_depths(app: Any, queues: Iterable[str], *, timeout: float = 1.0) -> dict[str, int | None]:
    """Messages waiting per queue on ``app``'s broker, read once (None: unknown)."""
    depths = QueueDepths(app, timeout=timeout)
    try:
        return depths.read(queues)
    finally:
        depths.close()
