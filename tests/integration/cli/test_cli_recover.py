"""``outlast recover`` runs the health sweep in its own process against a real worker: the
configured services probed (a Redis that answers, an HTTP service that does not) and the
worker's consumers checked; Redis that does not answer is one line, status 1."""

from __future__ import annotations

import json

import pytest
from celery import Celery

from _cli_support import outlast, outlast_json
from _servers import free_port
from _workers import WorkerProcess


@pytest.fixture
def env(env: dict[str, str], redis_url: str) -> dict[str, str]:
    """The shared settings, with two services to sweep."""
    services = [
        {"name": "cache", "kind": "redis", "url": redis_url},
        {"name": "gateway", "kind": "http", "url": f"http://127.0.0.1:{free_port()}/health",
         "probe_timeout": 0.5},
    ]  # fmt: skip
    return {**env, "OUTLAST_RECOVERY_SERVICES": json.dumps(services)}


def consumed(control: Celery) -> dict[str, list[str]]:
    """Each worker's consumed queues, as it answers."""
    with control.connection_for_write() as connection:  # closed, not left in the pool
        answers = control.control.inspect(timeout=1.0, connection=connection).active_queues()
    answers = answers or {}
    return {worker: sorted(q["name"] for q in queues) for worker, queues in answers.items()}


def test_sweep_probes_services_and_checks_the_worker(
    env: dict[str, str], worker: WorkerProcess, sender: Celery
) -> None:
    """Cache healthy, gateway not (left to the workers to heal again); the worker, which
    consumes its queue, needs nothing; the same report as a table for people."""
    first = outlast_json(env, "recover")
    assert first["health"]["cache"]["healthy"] is True
    assert first["health"]["gateway"]["healthy"] is False
    assert (first["failed"], first["healed"], first["consumers"]) == (["gateway"], [], [])
    (name,) = consumed(sender)
    assert consumed(sender) == {name: ["operations"]}

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
