"""The orphan-recovery settings: their defaults, the variables they read, and a heartbeat
TTL too short for its interval refused with the variable named."""

from __future__ import annotations

import pytest

from outlast.config import OrphanSettings
from outlast.config._loading import load
from outlast.errors import SettingsError


def test_defaults_beat_every_2_s_lapse_after_6_s_and_check_every_5_s() -> None:
    """Recovery is on, in workers too, with the documented intervals."""
    settings = OrphanSettings()
    assert settings.orphan_recovery
    assert settings.orphan_check_in_workers
    assert (settings.orphan_heartbeat_interval, settings.orphan_heartbeat_ttl) == (2.0, 6.0)
    assert settings.orphan_check_interval == 5.0


def test_the_variables_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    """OUTLAST_ORPHAN_* set the fields."""
    monkeypatch.setenv("OUTLAST_ORPHAN_HEARTBEAT_INTERVAL", "0.5")
    monkeypatch.setenv("OUTLAST_ORPHAN_HEARTBEAT_TTL", "1.5")
    monkeypatch.setenv("OUTLAST_ORPHAN_CHECK_IN_WORKERS", "false")
    settings = load(OrphanSettings)
    assert (settings.orphan_heartbeat_interval, settings.orphan_heartbeat_ttl) == (0.5, 1.5)
    assert not settings.orphan_check_in_workers


def test_a_ttl_shorter_than_two_beats_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """One late beat must not look like a death: TTL < 2 x interval is an error."""
    monkeypatch.setenv("OUTLAST_ORPHAN_HEARTBEAT_TTL", "3")
    with pytest.raises(SettingsError) as caught:
        load(OrphanSettings)
    assert "OUTLAST_ORPHAN_HEARTBEAT_TTL holds '3'" in str(caught.value)
    assert "at least twice OUTLAST_ORPHAN_HEARTBEAT_INTERVAL (2.0 s)" in str(caught.value)
