"""The recovery beat entry: the health sweep on the recovery queue every 30 s by default,
every OUTLAST_RECOVERY_SWEEP_INTERVAL seconds when set, each sweep expiring after it; the
recovery tasks are routed to the recovery queue."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from outlast.config import Settings
from outlast.config._loading import clear_loaded
from outlast.errors import SettingsError
from outlast.workers._queues import queue_for
from outlast.workers.beat._schedule import beat_schedule


@pytest.fixture(autouse=True)
def _fresh_settings() -> Iterator[None]:
    clear_loaded()
    yield
    clear_loaded()


def test_the_sweep_runs_every_30_seconds_by_default() -> None:
    """Default: every 30 s, expiring after 30 s, routed to the recovery queue."""
    entry = beat_schedule(Settings())["outlast-recovery-health-sweep"]
    assert entry == {
        "task": "outlast.recovery.health_sweep",
        "schedule": 30.0,
        "options": {"expires": 30.0},
    }
    names = ("health_sweep", "heal", "restart", "canary")
    assert {queue_for(f"outlast.recovery.{name}") for name in names} == {"recovery"}


def test_the_interval_follows_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """OUTLAST_RECOVERY_SWEEP_INTERVAL changes the schedule; a wrong one is named."""
    monkeypatch.setenv("OUTLAST_RECOVERY_SWEEP_INTERVAL", "5")
    assert beat_schedule(Settings())["outlast-recovery-health-sweep"]["schedule"] == 5.0
    clear_loaded()
    monkeypatch.setenv("OUTLAST_RECOVERY_SWEEP_INTERVAL", "0")
    with pytest.raises(SettingsError, match="OUTLAST_RECOVERY_SWEEP_INTERVAL"):
        beat_schedule(Settings())
