"""Alert notifications, one attempt at a time (``send_notification``, no Celery): each
channel's provider client talks to a loopback stand-in that checks requests as the real
API does (tests/_provider_fakes.py), email goes to aiosmtpd, and every attempt is recorded
on the alert in a real Redis store."""

from __future__ import annotations

import sys
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from _provider_fakes import (
    ROUTING_KEY,
    TWILIO_SID,
    TWILIO_TOKEN,
    ProviderFake,
    start_provider_fake,
)
from _servers import free_port
from _smtp_server import start_smtp_server
from outlast.config import EmailSettings, NotifySettings
from outlast.errors import ErrorSeverity
from outlast.monitoring import Channel, PlannedNotification
from outlast.monitoring.notify import (
    NOTIFY_EXTRA,
    ChannelNotConfiguredError,
    NotificationDeferredError,
    NotificationRejectedError,
    delivery_of,
    plan_acknowledgement,
    send_notification,
)
from outlast.store import Alert, RedisStore
from outlast.testing import FakeClock

ALERT_ID = "error_rate_critical:5f1c0a"
LINK = "https://ops.example/alerts/{alert_id}"


@pytest.fixture
def fake() -> Iterator[ProviderFake]:
    """The providers' stand-in, stopped after the test."""
    with start_provider_fake() as running:
        yield running


@pytest.fixture
async def store(redis_url: str, namespace: str) -> AsyncIterator[RedisStore]:
    """The store alerts live in: the test Redis, the test's namespace."""
    opened = RedisStore(redis_url, namespace=namespace)
    yield opened
    await opened.close()


@pytest.fixture
def clock() -> FakeClock:
    """A fake clock at the real wall time."""
    return FakeClock(wall_start=time.time())


def settings_for(fake: ProviderFake, **extra: Any) -> NotifySettings:
    """Every HTTP channel pointed at ``fake``."""
    values: dict[str, Any] = {
        "slack_webhook_url": f"{fake.url}/services/T000/B000/XXXX",
        "pagerduty_routing_key": ROUTING_KEY,
        "pagerduty_url": fake.url,
        "twilio_account_sid": TWILIO_SID,
        "twilio_auth_token": TWILIO_TOKEN,
        "twilio_from": "+15005550006",
        "twilio_url": fake.url,
        "alertmanager_url": fake.url,
        "alert_sms_to": {"4": ["+14155550101", "+14155550102"]},
        "alert_phone_to": {"default": ["+14155550103"]},
        "alert_email_to": {"1": ["dev@example.org", "lead@example.org"]},
        "alert_link_url": LINK,
        "notify_timeout": 5,
    }
    return NotifySettings(**{**values, **extra})


async def stored_alert(store: RedisStore, clock: FakeClock, **fields: Any) -> Alert:
    """A critical alert of the payments service, notified now."""
    now = clock.time()
    alert = Alert(
        id=ALERT_ID, alert_type="error_rate_critical", severity=ErrorSeverity.CRITICAL,
        title="Error rate critical on payments", message="31% of 200 calls failed in 5 min",
        created_at=now - 60, updated_at=now, source="payments", notified_at=now,
        labels={"alertname": "error_rate_critical", "service": "payments"}, **fields,
    )  # fmt: skip
    return await store.upsert_alert(alert)


def planned(channel: Channel, clock: FakeClock, *, level: int = 1, kind: str = "firing"
            ) -> PlannedNotification:  # fmt: skip
    """A notification of the stored alert on ``channel``."""
    return PlannedNotification(alert_id=ALERT_ID, level=level, channel=channel,
                               severity="critical", kind=kind, planned_at=clock.time())  # fmt: skip


async def delivery(store: RedisStore, notification: PlannedNotification) -> dict[str, Any]:
    """The delivery recorded on the alert for ``notification``."""
    return delivery_of(await store.get_alert(ALERT_ID), notification)


