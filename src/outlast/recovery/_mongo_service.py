"""The built-in MongoDB service: probe = the ``ping`` command, heal = close and recreate
the client.

Works with any async client that answers ``client.admin.command("ping")``: PyMongo's
``AsyncMongoClient``, motor, mongomock-motor. This module never opens a client itself;
the ``ManagedClient`` it is given does.
"""

from __future__ import annotations

import time
from typing import Any

from pymongo.errors import ConnectionFailure

from outlast.recovery._managed_client import ManagedClient
from outlast.recovery._probe import DEFAULT_PROBE_TIMEOUT, ProbeResult
from outlast.recovery._restart_hooks import RestartHook
from outlast.recovery._restart_limit import RestartLimit
from outlast.recovery._service import Service

__all__ = ["managed_mongo", "mongo_service"]


def managed_mongo(url: str, *, timeout: float = DEFAULT_PROBE_TIMEOUT) -> ManagedClient[Any]:
    """A PyMongo ``AsyncMongoClient`` of ``url`` that healing closes and recreates."""
    from pymongo import AsyncMongoClient

    milliseconds = int(timeout * 1000)

    def build() -> Any:
        return AsyncMongoClient(
            url,
            serverSelectionTimeoutMS=milliseconds,
            connectTimeoutMS=milliseconds,
            tz_aware=True,
        )

    return ManagedClient(build)


def mongo_service(
    name: str,
    managed: ManagedClient[Any],
    *,
    restart: RestartHook | None = None,
    probe_timeout: float = DEFAULT_PROBE_TIMEOUT,
    restart_limit: RestartLimit | None = None,
) -> Service:
    """A service that pings ``managed.client`` and heals by recreating it."""

    async def probe() -> ProbeResult:
        started = time.perf_counter()
        answer = await managed.client.admin.command("ping")
        healthy = float(answer.get("ok", 0)) == 1.0
        return ProbeResult(healthy=healthy, latency=time.perf_counter() - started, detail="ping")

    return Service(
        name=name,
        probe=probe,
        heal=managed.heal,
        restart=restart,
        probe_timeout=probe_timeout,
        restart_limit=restart_limit or RestartLimit(),
        client=managed,
        heal_on=(ConnectionFailure,),
    )
