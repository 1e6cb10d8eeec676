"""Schemas for ``validate_input``: the field spec keys, checked and compiled once.

A schema maps field names to field specs (plain dicts, as in the seed). :func:`compile_schema`
checks it and turns it into a :class:`CompiledSchema` of :class:`FieldSpec` records that hold
everything the validation hot path needs, precomputed: no dict lookups on spec keys and no
regex compilation per call. A broken schema is a programming error and raises
:class:`~outlast.errors.ConfigurationError` naming the field and the key; an unknown key is
refused, because a typo must not silently disable a check.

Field spec keys:

``required``
    the field must be present and not ``None`` (unless ``type`` admits ``None``).
``type``
    a type or tuple of types, checked with ``isinstance``; ``bool`` never passes as ``int``
    (list ``bool`` itself to allow it), and ``int`` does not pass as ``float``.
``min_length`` / ``max_length``
    bounds on ``len()``; strings are measured after NFC normalization.
``pattern``
    a regex (string or compiled) the whole string must match (``re.fullmatch``).
``validator``
    a callable; it fails the field by returning a falsy value other than ``None`` or by
    raising. A ``ValueError``/``TypeError`` message becomes the field message; any other
    exception is logged and reported as a plain validator failure.
``min`` / ``max``
    inclusive bounds for numbers (or any ordered values); NaN fails them.
``choices``
    the allowed values.
``default``
    used when the field is missing (or ``None``); a callable default is called each time,
    a list/dict/set default is deep-copied. Defaults are trusted and not validated.
``schema``
    a nested schema for a mapping value (implies the value must be a mapping).
``items``
    a field spec applied to every element of a list or tuple value (implies the type).

Compiled schemas are cached by the identity of the schema dict (:func:`compiled_for`):
mutating a schema after its first use is not noticed. Build a new dict or call
:func:`compile_schema` again instead.

This module never sees input data: it reads schemas only, and never raises
:class:`~outlast.errors.ValidationError`.
"""

from __future__ import annotations

import copy
import re
import threading
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any, Final, TypeAlias

from outlast.errors import ConfigurationError

__all__ = [
    "CompiledSchema",
    "FieldSpec",
    "Schema",
    "compile_schema",
    "compiled_for",
]

Schema: TypeAlias = Mapping[str, Mapping[str, Any]]

SPEC_KEYS: Final = frozenset(
    {
        "required",
        "type",
        "min_length",
        "max_length",
        "pattern",
        "validator",
        "min",
        "max",
        "choices",
        "default",
        "schema",
        "items",
    }
)
_CACHE_LIMIT: Final = 256


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One field spec, compiled: everything the hot path needs, precomputed."""

    name: str
    required: bool
    types: tuple[type, ...] | None
    type_message: str
    bool_ok: bool
    none_ok: bool
    min_length: int | None
    max_length: int | None
    pattern: re.Pattern[str] | None
    validator: Callable[[Any], object] | None
    minimum: Any
    maximum: Any
    choices: Collection[Any] | None
    choices_message: str
    default: Callable[[], Any] | None
    schema: CompiledSchema | None
    items: FieldSpec | None
    constrained: bool


@dataclass(frozen=True, slots=True)
class CompiledSchema:
    """A schema checked and precompiled by :func:`compile_schema`; reusable and immutable."""

    fields: tuple[FieldSpec, ...]
    names: frozenset[str]


def compile_schema(schema: Schema | CompiledSchema) -> CompiledSchema:
    """``schema`` checked and compiled; raises ConfigurationError naming what is wrong."""
    return _compile_schema(schema, "")


# The identity cache behind compiled_for.
_cache: dict[int, tuple[object, CompiledSchema]] = {}
_cache_lock = threading.Lock()


def compiled_for(schema: Schema | CompiledSchema) -> CompiledSchema:
    """The compiled form of ``schema``, from the cache when this very object was seen."""
    if type(schema) is CompiledSchema:
        return schema
    entry = _cache.get(id(schema))
    # The entry keeps ``schema`` alive, so its id cannot be reused while cached.
    if entry is not None and entry[0] is schema:
        return entry[1]
    compiled = compile_schema(schema)
    with _cache_lock:
        if len(_cache) >= _CACHE_LIMIT:
            del _cache[next(iter(_cache))]
        _cache[id(schema)] = (schema, compiled)
    return compiled


def _compile_schema(schema: object, where: str) -> CompiledSchema:
    """``schema`` (found at ``where``) compiled, field by field."""
    if isinstance(schema, CompiledSchema):
        return schema
    if not isinstance(schema, Mapping):
        raise ConfigurationError(
            f"schema{_at(where)} must be a mapping of field name to field spec, "
            f"got {type(schema).__name__}"
        )
    fields = tuple(_compile_field(name, spec, _join(where, name)) for name, spec in schema.items())
    return CompiledSchema(fields=fields, names=frozenset(spec.name for spec in fields))


def _compile_field(name: object, spec: object, where: str) -> FieldSpec:
    """One field spec checked and compiled; ``where`` names it in errors."""
    _check_name(name, where)
    spec = _spec_mapping(spec, where)
    types = _compile_types(spec, where)
    choices, choices_message = _compile_choices(spec.get("choices"), where)
    return FieldSpec(
        name=str(name),
        required=_flag(spec, "required", where),
        types=types,
        type_message=_type_message(types),
        bool_ok=types is None or any(t is bool or t is object for t in types),
        none_ok=types is not None and any(t is type(None) or t is object for t in types),
        min_length=_count(spec, "min_length", where),
        max_length=_count(spec, "max_length", where),
        pattern=_compile_pattern(spec.get("pattern"), where),
        validator=_callable(spec, "validator", where),
        minimum=spec.get("min"),
        maximum=spec.get("max"),
        choices=choices,
        choices_message=choices_message,
        default=_compile_default(spec),
        schema=None if "schema" not in spec else _compile_schema(spec["schema"], where),
        items=None if "items" not in spec else _compile_field(name, spec["items"], where + "[]"),
        constrained=any(
            spec.get(k) is not None
            for k in ("min_length", "max_length", "pattern", "validator", "min", "max", "choices")
        ),
    )


def _check_name(name: object, where: str) -> None:
    """Field names are plain printable strings that no input key check would reject."""
    if not isinstance(name, str) or not name or not name.isprintable():
        raise ConfigurationError(f"schema field {where!r}: name must be a non-empty string")
    if name.startswith("$") or "." in name:
        raise ConfigurationError(
            f"schema field {where!r}: name must not start with '$' or hold '.'"
        )


def _spec_mapping(spec: object, where: str) -> Mapping[str, Any]:
    """The spec as a mapping with only known keys; a typo must not disable a check."""
    if not isinstance(spec, Mapping):
        raise ConfigurationError(f"schema field {where!r}: spec must be a mapping")
    for key in spec:
        if key not in SPEC_KEYS:
            raise ConfigurationError(
                f"schema field {where!r}: unknown key {key!r} "
                f"(known: {', '.join(sorted(SPEC_KEYS))})"
            )
    return spec


def _compile_types(spec: Mapping[str, Any], where: str) -> tuple[type, ...] | None:
    """The ``type`` entry as a tuple, implied by ``schema``/``items`` when absent."""
    declared = spec.get("type")
    if declared is None:
        if "schema" in spec:
            return (Mapping,)
        if "items" in spec:
            return (list, tuple)
        return None
    types = declared if isinstance(declared, tuple) else (declared,)
    if not types or not all(isinstance(t, type) for t in types):
        raise ConfigurationError(f"schema field {where!r}: type must be a type or tuple of types")
    return types


def _type_message(types: tuple[type, ...] | None) -> str:
    """The field message for a wrong type, built once."""
    if types is None:
        return ""
    names = [_type_name(t) for t in types]
    if len(names) == 1:
        return f"must be of type {names[0]}"
    return f"must be one of the types {', '.join(names)}"


def _type_name(kind: type) -> str:
    """A reader's name for a type (``mapping`` rather than ``Mapping``)."""
    if kind is Mapping or kind is dict:
        return "mapping"
    return "null" if kind is type(None) else kind.__name__


