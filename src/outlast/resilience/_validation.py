"""Input validation against a small declarative schema: ``validate_input``.

A schema maps field names to field specs (plain dicts, as in the seed). It is compiled once
into a :class:`CompiledSchema` and cached by identity, so the hot path does no dict lookups
on spec keys and no regex compilation. Every value also goes through the sanitization walk
of :mod:`outlast.resilience._sanitize` (operator keys, control characters, NFC, size and
depth bounds). Bad input never crashes and never stops at the first problem: one
:class:`~outlast.errors.ValidationError` lists every failing field. A broken *schema* is a
programming error and raises :class:`~outlast.errors.ConfigurationError` instead.

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

Each field reports at most one error: the first failing check in the order above (type,
sanitization, length, pattern, range, choices, validator). Nested schemas report their own
fields at dotted and indexed paths (``address.city``, ``tags[2]``).

Compiled schemas are cached by the identity of the schema dict: mutating a schema after its
first use is not noticed. Build a new dict or call :func:`compile_schema` again instead.
"""

from __future__ import annotations

import copy
import logging
import math
import re
import threading
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any, Final, TypeAlias

from outlast.errors import ConfigurationError, ErrorContext, FieldError, ValidationError
from outlast.resilience._sanitize import (
    DEFAULT_MAX_DEPTH,
    DEFAULT_MAX_SIZE,
    INVALID,
    InputTooLarge,
    Run,
    clean_key,
    clean_str,
    clean_value,
    index_path,
    join_path,
)

__all__ = [
    "DEFAULT_MAX_DEPTH",
    "DEFAULT_MAX_SIZE",
    "CompiledSchema",
    "FieldSpec",
    "Schema",
    "compile_schema",
    "validate_input",
]

log = logging.getLogger("outlast.validation")

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
_MISSING: Final = object()
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


def validate_input(
    data: object,
    schema: Schema | CompiledSchema,
    context: ErrorContext | None = None,
    *,
    strict: bool = False,
    max_size: int | None = DEFAULT_MAX_SIZE,
    max_depth: int | None = DEFAULT_MAX_DEPTH,
    forbid_operator_keys: bool = True,
    reject_control_characters: bool = True,
    normalize_unicode: bool = True,
) -> dict[str, Any]:
    """The validated, sanitized fields of ``data``; raises ValidationError naming each failure.

    Unknown fields are dropped, or reported as ``unknown_field`` when ``strict``. The security
    controls are on by default; each keyword turns one off (``None`` lifts a limit).
    ``context`` is only used for logging and is attached to the error as ``.context``.
    """
    compiled = _compiled(schema)
    if max_size is not DEFAULT_MAX_SIZE or max_depth is not DEFAULT_MAX_DEPTH:
        _check_limits(max_size, max_depth)
    run = Run(
        strict=strict,
        max_size=max_size,
        max_depth=max_depth,
        forbid_operator_keys=forbid_operator_keys,
        reject_control_characters=reject_control_characters,
        normalize_unicode=normalize_unicode,
    )
    result: dict[str, Any] = _validate_top(data, compiled, run)
    if run.errors:
        raise _failure(run.errors, context)
    return result


def compile_schema(schema: Schema | CompiledSchema) -> CompiledSchema:
    """``schema`` checked and compiled; raises ConfigurationError naming what is wrong."""
    return _compile_schema(schema, "")


def _validate_top(data: object, compiled: CompiledSchema, run: Run) -> Any:
    """The walk over the top-level mapping, turning aborts into field errors."""
    if not isinstance(data, Mapping):
        return run.fail("", "type", "must be a mapping of field names to values")
    try:
        return _validate_mapping(data, compiled, "", 1, run)
    except InputTooLarge as exc:
        run.errors.append(exc.error)
    except RecursionError:
        # Only reachable with max_depth=None; a cyclic or absurdly deep input is bad input.
        run.fail("", "too_deep", "is nested too deeply to process")
    return INVALID


def _validate_mapping(
    data: Mapping[Any, Any], compiled: CompiledSchema, path: str, depth: int, run: Run
) -> Any:
    """The fields of ``compiled`` read from ``data``, each validated."""
    if run.too_deep(depth, path):
        return INVALID
    run.charge(len(data), path)
    names = compiled.names
    for key in data:
        if key not in names:
            _unknown_field(data, key, path, depth, run)
    out: dict[str, Any] = {}
    for spec in compiled.fields:
        name = spec.name
        value = data.get(name, _MISSING)
        child = f"{path}.{name}" if path else name
        if value is _MISSING or (value is None and not spec.none_ok):
            value = _absent(spec, value, child, run)
            if value is not _MISSING:
                out[name] = value
        else:
            out[name] = _check_value(value, spec, child, depth + 1, run)
    return out


def _unknown_field(data: Mapping[Any, Any], key: Any, path: str, depth: int, run: Run) -> None:
    """Scan a field the schema does not name (it may still hide an injection) and drop it."""
    key_path = join_path(path, key)
    clean_key(key, key_path, run)
    clean_value(data[key], key_path, depth + 1, run)
    if run.strict:
        run.fail(key_path, "unknown_field", "is not an allowed field")


def _absent(spec: FieldSpec, value: Any, path: str, run: Run) -> Any:
    """What a missing (or ``None``) value becomes: the default, an error, or itself."""
    if spec.default is not None:
        return spec.default()
    if spec.required:
        return run.fail(path, "required", "is required")
    return value


