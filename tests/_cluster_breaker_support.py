"""Helpers for the cluster circuit breaker tests: links under a namespace no other test uses,
breakers built on them, and bounded polling for things that happen on other threads.

Everything a helper starts it also stops: the link's threads, its clients, and every key
written under its namespace. Nothing here flushes a database.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import redis

from _servers import delete_keys_with_prefix
from outlast.config import CircuitBreakerConfig
from outlast.resilience.breaker._breaker import CircuitBreaker
from outlast.resilience.breaker._redis_breaker import RedisBreakerState
from outlast.resilience.shared._redis_link import RedisLink
from outlast.resilience.shared._state_sync import stop_state_sync

__all__ = ["cluster_breaker", "cluster_link", "unique_namespace", "wait_until"]


def unique_namespace() -> str:
    """A namespace no other test (or test run) uses."""
    return f"test-{uuid.uuid4().hex[:12]}"


@contextmanager
def cluster_link(url: str, namespace: str | None = None, **options: Any) -> Iterator[RedisLink]:
    """A link to ``url`` under ``namespace`` (fresh by default); afterwards its threads stop,
    its client closes and, if Redis still answers, its keys are deleted."""
    link = RedisLink(url, namespace=namespace or unique_namespace(), **options)
    try:
        yield link
    finally:
        stop_state_sync(link)
        link.close()
        _delete_namespace(url, link.namespace)


def _delete_namespace(url: str, namespace: str) -> None:
    client = redis.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
    try:
        delete_keys_with_prefix(client, f"outlast:{{{namespace}:")
    except (redis.RedisError, OSError):
        pass  # a test-owned server that is already gone took its keys with it
    finally:
        client.close()


def cluster_breaker(
    link: RedisLink,
    name: str = "svc",
    *,
    backend_options: dict[str, Any] | None = None,
    **config: Any,
) -> tuple[CircuitBreaker, RedisBreakerState]:
    """A breaker called ``name`` whose state lives in Redis through ``link``."""
    settings = CircuitBreakerConfig(**config)
    backend = RedisBreakerState(name, config=settings, link=link, **(backend_options or {}))
    return CircuitBreaker(name, config=settings, backend=backend), backend


def wait_until(
    predicate: Callable[[], object], *, timeout: float = 3.0, interval: float = 0.002
) -> float:
    """Poll ``predicate`` until it is true; the seconds that took. Fails after ``timeout``."""
    started = time.monotonic()
    while not predicate():
        elapsed = time.monotonic() - started
        assert elapsed < timeout, f"condition not met within {timeout}s"
        time.sleep(interval)
    return time.monotonic() - started
