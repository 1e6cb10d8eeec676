"""The metrics settings: defaults, what they accept, and one clear error for a bad value."""

from __future__ import annotations

from pathlib import Path

import pytest

from outlast.config import get_metrics_settings, reload_settings
from outlast.errors import SettingsError


def test_defaults_are_single_process_on_loopback() -> None:
    """With nothing set: no metrics directory, loopback:9808, 50 error types, 1 s sampling."""
    settings = get_metrics_settings()
    assert settings.metrics_dir is None
    assert (settings.metrics_address, settings.metrics_port) == ("127.0.0.1", 9808)
    assert settings.metrics_max_error_types == 50
    assert settings.metrics_sample_interval == 1.0


def test_variables_set_every_field(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Each OUTLAST_METRICS_ variable reaches its field."""
    monkeypatch.setenv("OUTLAST_METRICS_DIR", str(tmp_path))
    monkeypatch.setenv("OUTLAST_METRICS_ADDRESS", "0.0.0.0")
    monkeypatch.setenv("OUTLAST_METRICS_PORT", "9100")
    monkeypatch.setenv("OUTLAST_METRICS_MAX_ERROR_TYPES", "10")
    reload_settings()
    settings = get_metrics_settings()
    assert settings.metrics_dir == tmp_path
    assert (settings.metrics_address, settings.metrics_port) == ("0.0.0.0", 9100)
    assert settings.metrics_max_error_types == 10


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("OUTLAST_METRICS_PORT", "70000"),
        ("OUTLAST_METRICS_ADDRESS", "http://host"),
        ("OUTLAST_METRICS_MAX_ERROR_TYPES", "0"),
        ("OUTLAST_METRICS_SAMPLE_INTERVAL", "0"),
    ],
)
def test_a_bad_value_is_one_error_naming_its_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    """A value out of range or of the wrong form raises SettingsError naming the variable."""
    monkeypatch.setenv(variable, value)
    reload_settings()
    with pytest.raises(SettingsError, match=variable):
        get_metrics_settings()
