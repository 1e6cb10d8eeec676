"""OUTLAST_ variables that name no setting are named, with the setting they most likely
meant; a TOML file may hold the keys of any settings section, read in this process or not."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from outlast.config import check_settings, reload_settings
from outlast.config._env_names import unknown_variables
from outlast.config._loading import known_keys


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """Environment changes for one test; every settings object is re-read after."""
    yield monkeypatch
    monkeypatch.undo()
    reload_settings()


def test_a_misspelt_variable_is_named_with_the_setting_it_meant() -> None:
    """OUTLAST_REDIS_URI and OUTLAST_SMPT_HOST are named, each with its nearest setting."""
    environ = {"OUTLAST_REDIS_URI": "redis://x", "OUTLAST_SMPT_HOST": "mail", "PATH": "/bin"}
    ignored = "is not an Outlast setting and is ignored; did you mean"
    assert unknown_variables(environ, known_keys()) == [
        f"OUTLAST_REDIS_URI {ignored} OUTLAST_REDIS_URL?",
        f"OUTLAST_SMPT_HOST {ignored} OUTLAST_SMTP_HOST?",
    ]


def test_settings_nested_keys_and_the_scripts_own_variables_are_not_named() -> None:
    """Every section's variables, nested ``__`` keys and the test scripts' variables pass."""
    environ = {
        "OUTLAST_REDIS_URL": "redis://x",
        "OUTLAST_ADMIN_TOKENS": "a",  # the API's section
        "OUTLAST_CIRCUIT_BREAKERS__DATABASE__FAILURE_THRESHOLD": "3",
        "OUTLAST_CONFIG_FILE": "x.toml",
        "OUTLAST_TEST_REDIS_URL": "redis://y",
        "OUTLAST_DEPS": "lowest",
    }
    assert unknown_variables(environ, known_keys()) == []


def test_a_name_far_from_every_setting_gets_no_guess() -> None:
    """Without a close setting, the line says only that the variable is ignored."""
    assert unknown_variables({"OUTLAST_QQQQQQQQQQQQQQ": "1"}, {"redis_url"}) == [
        "OUTLAST_QQQQQQQQQQQQQQ is not an Outlast setting and is ignored"
    ]


def test_check_settings_logs_each_unknown_variable(
    env: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """What worker and beat run at start warns, once per variable, and raises nothing."""
    env.setenv("OUTLAST_NAMESPAC", "mine")
    with caplog.at_level(logging.WARNING, logger="outlast.config"):
        check_settings()
    assert [r.getMessage() for r in caplog.records] == [
        "OUTLAST_NAMESPAC is not an Outlast setting and is ignored; did you mean OUTLAST_NAMESPACE?"
    ]


def test_a_toml_file_may_hold_a_section_this_process_never_imported(tmp_path: Path) -> None:
    """A fresh process reading the core settings accepts the API's keys in the shared file
    (they were refused as unknown unless the API's module happened to be imported)."""
    path = tmp_path / "outlast.toml"
    path.write_text('namespace = "filed"\napi_port = 9000\n')
    code = "from outlast.config import get_settings; print(get_settings().namespace)"
    environ = {k: v for k, v in os.environ.items() if not k.startswith("OUTLAST_")}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False,
        env={**environ, "OUTLAST_CONFIG_FILE": str(path)},
    )  # fmt: skip
    assert (done.returncode, done.stdout.strip()) == (0, "filed"), done.stderr
