"""The constraint checks of one field value: length, pattern, range, choices, validator.

:func:`violation` runs the constraints of a compiled :class:`FieldSpec` in that order and
returns the first one the value breaks as ``(code, message)``, so each field reports at most
one error. The value arrives already type-checked and sanitized by ``validate_input``.

These checks never raise for a bad value (a comparison that fails with ``TypeError`` is a
``type`` violation, and a user validator's exception is a ``validator`` violation) and never
record errors themselves: the caller decides where the error goes.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Collection
from typing import Any

from outlast.resilience.validation._schema import FieldSpec

__all__ = ["violation"]

log = logging.getLogger("outlast.validation")


def violation(value: Any, spec: FieldSpec) -> tuple[str, str] | None:
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
