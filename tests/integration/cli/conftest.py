"""Fixtures the operators' CLI tests share: the settings of a command on a namespace of the
test's own, a worker of the CLI test tasks and a client app on that worker's broker.

A module extends ``env`` (settings of its own) or overrides ``worker_env`` (the worker on
other brokers) by defining a fixture of the same name.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from celery import Celery

from _cli_support import cli_env, start_cli_worker
from _workers import WorkerProcess, fresh_namespace
from outlast.config import Settings
from outlast.workers import create_app


@pytest.fixture
def env(redis_url: str) -> Iterator[dict[str, str]]:
    """Settings on a namespace of this test's own (its keys deleted afterwards)."""
    with fresh_namespace(redis_url) as namespace:
        yield cli_env(redis_url, namespace)


@pytest.fixture
def worker_env(env: dict[str, str]) -> dict[str, str]:
    """The settings of the worker and of the client app: ``env``, on the test Redis broker."""
    return env


@pytest.fixture
def worker(worker_env: dict[str, str], request: pytest.FixtureRequest) -> Iterator[WorkerProcess]:
    """A worker consuming ``operations`` only, named after the test module (``cli-status``
    for ``test_cli_status``)."""
    name = request.path.stem.removeprefix("test_").replace("_", "-")
    with start_cli_worker(worker_env, ["operations"], name=name) as started:
        yield started


@pytest.fixture
def sender(worker_env: dict[str, str]) -> Iterator[Celery]:
    """A client app on the worker's broker."""
    app = create_app(Settings(
        broker_url=worker_env["OUTLAST_BROKER_URL"], redis_url=worker_env["OUTLAST_REDIS_URL"],
        namespace=worker_env["OUTLAST_NAMESPACE"],
    ))  # fmt: skip
    yield app
    app.close()
