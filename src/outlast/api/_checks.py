"""The required services, each asked with the API's deadline: Redis, the store, the broker.

A check answers pass or fail with how long it took; it never raises and never waits longer
than its deadline (``api_check_timeout``).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from outlast.api._context import ApiContext
from outlast.api._timeouts import Outcome, bounded, bounded_call
from outlast.resilience.shared._redis_link import Unavailable

__all__ = ["Check", "check_broker", "check_redis", "check_store", "iso_now"]


def iso_now() -> str:
    """The time now as the seed writes it: ``2024-01-01T12:00:00Z``."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, slots=True)
class Check:
    """One component's answer."""

    component: str
    component_type: str
    outcome: Outcome[Any]

    @property
    def ok(self) -> bool:
        """Whether the component answered in time."""
        return self.outcome.ok

    def entry(self) -> dict[str, Any]:
        """The ``checks`` entry of ``application/health+json`` (draft-inadarei-api-health-check)."""
        entry: dict[str, Any] = {
            "componentId": self.component,
            "componentType": self.component_type,
            "observedValue": round(self.outcome.seconds * 1000, 3),
            "observedUnit": "ms",
            "status": "pass" if self.ok else "fail",
            "time": iso_now(),
        }
        if not self.ok:
            entry["output"] = self.outcome.error
        return entry


async def check_redis(context: ApiContext) -> Check:
    """Redis answers PING."""
    link = context.link

    def ping() -> bool:
        answer = link.call(lambda client: client.ping())
        if isinstance(answer, Unavailable):
            raise ConnectionError("redis did not answer")
        return bool(answer)

    return Check("redis", "datastore", await bounded_call(ping, context.timeout))


async def check_store(context: ApiContext) -> Check:
    """The durable store answers its ping."""

    async def ping() -> None:
        store = context.open_store()
        try:
            await store.ping()
        finally:
            await asyncio.shield(_close(store))

    return Check("store", "datastore", await bounded(ping(), context.timeout))


async def _close(store: Any) -> None:
    try:
        await store.close()
    except Exception:  # closing a store that never connected may fail; nothing to keep
        return


async def check_broker(context: ApiContext) -> Check:
    """The Celery broker accepts a connection."""
    url = context.core.broker_url or context.redis_url
    timeout = context.timeout

    def connect() -> None:
        from kombu.connection import Connection

        options = {"socket_timeout": timeout, "socket_connect_timeout": timeout}
        make: Any = Connection  # kombu is untyped
        connection = make(url, connect_timeout=timeout, transport_options=options)
        try:
            connection.ensure_connection(max_retries=1, interval_start=0, timeout=timeout)
        finally:
            connection.release()

    return Check("broker", "component", await bounded_call(connect, timeout))
