"""Fixtures every worker-system test shares: a namespace of its own, the broker, a client
app for task results, and the store the workers write to; and the environment and worker
of the tests of ``_ops_for_tests``, which a module extends or replaces by defining a
fixture of the same name. A module on the Redis broker alone marks itself
``pytest.mark.parametrize("broker_url", ["redis"], indirect=True)``."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator

import pytest
from celery import Celery

from _brokers import BROKERS, broker_for_test
from _orphan_workers import Runs
from _workers import TESTS_DIR, WorkerProcess, celery_worker_command, fresh_namespace, start_worker
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


@pytest.fixture
def env(redis_url: str, broker_url: str, namespace: str) -> dict[str, str]:
    """The environment of workers running ``_ops_for_tests``: the test's broker; the store
    and the operations' own records on the test Redis."""
    return {
        "OUTLAST_BROKER_URL": broker_url,
        "OUTLAST_REDIS_URL": redis_url,
        "OUTLAST_TEST_REDIS_URL": redis_url,
        "OUTLAST_NAMESPACE": namespace,
        "OUTLAST_TASK_MODULES": '["_ops_for_tests"]',
        "PYTHONPATH": os.pathsep.join([str(TESTS_DIR), os.environ.get("PYTHONPATH", "")]),
    }


@pytest.fixture
def worker(env: dict[str, str]) -> Iterator[WorkerProcess]:
    """One prefork process on the operations queue: it runs the test's messages in order."""
    with start_worker(env, celery_worker_command(["operations"], concurrency=1)) as running:
        yield running