async def test_slack_gets_text_and_blocks_and_the_delivery_is_recorded(
    fake: ProviderFake, store: RedisStore, clock: FakeClock
) -> None:
    """The webhook gets the headline as text and Block Kit blocks with the alert's facts;
    the alert records one sent attempt and keeps everything else."""
    before = await stored_alert(store, clock)
    slack = planned(Channel.SLACK, clock)
    outcome = await send_notification(slack.as_dict(), store=store, settings=settings_for(fake),
                                      clock=clock)  # fmt: skip
    [got] = fake.of("slack")
    assert got.problems == ()
    assert got.path == "/services/T000/B000/XXXX"
    assert got.body["text"] == "[CRITICAL] Error rate critical on payments (firing, level 1)"
    section, context = got.body["blocks"]
    assert "31% of 200 calls failed" in section["text"]["text"]
    assert ALERT_ID in context["elements"][0]["text"]
    assert f"https://ops.example/alerts/{ALERT_ID}" in context["elements"][0]["text"]
    assert outcome["status"] == "sent"
    record = await delivery(store, slack)
    assert (record["status"], record["attempts"], record["sent_to"]) == ("sent", 1, ["slack"])
    after = await store.get_alert(ALERT_ID)
    assert after is not None
    assert (after.title, after.status, after.labels) == (before.title, before.status, before.labels)


async def test_email_goes_to_the_levels_recipients_through_the_smtp_relay(
    fake: ProviderFake, store: RedisStore, clock: FakeClock
) -> None:
    """Level 1's addresses get one message with the headline as subject and the alert's
    facts in the body, from the email queue's sender."""
    await stored_alert(store, clock)
    email = planned(Channel.EMAIL, clock)
    with start_smtp_server() as smtp:
        relay = EmailSettings(smtp_host="127.0.0.1", smtp_port=smtp.port,
                              smtp_from="Outlast <alerts@outlast.example>")  # fmt: skip
        await send_notification(email, store=store, settings=settings_for(fake),
                                email_settings=relay, clock=clock)  # fmt: skip
        [got] = smtp.handler.received
    assert list(got.rcpt_tos) == ["dev@example.org", "lead@example.org"]
    assert got.mail_from == "alerts@outlast.example"
    assert got.message["Subject"] == "[CRITICAL] Error rate critical on payments (firing, level 1)"
    body = got.message.get_content()
    assert "31% of 200 calls failed" in body
    assert f"Alert: {ALERT_ID}" in body
    assert "service: payments" in body
    record = await delivery(store, email)
    assert record["sent_to"] == ["dev@example.org", "lead@example.org"]


async def test_pagerduty_triggers_acknowledges_and_resolves_one_incident(
    fake: ProviderFake, store: RedisStore, clock: FakeClock
) -> None:
    """Firing, acknowledged and resolved notifications are trigger, acknowledge and resolve
    events under the alert id as one dedup_key; the trigger carries summary, source and
    severity as Events API v2 requires."""
    settings = settings_for(fake)
    await stored_alert(store, clock)
    for kind in ("firing", "acknowledged"):
        await send_notification(planned(Channel.PAGERDUTY, clock, level=2, kind=kind),
                                store=store, settings=settings, clock=clock)  # fmt: skip
        clock.advance(60)
    await store.resolve_alert(ALERT_ID, at=clock.time())
    await send_notification(planned(Channel.PAGERDUTY, clock, level=2, kind="resolved"),
                            store=store, settings=settings, clock=clock)  # fmt: skip
    events = fake.of("pagerduty")
    assert [e.problems for e in events] == [(), (), ()]
    assert [e.body["event_action"] for e in events] == ["trigger", "acknowledge", "resolve"]
    assert {e.body["dedup_key"] for e in events} == {ALERT_ID}
    assert {e.body["routing_key"] for e in events} == {ROUTING_KEY}
    payload = events[0].body["payload"]
    assert payload["summary"] == "[CRITICAL] Error rate critical on payments (firing, level 2)"
    assert (payload["source"], payload["severity"]) == ("payments", "critical")
    assert events[0].body["links"] == [
        {"href": f"https://ops.example/alerts/{ALERT_ID}", "text": "The alert"}
    ]


