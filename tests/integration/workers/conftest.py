"""Fixtures every worker-system test shares: a namespace of its own, and the broker."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from _brokers import BROKERS, broker_for_test
from _workers import fresh_namespace


@pytest.fixture
def namespace(redis_url: str) -> Iterator[str]:
    """A namespace of its own for this test's broker, store, breaker and probe keys."""
    with fresh_namespace(redis_url) as name:
        yield name


@pytest.fixture(params=BROKERS)
def broker_url(request: pytest.FixtureRequest, redis_url: str) -> Iterator[str]:
    """The broker of this run of the test: the test Redis, or RabbitMQ where one answers."""
    with broker_for_test(request.param, redis_url) as url:
        yield url
