"""The alert_* settings reach the rules and grouping timers; bad ones are refused by name."""

from __future__ import annotations

import pytest

from outlast.config import reload_settings
from outlast.errors import SettingsError
from outlast.monitoring._alerting import AlertingConfig, config_from_settings


def test_alert_settings_default_to_the_documented_values(monkeypatch: pytest.MonkeyPatch) -> None:
    """With no alert_* variables the config equals AlertingConfig's own defaults."""
    for name in ("GROUP_WAIT", "ERROR_RATE_HIGH", "MIN_CALLS"):
        monkeypatch.delenv(f"OUTLAST_ALERT_{name}", raising=False)
    reload_settings()
    assert config_from_settings() == AlertingConfig()


def test_alert_settings_are_applied(monkeypatch: pytest.MonkeyPatch) -> None:
    """OUTLAST_ALERT_* variables set the timers, thresholds and minimum volume."""
    monkeypatch.setenv("OUTLAST_ALERT_GROUP_WAIT", "0")
    monkeypatch.setenv("OUTLAST_ALERT_REPEAT_INTERVAL", "3600")
    monkeypatch.setenv("OUTLAST_ALERT_ERROR_RATE_HIGH", "0.1")
    monkeypatch.setenv("OUTLAST_ALERT_ERROR_RATE_HIGH_RESOLVE", "0.08")
    monkeypatch.setenv("OUTLAST_ALERT_MIN_CALLS", "50")
    reload_settings()
    config = config_from_settings()
    assert (config.timers.group_wait, config.timers.repeat_interval) == (0.0, 3600.0)
    assert (config.rules.error_rate_high, config.rules.error_rate_high_resolve) == (0.1, 0.08)
    assert config.rules.min_calls == 50
    monkeypatch.undo()
    reload_settings()


def test_bad_alert_settings_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """A negative group wait fails the settings; a resolve ratio above its trigger fails
    the rules, naming both."""
    monkeypatch.setenv("OUTLAST_ALERT_GROUP_WAIT", "-1")
    with pytest.raises(SettingsError, match="OUTLAST_ALERT_GROUP_WAIT"):
        reload_settings()
    monkeypatch.delenv("OUTLAST_ALERT_GROUP_WAIT")
    monkeypatch.setenv("OUTLAST_ALERT_ERROR_RATE_HIGH_RESOLVE", "0.07")
    reload_settings()
    with pytest.raises(ValueError, match="error_rate_high_resolve < error_rate_high"):
        config_from_settings()
    monkeypatch.undo()
    reload_settings()
