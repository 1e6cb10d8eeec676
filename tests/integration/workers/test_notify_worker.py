"""Alert notifications end to end: a real prefork worker consumes the ``monitoring`` queue,
tasks are sent as beat's escalation job sends them
(``app.send_task("outlast.monitoring.notify", kwargs={"notification": ...})``), and the
providers are loopback stand-ins (tests/_provider_fakes.py). One worker serves the module:
Slack points at the stand-in, PagerDuty at a port nobody listens on; retries run on a
quick schedule set through settings (``OUTLAST_RETRIES__ALERT_NOTIFICATION__*``); a dead
letter is replayed from a separate process, as an operator would."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from celery import Celery

from _provider_fakes import ROUTING_KEY, ProviderFake, start_provider_fake
from _servers import free_port
from _workers import WorkerProcess, celery_worker_command, fresh_namespace, start_worker
from outlast.config import Settings
from outlast.errors import ErrorSeverity
from outlast.monitoring import Channel, PlannedNotification
from outlast.monitoring.notify import NotificationDeferredError, delivery_of
from outlast.store import Alert, RedisStore
from outlast.tasks.notifications import NOTIFY_TASK
from outlast.workers import create_app

MAX_ATTEMPTS = 3


@pytest.fixture(scope="module")
def shared_namespace(redis_url: str) -> Iterator[str]:
    """The module's namespace: broker, results and store keys, deleted after."""
    with fresh_namespace(redis_url) as name:
        yield name


@pytest.fixture(scope="module")
def fake() -> Iterator[ProviderFake]:
    """The providers' stand-in for the module."""
    with start_provider_fake() as running:
        yield running


@pytest.fixture(scope="module")
def pagerduty_port() -> int:
    """Where PagerDuty is said to be: nobody listens there until a test starts a stand-in."""
    return free_port()


@pytest.fixture(scope="module")
def env(redis_url: str, shared_namespace: str, fake: ProviderFake, pagerduty_port: int
        ) -> dict[str, str]:  # fmt: skip
    """The environment of the worker and of the processes that replay dead letters."""
    return {
        "OUTLAST_BROKER_URL": redis_url,
        "OUTLAST_REDIS_URL": redis_url,
        "OUTLAST_NAMESPACE": shared_namespace,
        "OUTLAST_TASK_MODULES": '["outlast.tasks.notifications"]',
        "OUTLAST_SLACK_WEBHOOK_URL": f"{fake.url}/services/T000/B000/XXXX",
        "OUTLAST_PAGERDUTY_ROUTING_KEY": ROUTING_KEY,
        "OUTLAST_PAGERDUTY_URL": f"http://127.0.0.1:{pagerduty_port}",
        "OUTLAST_NOTIFY_TIMEOUT": "2",
        "OUTLAST_RETRIES__ALERT_NOTIFICATION__INITIAL_DELAY": "0.05",
        "OUTLAST_RETRIES__ALERT_NOTIFICATION__JITTER": "false",
        "OUTLAST_RETRIES__ALERT_NOTIFICATION__MAX_ATTEMPTS": str(MAX_ATTEMPTS),
    }


@pytest.fixture(scope="module")
def worker(env: dict[str, str]) -> Iterator[WorkerProcess]:
    """A prefork worker on the monitoring queue, with only the notification task loaded."""
    command = celery_worker_command(["monitoring"], concurrency=1)
    with start_worker(env, command) as running:
        yield running


@pytest.fixture(scope="module")
def app(redis_url: str, shared_namespace: str) -> Iterator[Celery]:
    """The sending side: a client app on the same broker and result store."""
    client = create_app(Settings(broker_url=redis_url, redis_url=redis_url,
                                 namespace=shared_namespace))  # fmt: skip
    yield client
    client.close()


@pytest.fixture
async def store(redis_url: str, shared_namespace: str) -> AsyncIterator[RedisStore]:
    """The store the worker reads alerts from and writes dead letters to."""
    opened = RedisStore(redis_url, namespace=shared_namespace)
    yield opened
    await opened.close()


async def raise_alert(store: RedisStore, alert_id: str) -> Alert:
    """A critical alert of the payments service, notified now."""
    now = time.time()
    return await store.upsert_alert(Alert(
        id=alert_id, alert_type="error_rate_critical", severity=ErrorSeverity.CRITICAL,
        title="Error rate critical on payments", message="31% of calls failed",
        created_at=now, updated_at=now, source="payments", notified_at=now,
        labels={"alertname": "error_rate_critical", "service": "payments"},
    ))  # fmt: skip