async def test_sms_goes_through_twilio_to_every_number_of_the_level(
    fake: ProviderFake, store: RedisStore, clock: FakeClock
) -> None:
    """Each level-4 number gets a Messages.json request, form-encoded with basic auth as
    the account, from the configured number, carrying the headline."""
    await stored_alert(store, clock)
    sms = planned(Channel.SMS, clock, level=4)
    await send_notification(sms, store=store, settings=settings_for(fake), clock=clock)
    sent = fake.of("twilio-sms")
    assert [r.problems for r in sent] == [(), ()]
    assert [r.body["To"] for r in sent] == ["+14155550101", "+14155550102"]
    assert {r.body["From"] for r in sent} == {"+15005550006"}
    assert sent[0].body["Body"].startswith("[CRITICAL] Error rate critical on payments")
    assert (await delivery(store, sms))["sent_to"] == ["+14155550101", "+14155550102"]


async def test_a_phone_call_reads_the_alert_with_twiml(
    fake: ProviderFake, store: RedisStore, clock: FakeClock
) -> None:
    """Calls.json gets To, From and TwiML that says the severity and title."""
    await stored_alert(store, clock)
    await send_notification(planned(Channel.PHONE, clock, level=3), store=store,
                            settings=settings_for(fake), clock=clock)  # fmt: skip
    [call] = fake.of("twilio-call")
    assert call.problems == ()
    assert call.body["To"] == "+14155550103"
    twiml = call.body["Twiml"]
    assert twiml.startswith("<Response><Say>")
    assert "critical. Error rate critical on payments. firing." in twiml


async def test_alertmanager_gets_the_alert_with_labels_and_its_end(
    fake: ProviderFake, store: RedisStore, clock: FakeClock
) -> None:
    """A firing alert is posted with its labels, annotations, startsAt, generatorURL and an
    endsAt a day ahead; once resolved, its endsAt is the resolution."""
    await stored_alert(store, clock)
    settings = settings_for(fake)
    await send_notification(planned(Channel.ALERTMANAGER, clock), store=store,
                            settings=settings, clock=clock)  # fmt: skip
    await store.resolve_alert(ALERT_ID, at=clock.time())
    await send_notification(planned(Channel.ALERTMANAGER, clock, kind="resolved"), store=store,
                            settings=settings, clock=clock)  # fmt: skip
    firing, resolved = fake.of("alertmanager")
    assert (firing.problems, resolved.problems) == ((), ())
    [alert] = firing.body
    assert alert["labels"] == {"alertname": "error_rate_critical", "service": "payments",
                               "severity": "critical", "outlast_alert_id": ALERT_ID}  # fmt: skip
    assert alert["annotations"]["summary"] == "Error rate critical on payments"
    assert alert["generatorURL"] == f"https://ops.example/alerts/{ALERT_ID}"
    assert alert["endsAt"] > alert["startsAt"]
    [ended] = resolved.body
    assert ended["endsAt"] < alert["endsAt"]


async def test_a_429_is_deferred_with_the_wait_slack_asked_for(
    fake: ProviderFake, store: RedisStore, clock: FakeClock
) -> None:
    """A 429 with Retry-After: 7 raises a deferral carrying 7 seconds (the worker waits
    that long) and the alert records the attempt as retrying."""
    await stored_alert(store, clock)
    fake.script("slack", (429, {"Retry-After": "7"}))
    slack = planned(Channel.SLACK, clock)
    with pytest.raises(NotificationDeferredError) as caught:
        await send_notification(slack, store=store, settings=settings_for(fake), clock=clock,
                                last_attempt=False)  # fmt: skip
    assert caught.value.retry_after == 7.0
    record = await delivery(store, slack)
    assert (record["status"], record["attempts"]) == ("retrying", 1)
    assert "429" in record["error"]


async def test_a_retry_reaches_only_the_numbers_not_reached_yet(
    fake: ProviderFake, store: RedisStore, clock: FakeClock
) -> None:
    """When Twilio fails on the second number, the retry texts that number alone."""
    await stored_alert(store, clock)
    sms = planned(Channel.SMS, clock, level=4)
    settings = settings_for(fake)
    fake.script("twilio-sms", (201, {}), (503, {}))
    with pytest.raises(NotificationDeferredError):
        await send_notification(sms, store=store, settings=settings, clock=clock,
                                last_attempt=False)  # fmt: skip
    await send_notification(sms, store=store, settings=settings, clock=clock)
    assert [r.body["To"] for r in fake.of("twilio-sms")] == [
        "+14155550101", "+14155550102", "+14155550102"
    ]  # fmt: skip
    record = await delivery(store, sms)
    assert (record["status"], record["attempts"]) == ("sent", 2)


