"""The monitored error event: what monitoring keeps of one error, built off the caller's path.

A caller hands over a :class:`Capture` (the exception, its context, when); the flusher turns
it into an :class:`ErrorEventData` (redacted, normalized, fingerprinted, categorized,
traceback trimmed) and that into the store's ``ErrorEvent`` record. The exception object is
dropped once the event is built, so a held buffer keeps no frames alive.

Never raises for odd input: a context that is neither an ``ErrorContext`` nor a mapping is
recorded as the operation ``"unknown"``.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from outlast.errors import ErrorContext, ErrorSeverity
from outlast.monitoring._category import ErrorCategory, categorize
from outlast.monitoring._fingerprint import fingerprint, frames_of, top_in_app_frame
from outlast.monitoring._normalize import parameterize
from outlast.monitoring._redact import redact

__all__ = ["DEFAULT_SEVERITY", "Capture", "ErrorEventData", "build_event", "service_of"]

MAX_MESSAGE: Final = 1000
"""Characters of a message kept (after redaction)."""

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
    error_type = f"{type(error).__module__}.{type(error).__qualname__}"
    message = redact(_message_of(error))[:MAX_MESSAGE]
    normalized = parameterize(message)
    frames = frames_of(error.__traceback__)
    category = categorize(error)
    return ErrorEventData(
        id=os.urandom(16).hex(),
        occurred_at=capture.occurred_at,
        fingerprint=fingerprint(
            error_type=error_type,
            normalized_message=normalized,
            operation=operation,
            frame=top_in_app_frame(frames),
        ),
        error_type=error_type,
        message=message,
        normalized_message=normalized,
        operation=operation,
        service=service_of(operation, metadata),
        user_id=user_id,
        request_id=request_id,
        severity=capture.severity or DEFAULT_SEVERITY[category],
        category=category,
        recovery_attempted=capture.recovery_attempted,
        recovery_successful=capture.recovery_successful,
        traceback=tuple(f.label() for f in frames),
        host=_HOST,
        pid=os.getpid(),
        metadata=_json_safe(metadata),
    )


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
