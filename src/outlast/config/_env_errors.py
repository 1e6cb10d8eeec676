"""Pydantic's validation errors of a settings class, told in the user's words.

Each error becomes one line naming where the value came from (the ``OUTLAST_`` variable,
or the TOML file and key), what it holds and what is expected, e.g.
``OUTLAST_SMTP_PORT holds '99999'; expected a whole number from 1 to 65535``.
Secrets never appear: a password's value is hidden and a URL's password is masked.
"""

from __future__ import annotations

import enum
import os
import re
import tomllib
import types
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final, Literal, Union, get_args, get_origin

import annotated_types
import pydantic
from pydantic import BaseModel
from pydantic_core import ErrorDetails

from outlast.config._value_checks import EXPECTED_TYPE
from outlast.errors import FieldError, SettingsError

__all__ = ["settings_error"]

_PREFIX: Final = "OUTLAST_"
_URL_PASSWORD = re.compile(r"(://[^/@:]*:)[^/]*@")
_LONGEST_SHOWN = 120


def settings_error(
    exc: pydantic.ValidationError, model: type[BaseModel], *, config_file: Path | None
) -> SettingsError:
    """One SettingsError with a line per bad setting (the first error of each)."""
    problems: dict[str, FieldError] = {}
    for error in exc.errors():
        problem = _problem(error, model, config_file)
        problems.setdefault(problem.field, problem)
    return SettingsError(list(problems.values()))


def _problem(error: ErrorDetails, model: type[BaseModel], config_file: Path | None) -> FieldError:
    loc = [str(part) for part in error["loc"]]
    origin, raw, inner = _origin(loc, error["input"], config_file)
    expected = _expected(error, model, loc)
    if inner:
        expected = f"{'.'.join(inner)} to be {expected}"
    problem = _reason(error)
    held = "a value (hidden)" if _secret(loc) else _shown(raw)
    message = f"holds {held}; {problem + '; ' if problem else ''}expected {expected}"
    return FieldError(field=origin, code=error["type"], message=message)


def _origin(
    loc: Sequence[str], value: Any, config_file: Path | None
) -> tuple[str, Any, Sequence[str]]:
    """Where the value at ``loc`` came from, the raw value there, and the rest of ``loc``
    inside that value (when one variable holds a whole JSON object)."""
    # An empty variable is unset (``env_ignore_empty``): the value came from elsewhere.
    environ = {name.upper(): raw for name, raw in os.environ.items() if raw}
    for depth in range(len(loc), 0, -1):
        name = _PREFIX + "__".join(loc[:depth]).upper()
        if name in environ:
            return name, environ[name], loc[depth:]
    if config_file is not None:
        found = _in_file(config_file, loc)
        if found is not None:
            depth, raw = found
            return f"{config_file}: {'.'.join(loc[:depth])}", raw, loc[depth:]
    return ".".join(loc), value, ()


def _in_file(path: Path, loc: Sequence[str]) -> tuple[int, Any] | None:
    """How deep ``loc`` reaches into the TOML file, and the value it finds there."""
    try:
        node: Any = tomllib.loads(path.read_text())
    except (OSError, ValueError):
        return None
    depth = 0
    for part in loc:
        keys = {str(key).lower(): key for key in node} if isinstance(node, dict) else {}
        if part.lower() not in keys:
            break
        node, depth = node[keys[part.lower()]], depth + 1
    return (depth, node) if depth else None


def _reason(error: ErrorDetails) -> str:
    context = error.get("ctx") or {}
    if error["type"] == EXPECTED_TYPE:
        return str(context.get("problem", ""))
    if error["type"] == "extra_forbidden":
        return "there is no such setting"
    return ""


def _expected(error: ErrorDetails, model: type[BaseModel], loc: Sequence[str]) -> str:
    context = error.get("ctx") or {}
    if error["type"] == EXPECTED_TYPE:
        return str(context["expected"])
    if error["type"] == "extra_forbidden":
        parent = _target(model, loc[:-1])
        names = _strip_optional(parent[0]) if parent else None
        if isinstance(names, type) and issubclass(names, BaseModel):
            return "one of " + ", ".join(names.model_fields)
    target = _target(model, loc)
    if target is None:
        return str(error["msg"]).lower()
    return _describe(*target)


def _strip_optional(annotation: Any) -> Any:
    if get_origin(annotation) in (Union, types.UnionType):
        members = [a for a in get_args(annotation) if a is not type(None)]
        return members[0] if len(members) == 1 else annotation
    return annotation


def _target(model: type[BaseModel], loc: Sequence[str]) -> tuple[Any, list[Any]] | None:
    """The annotation and constraints of the field at ``loc`` (None when not one field)."""
    annotation: Any = model
    metadata: list[Any] = []
    for part in loc:
        annotation = _strip_optional(annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            field = annotation.model_fields.get(part)
            if field is None:
                return None
            annotation, metadata = field.annotation, list(field.metadata)
        elif get_origin(annotation) in (dict, list):
            annotation, metadata = get_args(annotation)[-1], []
        else:
            return None
    return annotation, metadata


def _describe(annotation: Any, metadata: list[Any]) -> str:
    kind = _strip_optional(annotation)
    bounds = _bounds(metadata)
    if kind is bool:
        return "true or false"
    if get_origin(kind) is Literal:
        return "one of " + ", ".join(repr(v) for v in get_args(kind))
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return "one of " + ", ".join(repr(member.value) for member in kind)
    nouns = {int: "a whole number", float: "a number", str: "text"}
    if kind in nouns:
        return f"{nouns[kind]}{' ' + bounds if bounds else ''}"
    if get_origin(kind) is dict or (isinstance(kind, type) and issubclass(kind, BaseModel)):
        return "a JSON object"
    if get_origin(kind) is list:
        return "a JSON list"
    return "a valid value"


def _bounds(metadata: list[Any]) -> str:
    limits: dict[str, Any] = {}
    for item in metadata:
        for name in ("gt", "ge", "lt", "le"):
            if isinstance(item, getattr(annotated_types, name.capitalize())):
                limits[name] = getattr(item, name)
    if "ge" in limits and "le" in limits:
        return f"from {limits['ge']:g} to {limits['le']:g}"
    words = {"gt": "greater than", "ge": "at least", "lt": "less than", "le": "at most"}
    return " and ".join(f"{words[name]} {value:g}" for name, value in limits.items())


def _secret(loc: Sequence[str]) -> bool:
    return any("password" in part.lower() or "secret" in part.lower() for part in loc)


def _shown(value: Any) -> str:
    text = _URL_PASSWORD.sub(r"\1***@", value if isinstance(value, str) else repr(value))
    if len(text) > _LONGEST_SHOWN:
        text = text[:_LONGEST_SHOWN] + "..."
    return repr(text) if isinstance(value, str) else text
