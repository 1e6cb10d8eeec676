"""An acknowledgement in Outlast reaches PagerDuty: a real prefork worker runs beat's
escalation job and the notifier; an alert escalated to PagerDuty (level 2) triggers an
incident on a loopback stand-in of the Events API, the operator acknowledges it through
``error_monitor.acknowledge``, and the next escalation run sends exactly one acknowledge
under the incident's dedup key; later runs send nothing again."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest
from celery import Celery

from _provider_fakes import ROUTING_KEY, ProviderFake, start_provider_fake
from _smtp_server import SmtpServer, start_smtp_server
from _workers import WorkerProcess, celery_worker_command, fresh_namespace, start_worker
from outlast.config import Settings
from outlast.errors import ErrorSeverity
from outlast.monitoring import ErrorMonitor
from outlast.store import Alert, RedisStore
from outlast.workers import create_app

JOBS_QUEUE = "ack-jobs-test"
ALERT_ID = "error_rate_critical:ackpd"


@pytest.fixture
def namespace(redis_url: str) -> Iterator[str]:
    """A namespace of its own: broker, results, store and monitoring keys, deleted after."""
    with fresh_namespace(redis_url) as name:
        yield name


@pytest.fixture
def fake() -> Iterator[ProviderFake]:
    """The providers' stand-in (PagerDuty and Slack)."""
    with start_provider_fake() as running:
        yield running


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    """The relay level 2's email goes to."""
    with start_smtp_server() as running:
        yield running


@pytest.fixture
def worker(
    redis_url: str, namespace: str, fake: ProviderFake, smtp: SmtpServer
) -> Iterator[WorkerProcess]:
    """One prefork process on the jobs' queue and the notifications' ``monitoring`` queue."""
    env = {
        "OUTLAST_REDIS_URL": redis_url, "OUTLAST_BROKER_URL": redis_url,
        "OUTLAST_NAMESPACE": namespace, "OUTLAST_ALERT_GROUP_WAIT": "0",
        "OUTLAST_PAGERDUTY_ROUTING_KEY": ROUTING_KEY, "OUTLAST_PAGERDUTY_URL": fake.url,
        "OUTLAST_SLACK_WEBHOOK_URL": f"{fake.url}/services/T000/B000/XXXX",
        "OUTLAST_SMTP_HOST": "127.0.0.1", "OUTLAST_SMTP_PORT": str(smtp.port),
        "OUTLAST_ALERT_EMAIL_TO__DEFAULT": '["ops@example.org"]',
        "OUTLAST_NOTIFY_TIMEOUT": "5",
    }  # fmt: skip
    with start_worker(env, celery_worker_command([JOBS_QUEUE, "monitoring"])) as running:
        yield running


@pytest.fixture
def app(redis_url: str, namespace: str) -> Iterator[Celery]:
    """A client app on the test's broker and result backend."""
    client = create_app(Settings(broker_url=redis_url, redis_url=redis_url, namespace=namespace))
    yield client
    client.close()


def escalate(app: Celery) -> dict[str, int]:
    """Run beat's escalation job on the worker; its summary."""
    sent = app.send_task("outlast.monitoring.escalate", queue=JOBS_QUEUE)
    result: dict[str, int] = sent.get(timeout=30)
    return result


async def raise_paged_alert(redis_url: str, namespace: str) -> None:
    """A critical alert of payments first notified 31 minutes ago, still at level 1."""
    now = time.time()
    store = RedisStore(redis_url, namespace=namespace)
    try:
        await store.upsert_alert(Alert(
            id=ALERT_ID, alert_type="error_rate_critical", severity=ErrorSeverity.CRITICAL,
            title="Error rate critical on payments", message="31% of calls failed",
            created_at=now - 1900, updated_at=now, source="payments",
            notified_at=now - 1860, last_notified_at=now - 1860, escalation_level=1,
            labels={"alertname": "error_rate_critical", "service": "payments"},
        ))  # fmt: skip
    finally:
        await store.close()


def test_an_acknowledgement_acknowledges_the_pagerduty_incident_once(
    worker: WorkerProcess, app: Celery, fake: ProviderFake, redis_url: str, namespace: str
) -> None:
    """Escalation to level 2 triggers the incident; after the acknowledgement one escalate
    run sends one acknowledge under the same dedup key, and two more runs send nothing."""
    asyncio.run(raise_paged_alert(redis_url, namespace))
    first = escalate(app)
    assert first == {"planned": 3, "sent": 3}  # level 2: PagerDuty, Slack, email
    [trigger] = fake.wait_for("pagerduty", 1)
    assert trigger.body["event_action"] == "trigger"
    assert trigger.problems == ()

    monitor = ErrorMonitor(
        redis_url=redis_url, namespace=namespace,
        open_store=lambda: RedisStore(redis_url, namespace=namespace),
    )  # fmt: skip
    acknowledged = monitor.acknowledge(ALERT_ID, by="ada")
    assert acknowledged is not None
    assert acknowledged.acknowledged_by == "ada"

    assert escalate(app) == {"planned": 0, "sent": 1}
    events = fake.wait_for("pagerduty", 2)
    assert events[1].body == {"routing_key": ROUTING_KEY, "event_action": "acknowledge",
                              "dedup_key": ALERT_ID}  # fmt: skip
    assert events[1].problems == ()
    assert trigger.body["dedup_key"] == ALERT_ID

    assert escalate(app) == {"planned": 0, "sent": 0}
    assert escalate(app) == {"planned": 0, "sent": 0}
    time.sleep(0.5)  # a message sent twice would have arrived by now
    assert [e.body["event_action"] for e in fake.of("pagerduty")] == ["trigger", "acknowledge"]
