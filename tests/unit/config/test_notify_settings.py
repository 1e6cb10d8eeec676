"""Notification settings: per-level recipients from the environment, secrets kept out of
reprs, and every malformed value named by its variable."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from outlast.config import NotifySettings, get_notify_settings
from outlast.config._loading import clear_loaded
from outlast.errors import SettingsError


def test_recipients_per_level_read_from_nested_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    """OUTLAST_ALERT_EMAIL_TO__1 and a JSON OUTLAST_ALERT_SMS_TO both give per-level lists."""
    monkeypatch.setenv("OUTLAST_ALERT_EMAIL_TO__1", '["dev@example.org"]')
    monkeypatch.setenv("OUTLAST_ALERT_SMS_TO", '{"default": ["+14155550100"]}')
    clear_loaded()
    settings = get_notify_settings()
    assert settings.alert_email_to == {"1": ["dev@example.org"]}
    assert settings.alert_sms_to == {"default": ["+14155550100"]}


def test_secrets_stay_out_of_the_repr() -> None:
    """The webhook URL, routing key and auth token never show in a repr."""
    settings = NotifySettings(
        slack_webhook_url=SecretStr("https://hooks.slack.com/services/T/B/sekret-hook"),
        pagerduty_routing_key=SecretStr("R" * 32), twilio_auth_token=SecretStr("sekret-token"),
    )  # fmt: skip
    assert "sekret" not in repr(settings)
    assert "R" * 32 not in repr(settings)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("OUTLAST_SLACK_WEBHOOK_URL", "hooks.slack.com/services/x"),
        ("OUTLAST_PAGERDUTY_ROUTING_KEY", "too-short"),
        ("OUTLAST_PAGERDUTY_URL", "ftp://events.pagerduty.com"),
        ("OUTLAST_TWILIO_ACCOUNT_SID", "SK0123"),
        ("OUTLAST_TWILIO_FROM", "4155550100"),
        ("OUTLAST_ALERT_PHONE_TO", '{"1": ["555-0100"]}'),
        ("OUTLAST_ALERT_EMAIL_TO", '{"first": ["dev@example.org"]}'),
        ("OUTLAST_ALERTMANAGER_URL", "alertmanager:9093"),
    ],
)
def test_a_malformed_value_is_named_by_its_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    """Loading fails with a SettingsError naming the variable, never a default in its place."""
    monkeypatch.setenv(variable, value)
    clear_loaded()
    with pytest.raises(SettingsError) as caught:
        get_notify_settings()
    assert [problem.field for problem in caught.value.problems] == [variable]


def test_the_link_names_the_alert() -> None:
    """alert_link_url's {alert_id} is replaced; without it there is no link."""
    settings = NotifySettings(alert_link_url="https://ops.example/alerts/{alert_id}")
    assert (
        settings.link_to("repeated_errors:ab12")
        == "https://ops.example/alerts/repeated_errors:ab12"
    )
    assert NotifySettings().link_to("x") is None
