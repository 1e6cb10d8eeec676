"""Sanitization of untrusted input: what every value goes through before a schema sees it.

The walk rejects MongoDB operator keys (``"$where"``, ``"a.b"``) at any depth, rejects
control characters and lone surrogates (which no encoder accepts), NFC-normalizes
strings, and bounds the total size and the nesting depth
so a hostile payload costs bounded work. It never raises for bad input: it records a
:class:`~outlast.errors.FieldError` on the :class:`Run` and carries on, so the caller can
report every failing field at once. The one exception is :class:`InputTooLarge`, which stops
the walk, because walking on would defeat the limit.

Strings are the only values it rewrites. Numbers, ``None``, ``bytes`` and other objects pass
through unchanged; dictionaries (any ``Mapping``) come out as ``dict``; lists, tuples and
sets come out as ``list``, ``tuple`` and ``set``/``frozenset``.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from collections.abc import Collection, Mapping
from typing import Any, Final

from outlast.errors import FieldError

__all__ = [
    "DEFAULT_MAX_DEPTH",
    "DEFAULT_MAX_SIZE",
    "INVALID",
    "InputTooLarge",
    "Run",
    "clean_key",
    "clean_mapping",
    "clean_str",
    "clean_value",
    "index_path",
    "join_path",
]

DEFAULT_MAX_SIZE: Final = 1024 * 1024
"""Characters of all strings (keys included) plus items of all containers."""
DEFAULT_MAX_DEPTH: Final = 32
"""Containers nested inside each other, the top-level mapping counting as 1."""

# Unicode category Cc is exactly U+0000-U+001F and U+007F-U+009F; tab, LF and CR are allowed.
_CONTROL: Final = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_SURROGATE: Final = re.compile("[\ud800-\udfff]")
_SCALARS: Final = frozenset({int, float, bool, type(None)})
_PATH_KEY_LIMIT: Final = 64


class _Invalid:
    """The type of :data:`INVALID`."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "INVALID"


INVALID: Final = _Invalid()
"""Stands in for a value that failed; a FieldError always records why."""


class InputTooLarge(Exception):
    """Internal: the size budget ran out; ``error`` is the ``too_large`` field error."""

    def __init__(self, error: FieldError) -> None:
        super().__init__(error.message)
        self.error = error


class Run:
    """The state of one validation call: its options, the errors so far and the size spent."""

    __slots__ = (
        "errors",
        "forbid_operator_keys",
        "max_depth",
        "max_size",
        "normalize_unicode",
        "reject_control_characters",
        "size",
        "strict",
    )

    def __init__(
        self,
        *,
        strict: bool,
        max_size: int | None,
        max_depth: int | None,
        forbid_operator_keys: bool,
        reject_control_characters: bool,
        normalize_unicode: bool,
    ) -> None:
        self.errors: list[FieldError] = []
        self.size = 0
        self.strict = strict
        self.max_size = sys.maxsize if max_size is None else max_size
        self.max_depth = sys.maxsize if max_depth is None else max_depth
        self.forbid_operator_keys = forbid_operator_keys
        self.reject_control_characters = reject_control_characters
        self.normalize_unicode = normalize_unicode

    def fail(self, path: str, code: str, message: str) -> _Invalid:
        """Record one failing field; returns INVALID so callers can ``return run.fail(...)``."""
        self.errors.append(FieldError(path, code, message))
        return INVALID

    def charge(self, amount: int, path: str) -> None:
        """Spend ``amount`` of the size budget, stopping the walk when it runs out."""
        self.size += amount
        if self.size > self.max_size:
            message = f"input exceeds the size limit (max_size={self.max_size})"
            raise InputTooLarge(FieldError(path, "too_large", message))

    def too_deep(self, depth: int, path: str) -> bool:
        """Whether a container at ``depth`` is past the limit (recording the error if so)."""
        if depth <= self.max_depth:
            return False
        self.fail(path, "too_deep", f"is nested too deeply (max_depth={self.max_depth})")
        return True