def _check_value(value: Any, spec: FieldSpec, path: str, depth: int, run: Run) -> Any:
    """One present value checked against ``spec``; INVALID if it failed."""
    types = spec.types
    if types is not None and (
        not isinstance(value, types) or (value.__class__ is bool and not spec.bool_ok)
    ):
        run.fail(path, "type", spec.type_message)
        clean_value(value, path, depth, run)  # report injections even inside a wrong type
        return INVALID
    if isinstance(value, str):  # the common case, kept short
        value = clean_str(value, path, run)
        if value is INVALID:
            return INVALID
    elif value is None:  # only reached when ``type`` admits None: nothing more to check
        return None
    else:
        before = len(run.errors)
        value = _sanitized(value, spec, path, depth, run)
        if len(run.errors) != before:
            return INVALID
    if spec.constrained:
        problem = _violation(value, spec)
        if problem is not None:
            return run.fail(path, problem[0], problem[1])
    return value


def _sanitized(value: Any, spec: FieldSpec, path: str, depth: int, run: Run) -> Any:
    """A non-string ``value`` after the sanitization walk, through its schema or items."""
    if spec.schema is not None and isinstance(value, Mapping):
        return _validate_mapping(value, spec.schema, path, depth, run)
    if spec.items is not None and isinstance(value, (list, tuple)):
        return _check_items(value, spec.items, path, depth, run)
    return clean_value(value, path, depth, run)


def _check_items(
    value: list[Any] | tuple[Any, ...], spec: FieldSpec, path: str, depth: int, run: Run
) -> Any:
    """Every element of a sequence checked against the ``items`` spec."""
    if run.too_deep(depth, path):
        return INVALID
    run.charge(len(value), path)
    out: list[Any] = []
    for i, item in enumerate(value):
        child = index_path(path, i)
        if item is None and not spec.none_ok:
            out.append(_absent(spec, None, child, run))
        else:
            out.append(_check_value(item, spec, child, depth + 1, run))
    return out if isinstance(value, list) else tuple(out)


def _violation(value: Any, spec: FieldSpec) -> tuple[str, str] | None:
    """The first failing constraint of ``spec`` as ``(code, message)``, or None."""
    if spec.min_length is not None or spec.max_length is not None:
        problem = _length_violation(value, spec)
        if problem is not None:
            return problem
    if spec.pattern is not None:
        if not isinstance(value, str):
            return ("type", "must be a string")
        if spec.pattern.fullmatch(value) is None:
            return ("pattern", "does not match the required format")
    if spec.minimum is not None or spec.maximum is not None:
        problem = _range_violation(value, spec)
        if problem is not None:
            return problem
    if spec.choices is not None and not _is_choice(value, spec.choices):
        return ("choices", spec.choices_message)
    if spec.validator is not None:
        return _validator_violation(value, spec.validator)
    return None


def _length_violation(value: Any, spec: FieldSpec) -> tuple[str, str] | None:
    """A length bound ``value`` breaks, or None."""
    try:
        length = len(value)
    except TypeError:
        return ("type", "must be a string, list or mapping")
    unit = "characters" if isinstance(value, str) else "items"
    if spec.min_length is not None and length < spec.min_length:
        return ("min_length", f"must be at least {spec.min_length} {unit} long")
    if spec.max_length is not None and length > spec.max_length:
        return ("max_length", f"must be at most {spec.max_length} {unit} long")
    return None


def _range_violation(value: Any, spec: FieldSpec) -> tuple[str, str] | None:
    """A ``min``/``max`` bound ``value`` breaks, or None."""
    try:
        if isinstance(value, float) and math.isnan(value):
            return ("type", "must be a number")
        if spec.minimum is not None and value < spec.minimum:
            return ("min", f"must be at least {spec.minimum}")
        if spec.maximum is not None and value > spec.maximum:
            return ("max", f"must be at most {spec.maximum}")
    except TypeError:
        return ("type", "must be a number")
    return None


def _is_choice(value: Any, choices: Collection[Any]) -> bool:
    """Whether ``value`` is among ``choices`` (an unhashable value never is a frozenset's)."""
    try:
        return value in choices
    except TypeError:
        return False


def _validator_violation(value: Any, validator: Callable[[Any], object]) -> tuple[str, str] | None:
    """Run a user validator; its refusal (falsy result or exception) as a violation."""
    try:
        verdict = validator(value)
    except (ValueError, TypeError) as exc:
        return ("validator", str(exc) or "is not valid")
    except Exception:
        log.warning("validator %r raised; treating the value as invalid", validator, exc_info=True)
        return ("validator", "is not valid")
    if verdict is None or verdict:
        return None
    return ("validator", "is not valid")


def _failure(errors: list[FieldError], context: ErrorContext | None) -> ValidationError:
    """The ValidationError for ``errors``, logged (fields and codes only, never values)."""
    error = ValidationError(errors=errors, context=context)
    log.info(
        "input validation failed for %s: %s",
        context.operation if context is not None else "<no operation>",
        ", ".join(f"{e.field or '<input>'} ({e.code})" for e in errors),
        extra={"outlast_context": context.as_dict() if context is not None else None},
    )
    return error


def _check_limits(max_size: int | None, max_depth: int | None) -> None:
    """Reject nonsensical limits before they silently reject (or admit) everything."""
    for name, limit in (("max_size", max_size), ("max_depth", max_depth)):
        if limit is not None and (type(limit) is not int or limit < 1):
            raise ConfigurationError(f"{name} must be a positive int or None, got {limit!r}")


# ---------------------------------------------------------------------------------------
# Compilation and the identity cache.

_cache: dict[int, tuple[object, CompiledSchema]] = {}
_cache_lock = threading.Lock()


def _compiled(schema: Schema | CompiledSchema) -> CompiledSchema:
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
