"""docs/configuration.md is what scripts/config_reference.py writes from the settings
classes: every ``OUTLAST_`` variable of every section, with its type, default and text."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Literal

import pytest
from pydantic import BaseModel, Field

from outlast.config import EmailSettings, FlowerSettings, PaymentSettings, Settings

REPO = Path(__file__).resolve().parents[3]
SCRIPT = REPO / "scripts" / "config_reference.py"
REFERENCE = REPO / "docs" / "configuration.md"
REGENERATE = ".venv/bin/python scripts/config_reference.py"


def _load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("config_reference", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


script = _load_script()


class _Section(BaseModel):
    """A section for these tests. ``alpha_count`` says how many alphas there are.
    ``OUTLAST_DELTA_NAME`` names the delta. The other field is not named here."""

    alpha_count: int = Field(default=3, ge=1, le=9)
    delta_name: str = "d"
    beta_mode: Literal["on", "off"] | None = None
    gamma_rate: float = Field(default=0.5, gt=0, description="How fast | gamma goes.")


def test_the_committed_reference_is_what_the_script_writes() -> None:
    """docs/configuration.md matches the settings classes; if not, says how to regenerate."""
    wanted = script.render(script.settings_classes())
    assert REFERENCE.read_text() == wanted, (
        f"docs/configuration.md is out of date with the settings classes; regenerate it "
        f"with: {REGENERATE}"
    )


def test_every_section_and_every_variable_is_in_the_reference() -> None:
    """Each settings class has a section, and each plain field a row for its variable."""
    classes = script.settings_classes()
    assert classes[0] is Settings
    assert {EmailSettings, PaymentSettings, FlowerSettings} <= set(classes)
    text = script.render(classes)
    for cls in classes:
        assert f"## `{cls.__name__}`" in text
        for name in cls.model_fields:
            assert f"`OUTLAST_{name.upper()}" in text, name


def test_a_row_shows_type_bounds_default_and_description() -> None:
    """A field's row reads its bounds, its default and its description, pipes escaped."""
    text = script.render_section(_Section)
    assert "| `OUTLAST_GAMMA_RATE` | number (> 0) | `0.5` | How fast \\| gamma goes. |" in text
    assert "| `OUTLAST_BETA_MODE` | one of `on`, `off` | unset |" in text


def test_a_field_without_description_takes_the_docstring_sentence_naming_it() -> None:
    """Without ``description=``, the class docstring's sentence that names the field is used."""
    text = script.render_section(_Section)
    row = "| `OUTLAST_ALPHA_COUNT` | integer (>= 1, <= 9) | `3` |"
    assert f"{row} `alpha_count` says how many alphas there are. |" in text


def test_a_docstring_sentence_naming_the_variable_describes_its_field() -> None:
    """A docstring may name the field by its variable (``OUTLAST_DELTA_NAME``) too."""
    text = script.render_section(_Section)
    assert "| `OUTLAST_DELTA_NAME` | text | `d` | `OUTLAST_DELTA_NAME` names the delta. |" in text


def test_every_fallback_description_names_a_field_that_exists() -> None:
    """Each ``Class.field`` of the script's fallback texts is a field of a config class."""
    script.settings_classes()  # imports every module of outlast.config
    modules = [m for name, m in sys.modules.items() if name.startswith("outlast.config.")]
    for key in script.DESCRIPTIONS:
        owner, field = key.split(".")
        classes = [getattr(m, owner) for m in modules if hasattr(m, owner)]
        assert any(field in cls.model_fields for cls in classes), key


def test_profile_overrides_get_a_row_per_field_under_a_name() -> None:
    """Mappings of overrides are listed as ``OUTLAST_<FIELD>__<NAME>__<INNER>`` variables."""
    text = script.render_section(Settings)
    assert "`OUTLAST_CIRCUIT_BREAKERS__<NAME>__FAILURE_THRESHOLD` | integer | profile's" in text
    assert "`OUTLAST_TIMEOUTS__<NAME>` | number | profile's" in text


@pytest.mark.parametrize("stale", ["", "# Configuration reference\n"])
def test_check_mode_fails_on_a_stale_file_and_names_the_command(tmp_path: Path, stale: str) -> None:
    """``--check`` exits 1 on a file that differs and prints the command that regenerates it."""
    output = tmp_path / "configuration.md"
    output.write_text(stale)
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--check", "--output", str(output)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert f"regenerate it with: {REGENERATE}" in done.stderr
    assert output.read_text() == stale


def test_write_mode_writes_a_file_that_check_mode_accepts(tmp_path: Path) -> None:
    """Writing then checking the same file passes: the two modes agree."""
    output = tmp_path / "configuration.md"
    for extra in ([], ["--check"]):
        done = subprocess.run(
            [sys.executable, str(SCRIPT), *extra, "--output", str(output)],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
    assert output.read_text().startswith("# Configuration reference\n")
