"""Fixtures for every test: a real Redis, a per-test Redis client, and clean process globals.

``redis_url`` is the Redis the run tests against (``$OUTLAST_TEST_REDIS_URL``, which
``scripts/test.sh`` sets; else the local default). A missing Redis fails the test with a clear
message; it is never skipped. That Redis may be shared with other runs, so tests keep to their
own ``redis_key_prefix`` and nothing here ever flushes a database.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Callable, Iterator

import pytest
import redis

from _servers import delete_keys_with_prefix, redis_answers
from outlast.config import reload_settings
from outlast.monitoring import error_monitor
from outlast.resilience import reset_bulkheads, reset_circuit_breakers
from outlast.resilience.retry import _testmode

REDIS_URL_ENV = "OUTLAST_TEST_REDIS_URL"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"

#: Each callable restores one piece of outlast's process-wide state; all run before and after
#: every test. Only cheap, safe resets belong here.
GLOBAL_STATE_RESETS: list[Callable[[], object]] = [
    lambda: _testmode.set_mode(_testmode.TestMode()),
    reset_circuit_breakers,
    reset_bulkheads,
    reload_settings,
    error_monitor.reset,  # a test's events and settings never reach the next test's monitor
]


def reset_outlast_globals() -> None:
    """Run every reset in :data:`GLOBAL_STATE_RESETS`."""
    for reset in GLOBAL_STATE_RESETS:
        reset()


@pytest.fixture(autouse=True)
def _clean_outlast_globals() -> Iterator[None]:
    """Give each test outlast's default process-wide state, and leave it that way."""
    reset_outlast_globals()
    yield
    reset_outlast_globals()


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The URL of a Redis that answers PING; fails (never skips) when there is none."""
    url = os.environ.get(REDIS_URL_ENV) or DEFAULT_REDIS_URL
    if not redis_answers(url, timeout=2.0):
        pytest.fail(
            f"no Redis answers PING at {url}. Run the tests with `bash scripts/test.sh`, which "
            f"finds or starts one, or set {REDIS_URL_ENV} to the URL of a running Redis.",
            pytrace=False,
        )
    return url


@pytest.fixture
def redis_key_prefix(request: pytest.FixtureRequest) -> str:
    """A key prefix no other test uses: keep every key a test writes under it."""
    readable = re.sub(r"[^A-Za-z0-9_.-]", "_", request.node.name)[:40]
    return f"outlast-test:{readable}:{uuid.uuid4().hex[:12]}:"


@pytest.fixture
def redis_client(redis_url: str, redis_key_prefix: str) -> Iterator[redis.Redis]:
    """A client of the test Redis; afterwards every key under ``redis_key_prefix`` is deleted.

    Responses are bytes (redis-py's default).
    """
    client = redis.Redis.from_url(redis_url)
    try:
        yield client
    finally:
        delete_keys_with_prefix(client, redis_key_prefix)
        client.close()
