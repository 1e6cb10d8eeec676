"""The TOML file ``OUTLAST_CONFIG_FILE`` names: it must exist, parse, and hold only settings.

A key no settings class has (``smtp_prot = 2525``) is an error naming the file and key, not
a value silently ignored. This module only reads the file; the settings sources load it.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from collections.abc import Collection
from pathlib import Path
from typing import Final

from outlast.errors import FieldError

__all__ = ["CONFIG_FILE_VARIABLE", "config_file", "file_problems"]

CONFIG_FILE_VARIABLE: Final = "OUTLAST_CONFIG_FILE"


def config_file() -> Path | None:
    """The TOML file ``OUTLAST_CONFIG_FILE`` names, if it is set (and not empty)."""
    path = os.environ.get(CONFIG_FILE_VARIABLE)
    return Path(path) if path else None


def _unreadable(path: Path, reason: str) -> list[FieldError]:
    message = f"holds {str(path)!r}; {reason}; expected the path of a TOML file"
    return [FieldError(field=CONFIG_FILE_VARIABLE, code="config_file", message=message)]


def file_problems(path: Path | None, known: Collection[str]) -> list[FieldError]:
    """What is wrong with the file at ``path`` (nothing when no file is set)."""
    if path is None:
        return []
    if not path.is_file():
        return _unreadable(path, "there is no such file")
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        return _unreadable(path, f"it is not a readable TOML file ({exc})")
    problems = []
    for key in data:
        if key not in known:
            close = difflib.get_close_matches(key, sorted(known), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            message = f"is not a setting{hint}"
            problems.append(FieldError(field=f"{path}: {key}", code="unknown_key", message=message))
    return problems
