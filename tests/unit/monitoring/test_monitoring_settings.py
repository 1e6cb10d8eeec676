"""A monitor whose settings cannot load turns itself off, once, and says so."""

from __future__ import annotations

import logging

import pytest

from outlast.config import reload_settings
from outlast.errors import SettingsError
from outlast.monitoring import ErrorMonitor


def test_bad_monitoring_settings_turn_monitoring_off_and_say_so(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """With an invalid flush interval the flusher cannot start: the monitor logs it and
    stops listening, instead of holding counts that nothing will ever write."""
    monkeypatch.setenv("OUTLAST_MONITORING_FLUSH_INTERVAL", "-1")
    with pytest.raises(SettingsError):
        reload_settings()
    monitor = ErrorMonitor()
    monitor.listen()
    with caplog.at_level(logging.ERROR, logger="outlast.monitoring"):
        monitor.record(ValueError("bad"), {"operation": "orders.create"})
        monitor.record(ValueError("bad"), {"operation": "orders.create"})
    assert [r.getMessage() for r in caplog.records] == [
        "monitoring is off: its flusher could not start"
    ]
    assert not monitor.listening
    assert monitor.buffered == 2
    monkeypatch.delenv("OUTLAST_MONITORING_FLUSH_INTERVAL")
