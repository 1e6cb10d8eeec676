"""How every Outlast settings class reads its sources and loads with readable errors.

Sources, highest first: values given in code, the environment (prefix ``OUTLAST_``,
``__`` between nested names), then the TOML file that ``OUTLAST_CONFIG_FILE`` names.
:func:`load` turns whatever goes wrong into one :class:`~outlast.errors.SettingsError`
naming each bad variable; it never lets a pydantic traceback through, and never falls
back to a default for a value that was given but is wrong.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
from collections.abc import Callable
from typing import Any, TypeVar

import pydantic
import pydantic_settings
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from outlast.config._config_file import CONFIG_FILE_VARIABLE, config_file, file_problems
from outlast.config._env_errors import settings_error
from outlast.errors import FieldError, SettingsError

__all__ = ["SettingsBase", "clear_loaded", "known_keys", "load", "loader"]

S = TypeVar("S", bound="SettingsBase")

_clearers: list[Callable[[], None]] = []


class _EnvSource(EnvSettingsSource):
    """The environment, where a value that is not JSON stays text for validation to judge
    (so ``OUTLAST_TASK_MODULES=a.b,c.d`` parses, and a bad one is named like any other)."""

    def decode_complex_value(self, field_name: str, field: FieldInfo, value: Any) -> Any:
        try:
            return super().decode_complex_value(field_name, field, value)
        except ValueError:
            return value


class SettingsBase(BaseSettings):
    """The sources and conventions every Outlast settings class shares."""

    # An empty variable counts as unset (as compose files and shells often leave them).
    model_config = SettingsConfigDict(
        env_prefix="OUTLAST_",
        env_nested_delimiter="__",
        env_ignore_empty=True,
        extra="ignore",
        frozen=True,
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, _EnvSource(settings_cls)]
        path = config_file()
        if path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)


def known_keys() -> set[str]:
    """Every field of every settings class: what the TOML file may hold at its top, and
    what an ``OUTLAST_`` variable may name. Every module of ``outlast.config`` is imported
    first, so the fields of a section this process never reads (the API's, in a worker)
    are known too."""
    package = importlib.import_module("outlast.config")
    for module in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{package.__name__}.{module.name}")
    classes, known = list(SettingsBase.__subclasses__()), set()
    while classes:
        cls = classes.pop()
        known |= set(cls.model_fields)
        classes += cls.__subclasses__()
    return known


def load(cls: type[S]) -> S:
    """``cls`` read from its sources; SettingsError naming each bad variable otherwise."""
    path = config_file()
    problems = file_problems(path, known_keys())
    if any(p.field == CONFIG_FILE_VARIABLE for p in problems):
        raise SettingsError(problems)  # no file to read the rest from
    try:
        settings = cls()
    except pydantic.ValidationError as exc:
        problems += settings_error(exc, cls, config_file=path).problems
    except pydantic_settings.SettingsError as exc:
        problems.append(FieldError(field="OUTLAST_ settings", code="source", message=str(exc)))
    if problems:
        raise SettingsError(problems)
    return settings


def loader(cls: type[S]) -> Callable[[], S]:
    """A function returning ``cls`` loaded once per process (until :func:`clear_loaded`)."""

    @functools.cache
    def get() -> S:
        return load(cls)

    _clearers.append(get.cache_clear)
    return get


def clear_loaded() -> None:
    """Forget every loaded settings object, so the next use reads the sources again."""
    for clear in _clearers:
        clear()