def join_path(path: str, key: object) -> str:
    """The dotted path of ``key`` inside the mapping at ``path``, printable and bounded."""
    shown = key if isinstance(key, str) else repr(key)
    if len(shown) > _PATH_KEY_LIMIT:
        shown = shown[: _PATH_KEY_LIMIT - 3] + "..."
    if not shown.isprintable():
        shown = shown.encode("unicode_escape").decode("ascii")
    return f"{path}.{shown}" if path else shown


def index_path(path: str, index: int) -> str:
    """The path of item ``index`` of the sequence at ``path``."""
    return f"{path}[{index}]"


def clean_str(text: str, path: str, run: Run) -> Any:
    """``text`` checked for control characters and NFC-normalized, or INVALID."""
    run.charge(len(text), path)
    # isprintable() is False for every Cc character, so a printable string needs no regex.
    if not text.isprintable():
        if run.reject_control_characters and _CONTROL.search(text):
            return run.fail(path, "control_characters", "contains control characters")
        # A lone surrogate cannot be encoded (UTF-8, BSON, JSON), so it would crash later.
        if _SURROGATE.search(text):
            return run.fail(path, "invalid_unicode", "contains unpaired surrogate characters")
    if run.normalize_unicode and not text.isascii():
        normalized = unicodedata.normalize("NFC", text)
        # NFC can lengthen a string (rarely); charge the growth so the bound stays true.
        if len(normalized) > len(text):
            run.charge(len(normalized) - len(text), path)
        return normalized
    return text


def clean_key(key: object, key_path: str, run: Run) -> Any:
    """A mapping key (found at ``key_path``) after the checks, or INVALID."""
    if not isinstance(key, str):
        return key
    cleaned = clean_str(key, key_path, run)
    if cleaned is INVALID:
        return INVALID
    if run.forbid_operator_keys and (cleaned.startswith("$") or "." in cleaned):
        return run.fail(
            key_path,
            "forbidden_key",
            "keys starting with '$' or containing '.' are not allowed",
        )
    return cleaned


def clean_value(value: Any, path: str, depth: int, run: Run) -> Any:
    """Any value sanitized without a schema; ``depth`` is the level it would sit at."""
    if type(value) in _SCALARS:
        return value
    if isinstance(value, str):
        return clean_str(value, path, run)
    if isinstance(value, (list, tuple, set, frozenset)):
        return _clean_collection(value, path, depth, run)
    if isinstance(value, Mapping):
        return clean_mapping(value, path, depth, run)
    return value


def clean_mapping(value: Mapping[Any, Any], path: str, depth: int, run: Run) -> Any:
    """Every key and value of ``value`` sanitized, as a new dict (or INVALID if too deep)."""
    if run.too_deep(depth, path):
        return INVALID
    run.charge(len(value), path)
    cleaned: dict[Any, Any] = {}
    for key, item in value.items():
        key_path = join_path(path, key)
        new_key = clean_key(key, key_path, run)
        new_item = clean_value(item, key_path, depth + 1, run)
        if new_key is INVALID:
            continue
        if new_key in cleaned:
            run.fail(
                key_path,
                "forbidden_key",
                "duplicates another key after Unicode normalization",
            )
        cleaned[new_key] = new_item
    return cleaned


def _clean_collection(value: Collection[Any], path: str, depth: int, run: Run) -> Any:
    """Every item of a list, tuple or set sanitized, in a new one of the same kind."""
    if run.too_deep(depth, path):
        return INVALID
    run.charge(len(value), path)
    items = [clean_value(item, index_path(path, i), depth + 1, run) for i, item in enumerate(value)]
    if isinstance(value, list):
        return items
    if isinstance(value, tuple):
        return tuple(items)
    return frozenset(items) if isinstance(value, frozenset) else set(items)
