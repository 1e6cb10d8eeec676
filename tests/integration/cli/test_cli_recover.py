"""``outlast recover`` runs the health sweep in its own process against a real worker: the
configured services probed (a Redis that answers, an HTTP service that does not) and the
worker's consumers checked; Redis that does not answer is one line, status 1."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from celery import Celery

from _cli_support import cli_env, outlast, outlast_json, start_cli_worker
from _servers import free_port
from _workers import WorkerProcess, fresh_namespace
from outlast.config import Settings
from outlast.workers import create_app


@pytest.fixture
def env(redis_url: str) -> Iterator[dict[str, str]]:
    """Settings on a namespace of this test's own, with two services to sweep."""
    services = [
        {"name": "cache", "kind": "redis", "url": redis_url},
        {"name": "gateway", "kind": "http", "url": f"http://127.0.0.1:{free_port()}/health",
         "probe_timeout": 0.5},
    ]  # fmt: skip
    with fresh_namespace(redis_url) as namespace:
        yield cli_env(redis_url, namespace, OUTLAST_RECOVERY_SERVICES=json.dumps(services))


@pytest.fixture
def worker(env: dict[str, str]) -> Iterator[WorkerProcess]:
    """A worker consuming ``operations``."""
    with start_cli_worker(env, ["operations"], name="cli-recover") as started:
        yield started


@pytest.fixture
def control(env: dict[str, str]) -> Iterator[Celery]:
    """A client app on the worker's broker, for its remote control."""
    url, namespace = env["OUTLAST_REDIS_URL"], env["OUTLAST_NAMESPACE"]
    app = create_app(Settings(broker_url=url, redis_url=url, namespace=namespace))
    yield app
    app.close()


def consumed(control: Celery) -> dict[str, list[str]]:
    """Each worker's consumed queues, as it answers."""
    with control.connection_for_write() as connection:  # closed, not left in the pool
        answers = control.control.inspect(timeout=1.0, connection=connection).active_queues()
    answers = answers or {}
    return {worker: sorted(q["name"] for q in queues) for worker, queues in answers.items()}


def test_sweep_probes_services_and_checks_the_worker(
    env: dict[str, str], worker: WorkerProcess, control: Celery
) -> None:
    """Cache healthy, gateway not (left to the workers to heal again); the worker, which
    consumes its queue, needs nothing; the same report as a table for people."""
    first = outlast_json(env, "recover")
    assert first["health"]["cache"]["healthy"] is True
    assert first["health"]["gateway"]["healthy"] is False
    assert (first["failed"], first["healed"], first["consumers"]) == (["gateway"], [], [])
    (name,) = consumed(control)
    assert consumed(control) == {name: ["operations"]}

    second = outlast(env, "recover")
    assert second.returncode == 0, second.stderr
    rows = [line.split() for line in second.stdout.splitlines()]
    assert rows[2][:2] == ["cache", "yes"]
    assert rows[3][:2] == ["gateway", "no"]
    assert second.stdout.rstrip().endswith("every worker consumes its queues"), second.stdout


def test_redis_down_is_one_line(env: dict[str, str]) -> None:
    """With Redis not answering the sweep does not start: one line, status 1."""
    down = f"redis://127.0.0.1:{free_port()}/0"
    done = outlast({**env, "OUTLAST_REDIS_URL": down, "OUTLAST_BROKER_URL": down}, "recover")
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr.splitlines() == [
        f"outlast recover: Redis at {down} does not answer (OUTLAST_REDIS_URL)"
    ]


def test_broker_down_is_one_line(env: dict[str, str]) -> None:
    """With the broker not answering (Redis does), the sweep, which hands what it could not
    heal to the workers, does not start: one line naming the broker, status 1."""
    down = f"redis://127.0.0.1:{free_port()}/0"
    done = outlast({**env, "OUTLAST_BROKER_URL": down}, "recover")
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr.splitlines() == [
        f"outlast recover: the broker at {down} does not answer (OperationalError)"
    ]
