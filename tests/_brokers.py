"""The brokers the worker suite runs on: Redis always, RabbitMQ when one answers.

``BROKERS`` is the parameter list of the worker tests' broker fixture: ``"redis"``, and
``"rabbitmq"`` only when a TCP connect and an AMQP handshake to ``$OUTLAST_TEST_AMQP_URL``
(default ``amqp://guest:guest@127.0.0.1:5672//``) succeed at collection time. Where no
RabbitMQ answers, those test ids do not exist (nothing is skipped); the Redis ones run.

Isolation: on Redis every test has its own namespace (key prefix) for broker, results and
store. RabbitMQ has no key prefix (a vhost would be its namespace, and making one needs
the management API, which is not running here), and the queue names are fixed. So a
RabbitMQ test holds a lock in the test Redis for its whole run (tests on RabbitMQ run one
at a time, even across concurrent test runs that share the test Redis), deletes
Outlast's queues before it starts (nothing left over reaches its worker) and again after
it ends (nothing of it reaches the next), and after it the exchanges its workers declared
that nothing is bound to any more (nothing is kept on RabbitMQ). Results and the store stay
in the test Redis, namespaced. A module-scoped fixture may hold the lock for its module.
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any, Final

import kombu.connection
import redis

from outlast.workers import QUEUES

__all__ = ["AMQP_URL", "BROKERS", "amqp_answers", "broker_for_test"]

AMQP_URL: Final = os.environ.get("OUTLAST_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")

# kombu is untyped; its connections are used through this one Any-typed name.
Connection: Callable[..., Any] = kombu.connection.Connection

# What the workers declare besides their queues: the exchange of Outlast's queues (Celery
# binds them to its default exchange, named after the default queue; the others are
# listed in case that changes), and Celery's event and remote-control exchanges.
_EXCHANGES: Final = (*QUEUES, "celeryev", "celery.pidbox", "reply.celery.pidbox")

_LOCK_KEY = "outlast-test:rabbitmq-lock"
_LOCK_TTL_MS = 300_000  # longer than any one worker test; a crashed run's lock lapses
_LOCK_WAIT = 300.0
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def amqp_answers(url: str = AMQP_URL, *, timeout: float = 2.0) -> bool:
    """Whether an AMQP broker at ``url`` accepts a connection (TCP and handshake)."""
    connection = Connection(url, connect_timeout=timeout)
    try:
        connection.connect()
    except Exception:  # refused, timed out, bad credentials: all mean "no RabbitMQ here"
        return False
    finally:
        connection.release()
    return True


BROKERS: Final = ["redis", *(["rabbitmq"] if amqp_answers() else [])]
"""Broker names the worker tests are parametrized over (see the module docstring)."""


@contextlib.contextmanager
def broker_for_test(name: str, redis_url: str) -> Iterator[str]:
    """The broker URL for one test on broker ``name`` (see the module docstring)."""
    if name == "redis":
        yield redis_url
        return
    client = redis.Redis.from_url(redis_url)
    token = uuid.uuid4().hex
    try:
        _acquire(client, token)
        try:
            _delete_queues(AMQP_URL)
            yield AMQP_URL
        finally:
            _delete_queues(AMQP_URL)
            _delete_unused_exchanges(AMQP_URL)
            client.eval(_RELEASE, 1, _LOCK_KEY, token)
    finally:
        client.close()


def _acquire(client: redis.Redis, token: str) -> None:
    deadline = time.monotonic() + _LOCK_WAIT
    while not client.set(_LOCK_KEY, token, nx=True, px=_LOCK_TTL_MS):
        if time.monotonic() > deadline:
            raise TimeoutError(f"another test run held {_LOCK_KEY} for {_LOCK_WAIT}s")
        time.sleep(0.2)


def _delete_queues(url: str) -> None:
    """Delete Outlast's queues (and every message in them) on the broker at ``url``."""
    with Connection(url, connect_timeout=5) as connection:
        channel = connection.channel()
        try:
            for queue in QUEUES:
                channel.queue_delete(queue)
        finally:
            channel.close()


def _delete_unused_exchanges(url: str) -> None:
    """Delete the exchanges of ``_EXCHANGES`` that no queue is bound to any more.

    One still in use (a worker of some other application on this broker) is left alone:
    the broker refuses to delete it and closes that channel, so each gets its own.
    """
    with Connection(url, connect_timeout=5) as connection:
        for exchange in _EXCHANGES:
            channel = connection.channel()
            try:
                channel.exchange_delete(exchange, if_unused=True)
            except connection.channel_errors:
                continue  # in use; the broker has closed the channel
            channel.close()
