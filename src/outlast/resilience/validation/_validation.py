"""Input validation against a small declarative schema: ``validate_input``.

The schema is compiled once by :mod:`._schema` (which documents the field spec keys) and
cached by identity. Every value also goes through the sanitization walk of
:mod:`._sanitize` (operator keys, control characters, NFC, size and depth bounds), and
constrained values through the checks of :mod:`._field_checks`.
Bad input never crashes and never stops at the first problem: one
:class:`~outlast.errors.ValidationError` lists every failing field. A broken *schema* is a
programming error and raises :class:`~outlast.errors.ConfigurationError` instead.

Each field reports at most one error: the first failing check, in this order: type,
sanitization, length, pattern, range, choices, validator. Nested schemas report their own
fields at dotted and indexed paths (``address.city``, ``tags[2]``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Final

from outlast.errors import ConfigurationError, ErrorContext, FieldError, ValidationError
from outlast.resilience.validation._field_checks import violation
from outlast.resilience.validation._sanitize import (
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
from outlast.resilience.validation._schema import CompiledSchema, FieldSpec, Schema, compiled_for

__all__ = [
    "DEFAULT_MAX_DEPTH",
    "DEFAULT_MAX_SIZE",
    "validate_input",
]

log = logging.getLogger("outlast.validation")

_MISSING: Final = object()


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
    compiled = compiled_for(schema)
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
        problem = violation(value, spec)
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
