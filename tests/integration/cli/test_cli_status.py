"""``outlast status`` against a real worker and store, on Redis and on RabbitMQ (where one
answers): the worker's breaker and bulkhead (from its published snapshot), each queue's
depth and consumers, the worker itself and the active alerts, as tables and as JSON; Redis
or a broker that does not answer is one line, status 1."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest
from celery import Celery

from _brokers import BROKERS, broker_for_test
from _cli_snapshots import published
from _cli_support import outlast, outlast_json
from _servers import free_port
from _workers import WorkerProcess
from outlast.errors import ErrorSeverity
from outlast.store import Alert, DeadLetter, RedisStore, ScheduledRetry


@pytest.fixture(params=BROKERS)
def worker_env(request: pytest.FixtureRequest, env: dict[str, str]) -> Iterator[dict[str, str]]:
    """``env`` on each broker the suite runs on (RabbitMQ only where one answers)."""
    with broker_for_test(request.param, env["OUTLAST_REDIS_URL"]) as url:
        yield {**env, "OUTLAST_BROKER_URL": url}


async def fill_store(env: dict[str, str]) -> None:
    """An active critical alert; two parked retries, one of them due; one dead letter."""
    store = RedisStore(env["OUTLAST_REDIS_URL"], namespace=env["OUTLAST_NAMESPACE"])
    try:
        now = time.time()
        await store.upsert_alert(Alert(
            id="cli-status-alert", alert_type="error_rate", severity=ErrorSeverity.CRITICAL,
            title="payments failing", message="40% of calls fail", created_at=now,
            updated_at=now, labels={"service": "payments"},
        ))  # fmt: skip
        for due in (now - 5, now + 600):
            await store.schedule_retry(
                ScheduledRetry(task_name="tests.noop", due_at=due, scheduled_at=now)
            )
        await store.add_dead_letter(DeadLetter(
            id="cli-status-letter", task_name="tests.noop", reason="exhausted",
            error_type="ConnectionError", error_message="down", failed_at=now,
        ))  # fmt: skip
    finally:
        await store.close()


def prepare(env: dict[str, str], sender: Celery) -> None:
    """The worker uses a cluster breaker and holds a bulkhead; three messages wait on
    ``emails``, which nobody consumes; the store holds an alert, retries and a letter."""
    used = sender.send_task("tests.cli.breaker", ["cli-status-db", "cluster"], queue="operations")
    held = sender.send_task("tests.cli.bulkhead", ["cli-status-pool", 4], queue="operations")
    assert (used.get(timeout=30), held.get(timeout=30)) == ("closed", 4)
    for _ in range(3):
        sender.send_task("tests.cli.breaker", ["unused", "local"], queue="emails")
    asyncio.run(fill_store(env))
    assert published(env, "cli-status-db")


def test_json_and_tables_show_the_cluster(
    worker_env: dict[str, str], worker: WorkerProcess, sender: Celery
) -> None:
    """The worker's breaker and bulkhead, depths (Redis lists or RabbitMQ's passive declare),
    consumers, the worker, the work held in the store and the alert, in JSON and tables."""
    env = worker_env
    prepare(env, sender)
    report: dict[str, Any] = outlast_json(env, "status")
    assert report["breakers"]["cli-status-db"] == {
        "state": "closed", "failure_count": 0, "success_count": 1,
    }  # fmt: skip
    assert report["bulkheads"]["cli-status-pool"]["capacity"] == 4
    (name,) = report["workers"]
    assert name.startswith("cli-status-")
    assert report["queues"]["operations"] == {"depth": 0, "consumers": [name]}
    assert report["queues"]["emails"] == {"depth": 3, "consumers": []}
    assert report["held"] == {"parked_retries": 2, "parked_due": 1, "dead_letters": 1}
    assert [(a["id"], a["severity"]) for a in report["alerts"]] == [
        ("cli-status-alert", "critical")
    ]
    text = outlast(env, "status")
    assert text.returncode == 0, text.stderr
    rows = {line.split()[0]: line.split() for line in text.stdout.splitlines() if line.strip()}
    assert rows["cli-status-db"][1:] == ["closed", "0", "1"]
    assert rows["emails"][1:] == ["3", "0", "-"]
    assert rows["operations"][1:] == ["0", "1", name]
    assert rows["cli-status-alert"][1:3] == ["critical", "error_rate"]
    assert (rows["parked_retries"][1:], rows["dead_letters"][1:]) == (["2", "1"], ["1", "-"])


def test_redis_down_is_one_line(env: dict[str, str]) -> None:
    """With nothing listening at OUTLAST_REDIS_URL: one line naming it, status 1."""
    down = f"redis://127.0.0.1:{free_port()}/0"
    done = outlast({**env, "OUTLAST_REDIS_URL": down, "OUTLAST_BROKER_URL": down}, "status")
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        f"outlast status: Redis at {down} does not answer (OUTLAST_REDIS_URL)"
    ]
    assert done.stdout == ""


def test_broker_down_is_one_line(env: dict[str, str]) -> None:
    """A broker that does not answer (Redis does): one line naming the broker, status 1."""
    down = f"redis://127.0.0.1:{free_port()}/0"
    done = outlast({**env, "OUTLAST_BROKER_URL": down}, "status", "--json")
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        f"outlast status: the broker at {down} does not answer (OperationalError)"
    ]
