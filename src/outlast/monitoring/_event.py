"""The monitored error event: what monitoring keeps of one error, built off the caller's path.

A caller hands over a :class:`Capture` (the exception, its context, when); the flusher turns
it into an :class:`ErrorEventData` (redacted, normalized, fingerprinted, categorized,
traceback trimmed) and that into the store's ``ErrorEvent`` record. The exception object is
dropped once the event is built, so a held buffer keeps no frames alive. The text parts
(redaction, normalization, fingerprint, traceback) are kept in a bounded LRU keyed on what
decides them, so a repeated error costs one look-up; the cache holds text and code
locations, never an exception or a frame.

Never raises for odd input: a context that is neither an ``ErrorContext`` nor a mapping is
recorded as the operation ``"unknown"``.
"""

from __future__ import annotations

import functools
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, NamedTuple

from outlast.errors import ErrorContext, ErrorSeverity
from outlast.monitoring._category import ErrorCategory, categorize
from outlast.monitoring._fingerprint import Frame, fingerprint, frames_of, top_in_app_frame
from outlast.monitoring._normalize import parameterize
from outlast.monitoring._redact import redact

__all__ = ["DEFAULT_SEVERITY", "Capture", "ErrorEventData", "build_event", "service_of"]

MAX_MESSAGE: Final = 1000
"""Characters of a message kept (after redaction)."""

PARTS_CACHE_SIZE: Final = 4096
"""Distinct (error type, message, code location, operation) whose built parts are kept."""
MAX_CACHED_MESSAGE: Final = 4 * MAX_MESSAGE
"""Longer raw messages are built every time (a cache of them would hold too much)."""

_HOST: Final = socket.gethostname()

DEFAULT_SEVERITY: Final = {
    ErrorCategory.NETWORK: ErrorSeverity.MEDIUM,
    ErrorCategory.TIMEOUT: ErrorSeverity.MEDIUM,
    ErrorCategory.DATABASE: ErrorSeverity.HIGH,
    ErrorCategory.VALIDATION: ErrorSeverity.LOW,
    ErrorCategory.SECURITY: ErrorSeverity.HIGH,
    ErrorCategory.RESOURCE: ErrorSeverity.MEDIUM,
    ErrorCategory.PROGRAMMING: ErrorSeverity.HIGH,
    ErrorCategory.UNKNOWN: ErrorSeverity.MEDIUM,
}
"""The severity of an error recorded without one (the core's failed calls), by category."""


@dataclass(frozen=True, slots=True)
class Capture:
    """What the caller hands over: cheap to make, everything else is computed later."""

    error: BaseException
    context: Any
    severity: ErrorSeverity | None
    recovery_attempted: bool
    recovery_successful: bool | None
    occurred_at: float


@dataclass(frozen=True, slots=True, kw_only=True)
class ErrorEventData:
    """One monitored error, as counted in Redis and stored as an ``ErrorEvent``."""

    id: str
    occurred_at: float
    fingerprint: str
    error_type: str
    message: str
    normalized_message: str
    operation: str
    service: str
    user_id: str | None
    request_id: str | None
    severity: ErrorSeverity
    category: ErrorCategory
    recovery_attempted: bool
    recovery_successful: bool | None
    traceback: tuple[str, ...]
    host: str
    pid: int
    metadata: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-friendly copy (the store record's ``context``)."""
        return {
            "normalized_message": self.normalized_message,
            "service": self.service,
            "user_id": self.user_id,
            "request_id": self.request_id,
            "category": self.category.value,
            "traceback": list(self.traceback),
            "host": self.host,
            "pid": self.pid,
            "metadata": self.metadata,
        }


def service_of(operation: str, metadata: Mapping[str, Any] | None = None) -> str:
    """The service an operation belongs to: ``metadata["service"]`` when given, else the part
    of the operation name before its first dot (``"payments.charge"`` -> ``"payments"``)."""
    named = metadata.get("service") if metadata else None
    if isinstance(named, str) and named:
        return named
    return operation.split(".", 1)[0] or operation


def build_event(capture: Capture) -> ErrorEventData:
    """The monitored event of ``capture``."""
    error = capture.error
    operation, user_id, request_id, metadata = _context_parts(capture.context)
    raw = _message_of(error)
    frames = frames_of(error.__traceback__)
    # Bursts repeat the same error from the same place: its text parts are built once.
    built = _parts if len(raw) > MAX_CACHED_MESSAGE else _cached_parts
    kind = type(error)
    parts = built(f"{kind.__module__}.{kind.__qualname__}", raw, frames, operation)
    category = categorize(error)
    return ErrorEventData(
        id=os.urandom(16).hex(),
        occurred_at=capture.occurred_at,
        fingerprint=parts.fingerprint,
        error_type=parts.error_type,
        message=parts.message,
        normalized_message=parts.normalized,
        operation=operation,
        service=service_of(operation, metadata),
        user_id=user_id,
        request_id=request_id,
        severity=capture.severity or DEFAULT_SEVERITY[category],
        category=category,
        recovery_attempted=capture.recovery_attempted,
        recovery_successful=capture.recovery_successful,
        traceback=parts.traceback,
        host=_HOST,
        pid=os.getpid(),
        metadata=_json_safe(metadata),
    )


class _Parts(NamedTuple):
    """What an event's error, message, code location and operation alone decide."""

    error_type: str
    message: str
    normalized: str
    fingerprint: str
    traceback: tuple[str, ...]


def _parts(error_type: str, raw: str, frames: tuple[Frame, ...], operation: str) -> _Parts:
    """Redaction, normalization, fingerprint and trimmed traceback: pure functions of the
    arguments, so a cache of them returns exactly what building again would."""
    message = redact(raw)[:MAX_MESSAGE]
    normalized = parameterize(message)
    labels, frame = _frame_parts(frames)
    found = fingerprint(
        error_type=error_type, normalized_message=normalized, operation=operation, frame=frame
    )
    return _Parts(error_type, message, normalized, found, labels)


_cached_parts: Final = functools.lru_cache(maxsize=PARTS_CACHE_SIZE)(_parts)


@functools.lru_cache(maxsize=PARTS_CACHE_SIZE)  # code locations repeat even as messages vary
def _frame_parts(frames: tuple[Frame, ...]) -> tuple[tuple[str, ...], str]:
    """The trimmed traceback's labels and the top in-app frame of ``frames``."""
    return tuple(f.label() for f in frames), top_in_app_frame(frames)


def _message_of(error: BaseException) -> str:
    try:
        return str(error)
    except Exception:  # a broken __str__ must not lose the event
        return f"<unprintable {type(error).__name__}>"


def _context_parts(context: Any) -> tuple[str, str | None, str | None, dict[str, Any]]:
    if isinstance(context, ErrorContext):
        return context.operation, context.user_id, context.request_id, dict(context.metadata)
    if isinstance(context, Mapping):
        metadata = context.get("metadata")
        return (
            str(context.get("operation") or "unknown"),
            _optional_text(context.get("user_id")),
            _optional_text(context.get("request_id")),
            dict(metadata) if isinstance(metadata, Mapping) else {},
        )
    return "unknown", None, None, {}


def _optional_text(value: Any) -> str | None:
    return None if value is None else str(value)


def _json_safe(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """Metadata as JSON scalars: anything else becomes its redacted text."""
    safe: dict[str, Any] = {}
    for key, value in metadata.items():
        if value is None or isinstance(value, bool | int | float):
            safe[str(key)] = value
        else:
            safe[str(key)] = redact(str(value))[:MAX_MESSAGE]
    return safe
