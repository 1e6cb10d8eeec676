"""``recover_from_database_error`` as the seed calls it: the MongoDB client is closed and
recreated, pinged, and the operation runs again (a real PyMongo failure, then
mongomock-motor standing in for the server that came back)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import pytest
from mongomock_motor import AsyncMongoMockClient
from pymongo import AsyncMongoClient
from pymongo.errors import PyMongoError

from _fault_proxy import FaultProxy
from _servers import free_port
from outlast import ErrorContext, recover_from_database_error
from outlast.recovery import (
    ManagedClient,
    RecoveryManager,
    RecoveryStatistics,
    ServiceRegistry,
    mongo_service,
)
from outlast.testing import FakeClock


@pytest.fixture
def dead_mongodb() -> Iterator[int]:
    """The port of a "MongoDB" that accepts connections and never answers."""
    with FaultProxy(free_port()) as proxy:
        proxy.set_mode("stall")
        yield proxy.port


def dead_client(port: int) -> Any:
    """A real PyMongo client of a server that never answers (fails in 200 ms)."""
    return AsyncMongoClient(
        f"mongodb://127.0.0.1:{port}", serverSelectionTimeoutMS=200, connectTimeoutMS=200
    )


def setup(clients: Iterable[Any]) -> tuple[RecoveryManager, ManagedClient[Any]]:
    """A manager with a "mongodb" service whose client comes from ``clients`` in turn."""
    made = iter(clients)
    managed: ManagedClient[Any] = ManagedClient(lambda: next(made))
    registry = ServiceRegistry()
    registry.register(mongo_service("mongodb", managed, probe_timeout=0.5))
    manager = RecoveryManager(
        registry=registry, statistics=RecoveryStatistics(None), clock=FakeClock()
    )
    return manager, managed


async def test_database_error_heals_the_client_and_retries(dead_mongodb: int) -> None:
    """A PyMongo error from a broken client: healed with a new client, the query answers."""
    manager, managed = setup([dead_client(dead_mongodb), AsyncMongoMockClient()])

    async def database_operation() -> Any:
        users = managed.client["app"]["users"]
        await users.update_one({"_id": "u1"}, {"$set": {"name": "Ada"}}, upsert=True)
        return await users.find_one({"_id": "u1"})

    with pytest.raises(PyMongoError) as caught:
        await database_operation()
    context = ErrorContext(operation="database_operation")
    success, result = await recover_from_database_error(
        caught.value, context, database_operation, manager=manager
    )
    assert success is True
    assert result == {"_id": "u1", "name": "Ada"}
    assert managed.generation == 2
    await managed.close()


async def test_registered_operation_is_rerun_for_the_context() -> None:
    """Without an operation argument, the one registered for context.operation runs."""
    manager, managed = setup([AsyncMongoMockClient()])

    async def count_users() -> int:
        return int(await managed.client["app"]["users"].count_documents({}))

    manager.register_operation("count_users", count_users)
    ok = await recover_from_database_error(
        ConnectionError("reset"), ErrorContext(operation="count_users"), manager=manager
    )
    assert ok == (True, 0)


async def test_a_database_that_stays_down_fails_after_its_attempts(dead_mongodb: int) -> None:
    """Every healed client still fails its ping: (False, the last error), 3 attempts, backoff."""
    manager, managed = setup(dead_client(dead_mongodb) for _ in range(3))
    success, last = await recover_from_database_error(
        ConnectionError("down"), ErrorContext(operation="q"), manager=manager
    )
    assert success is False
    assert "mongodb is still unhealthy" in str(last)
    assert managed.generation == 3
    await managed.close()