def send(app: Celery, alert_id: str, channel: Channel, level: int = 1) -> tuple[Any, Any]:
    """Send the notify task as beat's escalation job does; the notification and its result."""
    notification = PlannedNotification(alert_id=alert_id, level=level, channel=channel,
                                       severity="critical", kind="firing",
                                       planned_at=time.time())  # fmt: skip
    result = app.send_task(NOTIFY_TASK, kwargs={"notification": notification.as_dict()})
    return notification, result


async def test_a_worker_delivers_a_notification_sent_by_name(
    worker: WorkerProcess, app: Celery, fake: ProviderFake, store: RedisStore
) -> None:
    """The task routed by name to the monitoring queue posts to Slack once and records the
    delivery on the alert."""
    await raise_alert(store, "error_rate_critical:e2e")
    notification, result = send(app, "error_rate_critical:e2e", Channel.SLACK)
    outcome = result.get(timeout=60)
    assert (outcome["status"], outcome["attempts"], outcome["sent_to"]) == ("sent", 1, ["slack"])
    [posted] = [r for r in fake.of("slack") if "error_rate_critical:e2e" in str(r.body)]
    assert posted.problems == ()
    alert = await store.get_alert("error_rate_critical:e2e")
    assert delivery_of(alert, notification)["status"] == "sent"


async def test_a_429_waits_as_long_as_slack_asked(
    worker: WorkerProcess, app: Celery, fake: ProviderFake, store: RedisStore
) -> None:
    """Slack answers 429 with Retry-After: 2 although the backoff would wait 0.05 s: the
    second request comes at least 2 s after the first, and then succeeds."""
    await raise_alert(store, "error_rate_critical:429")
    fake.script("slack", (429, {"Retry-After": "2"}))
    _, result = send(app, "error_rate_critical:429", Channel.SLACK)
    outcome = result.get(timeout=60)
    first, second = [r for r in fake.of("slack") if "error_rate_critical:429" in str(r.body)]
    assert second.at - first.at >= 1.9
    assert (outcome["status"], outcome["attempts"]) == ("sent", 2)


async def test_a_channel_that_is_down_is_retried_then_dead_lettered_and_the_alert_kept(
    worker: WorkerProcess, app: Celery, store: RedisStore, env: dict[str, str],
    pagerduty_port: int,
) -> None:  # fmt: skip
    """PagerDuty does not answer: 3 attempts, then a dead letter holding the notification;
    the alert is intact and records the failed delivery. Once PagerDuty answers, replaying
    the letter triggers the incident."""
    before = await raise_alert(store, "error_rate_critical:down")
    notification, result = send(app, "error_rate_critical:down", Channel.PAGERDUTY, level=2)
    with pytest.raises(NotificationDeferredError, match="could not reach pagerduty"):
        result.get(timeout=60)
    letters = await store.list_dead_letters(task_name=NOTIFY_TASK)
    [letter] = [x for x in letters if x.task_id == result.id]
    assert (letter.reason, letter.attempts) == ("exhausted", MAX_ATTEMPTS)
    assert letter.queue == "monitoring"
    assert letter.kwargs["notification"] == notification.as_dict()
    alert = await store.get_alert("error_rate_critical:down")
    assert alert is not None
    assert (alert.status, alert.title, alert.labels) == (before.status, before.title, before.labels)
    record = delivery_of(alert, notification)
    assert (record["status"], record["attempts"]) == ("failed", MAX_ATTEMPTS)
    with ProviderFake(pagerduty_port).start() as pagerduty:
        outcome = app.AsyncResult(replay(env, letter.id)).get(timeout=60)
        [event] = pagerduty.of("pagerduty")
    assert (event.problems, event.body["event_action"]) == ((), "trigger")
    assert event.body["dedup_key"] == "error_rate_critical:down"
    assert (outcome["status"], outcome["attempts"]) == ("sent", MAX_ATTEMPTS + 1)


def replay(env: dict[str, str], letter_id: str) -> str:
    """Replay a dead letter from a separate process, as an operator does; the new task id."""
    code = (
        "import asyncio, sys, outlast.tasks.notifications; from outlast import dead_letters;"
        "print(asyncio.run(dead_letters.replay(sys.argv[1])))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, letter_id],
        capture_output=True, text=True, env={**os.environ, **env}, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()
