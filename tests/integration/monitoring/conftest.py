"""Fixtures for monitoring tests: a fresh namespace per test, its keys deleted afterwards."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis

from _servers import delete_keys_with_prefix
from outlast.store.redis._redis import store_prefix


@pytest.fixture
def namespace(redis_url: str) -> Iterator[str]:
    """A namespace no other test uses; its monitoring and store keys are deleted after."""
    name = f"mon-test-{uuid.uuid4().hex[:12]}"
    yield name
    client = redis.Redis.from_url(redis_url)
    try:
        delete_keys_with_prefix(client, f"outlast:{{{name}:")
        delete_keys_with_prefix(client, store_prefix(name))
    finally:
        client.close()