def _flag(spec: Mapping[str, Any], key: str, where: str) -> bool:
    """A boolean spec entry (False when absent)."""
    value = spec.get(key, False)
    if not isinstance(value, bool):
        raise ConfigurationError(f"schema field {where!r}: {key} must be True or False")
    return value


def _count(spec: Mapping[str, Any], key: str, where: str) -> int | None:
    """A non-negative int spec entry, or None."""
    value = spec.get(key)
    if value is not None and (type(value) is not int or value < 0):
        raise ConfigurationError(f"schema field {where!r}: {key} must be a non-negative int")
    return value


def _callable(spec: Mapping[str, Any], key: str, where: str) -> Callable[[Any], object] | None:
    """A callable spec entry, or None."""
    value = spec.get(key)
    if value is not None and not callable(value):
        raise ConfigurationError(f"schema field {where!r}: {key} must be callable")
    return value


def _compile_pattern(pattern: object, where: str) -> re.Pattern[str] | None:
    """The ``pattern`` entry compiled (a compiled pattern is taken as is)."""
    if pattern is None or isinstance(pattern, re.Pattern):
        return pattern
    if not isinstance(pattern, str):
        raise ConfigurationError(f"schema field {where!r}: pattern must be a string or regex")
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ConfigurationError(f"schema field {where!r}: invalid pattern: {exc}") from exc


def _compile_choices(choices: object, where: str) -> tuple[Collection[Any] | None, str]:
    """The ``choices`` entry as a fast collection, with its field message."""
    if choices is None:
        return None, ""
    if isinstance(choices, (str, bytes)) or not isinstance(choices, Collection):
        raise ConfigurationError(f"schema field {where!r}: choices must be a collection of values")
    options = tuple(choices)
    shown = ", ".join(repr(option) for option in options[:10])
    message = f"must be one of: {shown}{', ...' if len(options) > 10 else ''}"
    try:
        return frozenset(options), message
    except TypeError:
        return options, message


def _compile_default(spec: Mapping[str, Any]) -> Callable[[], Any] | None:
    """The ``default`` entry as a factory, so a mutable default is never shared."""
    if "default" not in spec:
        return None
    default = spec["default"]
    if callable(default):
        return default  # type: ignore[no-any-return]
    if isinstance(default, (list, dict, set)):
        return lambda: copy.deepcopy(default)
    return lambda: default


def _join(where: str, name: object) -> str:
    """The dotted location of a schema field, for configuration errors."""
    return f"{where}.{name}" if where else str(name)


def _at(where: str) -> str:
    """`` at 'x'`` when there is a location to name."""
    return f" at {where!r}" if where else ""
