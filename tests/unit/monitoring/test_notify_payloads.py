"""What each channel sends for an alert, and what a provider's answer means: pure
functions, no I/O."""

from __future__ import annotations

import email.utils

import pytest

from outlast.errors import ErrorSeverity
from outlast.monitoring import DEFAULT_POLICY, Channel, PlannedNotification
from outlast.monitoring.notify import (
    ChannelNotConfiguredError,
    NotificationDeferredError,
    NotificationRejectedError,
    acknowledgement_notifications,
    message_for,
    recipients_for,
)
from outlast.monitoring.notify._alertmanager import alertmanager_alert
from outlast.monitoring.notify._http import check_answer
from outlast.monitoring.notify._pagerduty import pagerduty_event
from outlast.monitoring.notify._slack import slack_payload
from outlast.monitoring.notify._twilio import sms_text, voice_twiml
from outlast.store import Alert

NOW = 1_780_000_000.0
KEY = "R" * 32


def alert(**fields: object) -> Alert:
    """A high alert of the search service, raised a minute before NOW."""
    values: dict[str, object] = {
        "id": "error_rate_high:9a", "alert_type": "error_rate_high",
        "severity": ErrorSeverity.HIGH, "title": "Error rate high on search",
        "message": "7% of calls failed", "created_at": NOW - 60, "updated_at": NOW,
        "labels": {"alertname": "error_rate_high", "service": "search"},
    }  # fmt: skip
    return Alert(**{**values, **fields})  # type: ignore[arg-type]


def notification(kind: str = "firing", level: int = 2) -> PlannedNotification:
    """A notification of that alert."""
    return PlannedNotification(alert_id="error_rate_high:9a", level=level,
                               channel=Channel.PAGERDUTY, severity="error", kind=kind,
                               planned_at=NOW)  # fmt: skip


def test_acknowledge_and_resolve_events_carry_only_the_key_action_and_dedup_key() -> None:
    """Events API v2 takes routing_key, event_action and dedup_key alone for these two."""
    for kind, action in (("acknowledged", "acknowledge"), ("resolved", "resolve")):
        event = pagerduty_event(message_for(notification(kind), alert()), routing_key=KEY, now=NOW)
        assert event == {"routing_key": KEY, "event_action": action,
                         "dedup_key": "error_rate_high:9a"}  # fmt: skip


def test_a_trigger_summary_is_cut_at_pagerdutys_limit() -> None:
    """A title of 5000 characters leaves a summary of 1024 and the service as source."""
    message = message_for(notification(), alert(title="x" * 5000))
    payload = pagerduty_event(message, routing_key=KEY, now=NOW)["payload"]
    assert len(payload["summary"]) == 1024
    assert (payload["source"], payload["component"], payload["severity"]) == (
        "search", "search", "error"
    )  # fmt: skip


def test_a_message_without_its_alert_still_says_which_alert() -> None:
    """An alert no longer stored is named by its id and type."""
    message = message_for(notification(), None)
    assert message.title == "alert error_rate_high:9a"
    assert message.alert_type == "error_rate_high"
    assert pagerduty_event(message, routing_key=KEY, now=NOW)["payload"]["source"] == "outlast"


def test_alertmanager_ends_a_firing_alert_ahead_and_a_resolved_one_at_resolution() -> None:
    """endsAt is now + firing_for while firing, the resolution time once resolved."""
    firing = alertmanager_alert(message_for(notification(), alert()), now=NOW, firing_for=3600)
    assert firing["endsAt"] == "2026-05-28T21:26:40.000Z"
    assert firing["startsAt"] == "2026-05-28T20:25:40.000Z"
    done = alert(status="resolved", resolved_at=NOW - 30)
    ended = alertmanager_alert(
        message_for(notification("resolved"), done), now=NOW, firing_for=3600
    )
    assert ended["endsAt"] == "2026-05-28T20:26:10.000Z"


def test_slack_text_is_bounded_and_twiml_is_escaped() -> None:
    """A huge message fits Slack's 3000-character section; markup in a title cannot break
    the TwiML; an SMS stays within two segments."""
    message = message_for(notification(), alert(title="<Hangup/> & go", message="m" * 9000))
    assert len(slack_payload(message)["blocks"][0]["text"]["text"]) == 3000
    twiml = voice_twiml(message)
    assert "<Hangup/>" not in twiml
    assert "&lt;Hangup/&gt; &amp; go" in twiml
    assert len(sms_text(message_for(notification(), alert(title="t" * 900)))) == 320


@pytest.mark.parametrize(
    ("status", "headers", "expected"),
    [
        (429, {"retry-after": "12"}, 12.0),
        (503, {"Retry-After": email.utils.formatdate(NOW + 30, usegmt=True)}, 30.0),
        (500, {}, None),
    ],
)
def test_429_and_5xx_are_deferred_with_the_wait_asked(
    status: int, headers: dict[str, str], expected: float | None
) -> None:
    """Delta-seconds or an HTTP-date, in any case of the header name, give the wait."""
    with pytest.raises(NotificationDeferredError) as caught:
        check_answer("slack", status, "busy", headers, ok={200}, now=NOW)
    assert caught.value.retry_after == expected


def test_other_4xx_are_refused_for_good_and_ok_passes() -> None:
    """404 (a revoked webhook) is a rejection; the expected status returns quietly."""
    with pytest.raises(NotificationRejectedError, match="404"):
        check_answer("slack", 404, "no_service", {}, ok={200}, now=NOW)
    check_answer("pagerduty", 202, "", {}, ok={202}, now=NOW)


def test_recipients_fall_back_to_default_and_say_what_to_set() -> None:
    """A level without a list takes 'default'; with neither, the error names the variable."""
    table = {"1": ["a@example.org"], "default": ["ops@example.org"]}
    assert recipients_for(table, 1, "OUTLAST_ALERT_EMAIL_TO") == ["a@example.org"]
    assert recipients_for(table, 3, "OUTLAST_ALERT_EMAIL_TO") == ["ops@example.org"]
    with pytest.raises(ChannelNotConfiguredError, match="OUTLAST_ALERT_EMAIL_TO__3"):
        recipients_for({}, 3, "OUTLAST_ALERT_EMAIL_TO")


def test_an_acknowledgement_is_told_to_pagerduty_once_it_was_paged() -> None:
    """An acknowledged alert that reached level 2 plans one acknowledge for PagerDuty; one
    still at level 1, or not acknowledged, plans none."""
    paged = alert(escalation_level=2, acknowledged_at=NOW, notified_at=NOW - 1800)
    [planned] = acknowledgement_notifications(paged, DEFAULT_POLICY, now=NOW)
    assert (planned.channel, planned.kind, planned.level) == (Channel.PAGERDUTY, "acknowledged", 2)
    assert acknowledgement_notifications(alert(escalation_level=1, acknowledged_at=NOW),
                                         DEFAULT_POLICY, now=NOW) == []  # fmt: skip
    assert acknowledgement_notifications(alert(escalation_level=2), DEFAULT_POLICY, now=NOW) == []
