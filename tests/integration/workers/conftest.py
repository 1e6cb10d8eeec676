"""Fixtures every worker-system test shares: a namespace of its own, the broker, a client
app for task results, and the store the workers write to."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from celery import Celery

from _brokers import BROKERS, broker_for_test
from _orphan_workers import Runs
from _workers import fresh_namespace
from outlast.config import Settings
from outlast.store import RedisStore
from outlast.workers import create_app


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


@pytest.fixture
def results(redis_url: str, broker_url: str, namespace: str) -> Iterator[Celery]:
    """A client app on the test's broker for sending tasks and reading their results
    (kept in the test Redis, namespaced, whatever the broker)."""
    app = create_app(Settings(broker_url=broker_url, redis_url=redis_url, namespace=namespace))
    yield app
    app.close()


@pytest.fixture
async def store(redis_url: str, namespace: str) -> AsyncIterator[RedisStore]:
    """The store the workers write to: the test Redis, the test's namespace."""
    opened = RedisStore(redis_url, namespace=namespace)
    yield opened
    await opened.close()


@pytest.fixture
def runs(redis_url: str, namespace: str) -> Iterator[Runs]:
    """The orphan tests' counting operation's runs, under this test's namespace."""
    counted = Runs(redis_url, f"{namespace}:runs")
    yield counted
    counted.close()
