"""Monitoring's beat entries: the four jobs, at the intervals the monitoring settings give,
each expiring after its interval."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from outlast.config import MonitoringSettings, Settings
from outlast.config._loading import clear_loaded
from outlast.errors import SettingsError
from outlast.workers._queues import queue_for
from outlast.workers.beat._schedule import beat_schedule
from outlast.workers.beat._schedule_monitoring import monitoring_jobs


@pytest.fixture(autouse=True)
def _fresh_settings() -> Iterator[None]:
    clear_loaded()
    yield
    clear_loaded()


def test_defaults_are_the_issue_intervals() -> None:
    """Stats every 60 s, alerts every 30 s, escalation every 60 s, the prune daily."""
    jobs = monitoring_jobs(Settings())
    assert {entry["task"]: entry["schedule"] for entry in jobs.values()} == {
        "outlast.monitoring.compute_stats": 60.0,
        "outlast.monitoring.evaluate_alerts": 30.0,
        "outlast.monitoring.escalate": 60.0,
        "outlast.monitoring.prune": 86400.0,
    }
    for entry in jobs.values():
        assert entry["options"] == {"expires": entry["schedule"]}


def test_intervals_follow_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """OUTLAST_MONITORING_* variables change the schedule beat builds."""
    monkeypatch.setenv("OUTLAST_MONITORING_EVALUATE_INTERVAL", "7.5")
    monkeypatch.setenv("OUTLAST_MONITORING_PRUNE_INTERVAL", "3600")
    schedule = beat_schedule(Settings())
    assert schedule["outlast-monitoring-evaluate-alerts"]["schedule"] == 7.5
    assert schedule["outlast-monitoring-prune"]["schedule"] == 3600.0
    assert schedule["outlast-monitoring-escalate"]["schedule"] == 60.0


def test_a_wrong_interval_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    """A non-positive interval fails with the variable's name, not a default."""
    monkeypatch.setenv("OUTLAST_MONITORING_STATS_INTERVAL", "0")
    with pytest.raises(SettingsError, match="OUTLAST_MONITORING_STATS_INTERVAL"):
        monitoring_jobs(Settings())


def test_retentions_default_to_a_week_of_events_and_a_day_of_snapshots() -> None:
    """The prune keeps 7 days of events and resolved alerts, 1 day of stats snapshots."""
    settings = MonitoringSettings()
    assert settings.monitoring_event_retention == 7 * 86400
    assert settings.monitoring_snapshot_retention == 86400


def test_the_jobs_go_to_the_monitoring_queue() -> None:
    """Every monitoring job and its notifier are routed to the monitoring queue by name."""
    for task in ("compute_stats", "evaluate_alerts", "escalate", "prune", "notify"):
        assert queue_for(f"outlast.monitoring.{task}") == "monitoring"
