"""Store contract, failures: invalid records are refused by field name before anything is
written, and a backend that does not answer surfaces as StoreUnavailableError on every
operation, never as a driver exception."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

import pymongo.errors
import pytest
import redis
from pymongo import AsyncMongoClient

from _servers import free_port
from outlast.errors import ServiceUnavailableError
from outlast.store import (
    InvalidRecordError,
    MongoStore,
    RedisStore,
    Store,
    StoreUnavailableError,
)

from ._store_backends import BACKENDS, Backend
from ._store_factories import (
    alert,
    dead_letter,
    error_event,
    recovery_attempt,
    scheduled_retry,
    snapshot,
)


@pytest.mark.parametrize(
    ("field", "value", "problem"),
    [
        ("args", [datetime(2024, 1, 1)], r"args\[0\]: datetime is not JSON-serializable"),
        ("args", [Decimal("1.5")], r"args\[0\]: Decimal is not JSON-serializable"),
        ("kwargs", {"when": {1, 2}}, r"kwargs\['when'\]: set is not JSON-serializable"),
        ("kwargs", {1: "a"}, r"kwargs: key 1 is a int; JSON keys are strings"),
        ("kwargs", {"x": [math.nan]}, r"kwargs\['x'\]\[0\]: nan is not valid JSON"),
        ("args", "not-a-list", r"args: must be a list, got str"),
        ("task_name", "", r"task_name: must not be empty"),
        ("attempts", -1, r"attempts: must be >= 0"),
        ("failed_at", math.inf, r"failed_at: must be finite"),
        ("error_type", "bad \udc80", r"error_type: contains a lone surrogate"),
    ],
)
async def test_invalid_dead_letters_are_refused_by_field(
    store: Store, field: str, value: Any, problem: str
) -> None:
    """A dead letter with a bad field never reaches the store; the error names the field."""
    with pytest.raises(InvalidRecordError, match=rf"^DeadLetter\.{problem}") as caught:
        await store.add_dead_letter(dead_letter(**{field: value}))
    assert caught.value.field.startswith(field)
    assert await store.count_dead_letters() == 0


async def test_odd_error_text_is_kept_escaped(store: Store) -> None:
    """An error message or traceback with a lone surrogate (say, from an undecodable file
    name) is stored with the surrogate escaped, never refused: the letter must not be lost."""
    letter = dead_letter(error_message="no such file: \udcff.txt", traceback="at \udc80")
    assert letter.error_message == "no such file: \\udcff.txt"
    await store.add_dead_letter(letter)
    assert await store.get_dead_letter(letter.id) == letter


async def test_invalid_arguments_are_refused_by_name(store: Store) -> None:
    """Negative pages, inverted or non-finite times and non-text filters are refused up
    front, naming the argument, and change nothing."""
    await store.add_dead_letter(dead_letter(id="kept"))
    with pytest.raises(InvalidRecordError, match=r"list_dead_letters\.offset"):
        await store.list_dead_letters(offset=-1)
    with pytest.raises(InvalidRecordError, match=r"list_error_events\.since"):
        await store.list_error_events(since=10.0, until=5.0)
    with pytest.raises(InvalidRecordError, match=r"filter\.task_name: must be text"):
        await store.list_dead_letters(task_name=7)  # type: ignore[arg-type]
    with pytest.raises(InvalidRecordError, match=r"Store\.now: must be epoch seconds"):
        await store.take_due_retries(now=math.nan)
    with pytest.raises(InvalidRecordError, match=r"Store\.at: must be epoch seconds"):
        await store.mark_dead_letter_replayed("kept", at=math.inf)
    assert await store.get_dead_letter("kept") == dead_letter(id="kept")


Operation = Callable[[Store], Awaitable[object]]

OPERATIONS: dict[str, Operation] = {
    "add_dead_letter": lambda s: s.add_dead_letter(dead_letter()),
    "get_dead_letter": lambda s: s.get_dead_letter("x"),
    "list_dead_letters": lambda s: s.list_dead_letters(task_name="t"),
    "count_dead_letters": lambda s: s.count_dead_letters(),
    "delete_dead_letter": lambda s: s.delete_dead_letter("x"),
    "purge_dead_letters": lambda s: s.purge_dead_letters(before=5.0),
    "mark_dead_letter_replayed": lambda s: s.mark_dead_letter_replayed("x"),
    "claim_idempotency": lambda s: s.claim_idempotency("k", lease=5),
    "complete_idempotency": lambda s: s.complete_idempotency("k", "t", 1),
    "release_idempotency": lambda s: s.release_idempotency("k", "t"),
    "renew_idempotency": lambda s: s.renew_idempotency("k", "t", lease=5),
    "get_idempotency": lambda s: s.get_idempotency("k"),
    "schedule_retry": lambda s: s.schedule_retry(scheduled_retry()),
    "take_due_retries": lambda s: s.take_due_retries(now=1.0),
    "list_scheduled_retries": lambda s: s.list_scheduled_retries(),
    "count_scheduled_retries": lambda s: s.count_scheduled_retries(),
    "cancel_retry": lambda s: s.cancel_retry("x"),
    "record_error_event": lambda s: s.record_error_event(error_event(occurred_at=1e12)),
    "record_error_events": lambda s: s.record_error_events([error_event(occurred_at=1e12)]),
    "purge_error_events": lambda s: s.purge_error_events(before=1.0),
    "purge_resolved_alerts": lambda s: s.purge_resolved_alerts(before=1.0),
    "purge_snapshots": lambda s: s.purge_snapshots(before=1.0),
    "list_error_events": lambda s: s.list_error_events(),
    "count_error_events": lambda s: s.count_error_events(),
    "record_recovery_attempt": lambda s: s.record_recovery_attempt(
        recovery_attempt(started_at=1e12, finished_at=1e12)
    ),
    "list_recovery_attempts": lambda s: s.list_recovery_attempts(),
    "count_recovery_attempts": lambda s: s.count_recovery_attempts(),
    "upsert_alert": lambda s: s.upsert_alert(alert()),
    "get_alert": lambda s: s.get_alert("x"),
    "list_alerts": lambda s: s.list_alerts(),
    "resolve_alert": lambda s: s.resolve_alert("x"),
    "update_alert": lambda s: s.update_alert("x", lambda a: a),
    "put_snapshot": lambda s: s.put_snapshot(snapshot(taken_at=1e12)),
    "latest_snapshot": lambda s: s.latest_snapshot("k"),
    "list_snapshots": lambda s: s.list_snapshots(),
    "ping": lambda s: s.ping(),
}

#: One failing store per driver: Redis for "redis", PyMongo for both MongoDB backends.
DRIVERS = sorted({"redis" if name == "redis" else "mongodb" for name in BACKENDS})


async def failing_store(driver: str) -> Store:
    """A store whose driver fails every call: Redis at a 127.0.0.1 port where nothing
    listens; PyMongo's AsyncMongoClient after it was closed (it then refuses every call).

    (An unreachable MongoDB is not used: each call would wait out server selection, and
    PyMongo's monitor can leave a socket behind when closed mid-connect.)
    """
    if driver == "redis":
        return RedisStore(f"redis://:secret@127.0.0.1:{free_port()}/0", connect_timeout=0.5)
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        f"mongodb://user:secret@127.0.0.1:{free_port()}/", serverSelectionTimeoutMS=50
    )
    await client.close()
    return MongoStore(client["outlast"], target="mongodb://user:***@127.0.0.1")


@pytest.mark.parametrize("driver", DRIVERS)
async def test_every_operation_maps_driver_errors(driver: str) -> None:
    """When the driver fails, every store operation raises StoreUnavailableError (a
    ServiceUnavailableError) caused by the driver's error; the URL's password is hidden."""
    store = await failing_store(driver)
    driver_error = redis.RedisError if driver == "redis" else pymongo.errors.PyMongoError
    try:
        for operation, call in OPERATIONS.items():
            with pytest.raises(StoreUnavailableError) as caught:
                await call(store)
            error = caught.value
            assert isinstance(error, ServiceUnavailableError)
            assert isinstance(error.__cause__, driver_error), operation
            assert error.operation == operation
            assert "secret" not in str(error)
            assert error.error_code == "STORE_UNAVAILABLE"
    finally:
        await store.close()


def test_every_store_operation_is_covered() -> None:
    """The unreachable-backend test exercises every operation of the Store protocol."""
    protocol = {name for name in vars(Store) if not name.startswith("_")} - {"close"}
    assert set(OPERATIONS) == protocol


async def test_backend_store_satisfies_the_protocol(backend: Backend) -> None:
    """Every backend's store is a ``Store`` (checked at runtime too)."""
    assert isinstance(backend.store(), Store)
