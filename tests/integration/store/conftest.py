"""Fixtures of the store contract suite: ``backend`` (parametrized over
``_store_backends.BACKENDS``), ``clock`` and ``store``.

Each test gets its own namespace; afterwards every store is closed and every key or
collection of that namespace is deleted (nothing flushes a database).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator

import pytest

from outlast.store import Store
from outlast.testing import FakeClock

from ._store_backends import BACKENDS, Backend


@pytest.fixture
def clock() -> FakeClock:
    """A fake clock whose wall time starts at the real time (so a real MongoDB's TTL
    monitor does not delete what a test just wrote)."""
    return FakeClock(wall_start=time.time())


@pytest.fixture(params=BACKENDS)
async def backend(
    request: pytest.FixtureRequest, redis_url: str, clock: FakeClock
) -> AsyncIterator[Backend]:
    """One store backend, in a namespace of its own, cleaned up afterwards."""
    namespace = f"test-{uuid.uuid4().hex[:12]}"
    built = Backend(request.param, namespace=namespace, redis_url=redis_url, clock=clock)
    try:
        yield built
    finally:
        await built.cleanup()


@pytest.fixture
def store(backend: Backend) -> Store:
    """A store of the backend under test, on the fake clock."""
    return backend.store()