async def test_a_refusal_is_final_and_a_down_provider_is_deferred(
    fake: ProviderFake, store: RedisStore, clock: FakeClock
) -> None:
    """PagerDuty's 400 is a rejection for good, recorded as failed; a provider nobody
    answers for is a deferral."""
    await stored_alert(store, clock)
    page = planned(Channel.PAGERDUTY, clock, level=2)
    fake.script("pagerduty", (400, {}))
    with pytest.raises(NotificationRejectedError, match="400"):
        await send_notification(page, store=store, settings=settings_for(fake), clock=clock)
    assert (await delivery(store, page))["status"] == "failed"
    down = settings_for(fake, pagerduty_url=f"http://127.0.0.1:{free_port()}")
    with pytest.raises(NotificationDeferredError, match="could not reach pagerduty"):
        await send_notification(page, store=store, settings=down, clock=clock)


async def test_a_channel_without_settings_or_package_says_what_to_set(
    fake: ProviderFake, store: RedisStore, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No webhook URL names OUTLAST_SLACK_WEBHOOK_URL; no slack-sdk names the notify extra;
    no recipients for the level names the variable for it."""
    await stored_alert(store, clock)
    with pytest.raises(ChannelNotConfiguredError, match="OUTLAST_SLACK_WEBHOOK_URL"):
        await send_notification(planned(Channel.SLACK, clock), store=store,
                                settings=NotifySettings(), clock=clock)  # fmt: skip
    with pytest.raises(ChannelNotConfiguredError, match="OUTLAST_ALERT_SMS_TO__2"):
        await send_notification(planned(Channel.SMS, clock, level=2), store=store,
                                settings=settings_for(fake), clock=clock)  # fmt: skip
    monkeypatch.delitem(sys.modules, "outlast.monitoring.notify._slack", raising=False)
    monkeypatch.setitem(sys.modules, "slack_sdk.webhook.async_client", None)
    with pytest.raises(ChannelNotConfiguredError, match="slack-sdk") as caught:
        await send_notification(planned(Channel.SLACK, clock, kind="repeat"), store=store,
                                settings=settings_for(fake), clock=clock)  # fmt: skip
    assert NOTIFY_EXTRA in str(caught.value)
    assert fake.received == []


async def test_paging_about_an_acknowledged_alert_is_skipped(
    fake: ProviderFake, store: RedisStore, clock: FakeClock
) -> None:
    """An escalation planned before the alert was acknowledged sends nothing and is recorded
    as skipped; the resolution of the same alert is still sent."""
    await stored_alert(store, clock, acknowledged_at=clock.time(), acknowledged_by="ada")
    escalation = planned(Channel.SLACK, clock, level=2, kind="escalation")
    outcome = await send_notification(escalation, store=store, settings=settings_for(fake),
                                      clock=clock)  # fmt: skip
    assert outcome["status"] == "skipped"
    assert fake.received == []
    await store.resolve_alert(ALERT_ID, at=clock.time())
    await send_notification(planned(Channel.SLACK, clock, kind="resolved"), store=store,
                            settings=settings_for(fake), clock=clock)  # fmt: skip
    [resolved] = fake.of("slack")
    assert "(resolved, level 1)" in resolved.body["text"]


async def test_an_acknowledgement_in_outlast_acknowledges_the_pagerduty_incident(
    fake: ProviderFake, store: RedisStore, clock: FakeClock
) -> None:
    """An acknowledged alert paged at level 2 gets one stored acknowledgement notification
    (planning again adds none); sending it is an acknowledge under the alert's dedup_key."""
    await stored_alert(store, clock, escalation_level=2, acknowledged_at=clock.time(),
                       acknowledged_by="ada")  # fmt: skip
    [planned] = await plan_acknowledgement(store, ALERT_ID, now=clock.time())
    assert await plan_acknowledgement(store, ALERT_ID, now=clock.time()) == []
    await send_notification(planned.as_dict(), store=store, settings=settings_for(fake),
                            clock=clock)  # fmt: skip
    [event] = fake.of("pagerduty")
    assert event.body == {"routing_key": ROUTING_KEY, "event_action": "acknowledge",
                          "dedup_key": ALERT_ID}  # fmt: skip
    assert (await delivery(store, planned))["status"] == "sent"
