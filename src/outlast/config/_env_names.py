"""``OUTLAST_`` variables that name no setting.

pydantic-settings ignores an environment variable that matches no field, so a misspelt
``OUTLAST_REDIS_URI`` would leave the default in place without a word. :func:`unknown_variables`
names each such variable and the setting it most likely meant; ``outlast worker``,
``beat``, ``flower`` and ``dev`` log them at start (a warning, not an error: the
environment is shared with other programs).
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Mapping
from typing import Final

__all__ = ["unknown_variables"]

PREFIX: Final = "OUTLAST_"
# Read before the settings (the file they come from), or by the project's own test and
# benchmark scripts, never by the settings classes.
NOT_SETTINGS: Final = frozenset(
    {"OUTLAST_CONFIG_FILE", "OUTLAST_DEPS", "OUTLAST_PYTHON", "OUTLAST_REINSTALL", "OUTLAST_UV"}
)
NOT_SETTINGS_PREFIXES: Final = ("OUTLAST_TEST_", "OUTLAST_BENCH_")


def unknown_variables(environ: Mapping[str, str], fields: Collection[str]) -> list[str]:
    """One line for each ``OUTLAST_`` variable in ``environ`` that names none of ``fields``
    (a nested ``OUTLAST_<FIELD>__<KEY>`` counts as its field's), with the nearest name."""
    known = sorted(PREFIX + field.upper() for field in fields)
    lines = []
    for name in sorted(environ):
        if not name.startswith(PREFIX) or _not_a_setting(name):
            continue
        if name.split("__", 1)[0] in known:
            continue
        close = difflib.get_close_matches(name, known, n=1)
        hint = f"; did you mean {close[0]}?" if close else ""
        lines.append(f"{name} is not an Outlast setting and is ignored{hint}")
    return lines


def _not_a_setting(name: str) -> bool:
    return name in NOT_SETTINGS or name.startswith(NOT_SETTINGS_PREFIXES)
