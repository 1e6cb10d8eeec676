"""The exception tree of Outlast, plus the context and severity that travel with errors.

Every exception Outlast raises derives from :class:`OutlastError`, so callers can catch
the whole family at once. Each carries a stable ``error_code`` and a ``user_message``
that is safe to show to an end user (it never contains hosts, queries or stack frames)::

    OutlastError                     error_code="OUTLAST_ERROR"
    ├── ValidationError              bad input; .errors lists every failing field
    ├── CircuitBreakerOpenError      a breaker rejected the call; .name, .retry_after
    ├── BulkheadCapacityError        no permit within the wait; .name, .capacity
    ├── OperationTimeoutError        an attempt ran past its timeout (also a TimeoutError)
    ├── ServiceUnavailableError      a dependency failed (connection, timeout, 5xx)
    │   └── StoreUnavailableError    the durable store did not answer; .backend, .operation
    ├── InternalError                an unexpected error; .reference_id ties it to the logs
    └── ConfigurationError           a setting or profile is invalid
        └── SettingsError            settings failed to load; .problems names each variable

Third-party exceptions are translated at one boundary (``handle_errors`` with
``user_friendly_errors=True``); the original is kept as ``__cause__``.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass, field
from typing import Any, ClassVar

__all__ = [
    "BulkheadCapacityError",
    "CircuitBreakerOpenError",
    "ConfigurationError",
    "ErrorContext",
    "ErrorSeverity",
    "FieldError",
    "InternalError",
    "OperationTimeoutError",
    "OutlastError",
    "ServiceUnavailableError",
    "SettingsError",
    "StoreUnavailableError",
    "ValidationError",
]


class ErrorSeverity(enum.Enum):
    """How bad an error is; drives alerting and escalation."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


@dataclass(slots=True)
class ErrorContext:
    """Where an error happened: the operation and the request it belonged to.

    Mutable on purpose: layers add ``metadata`` (attempt number, breaker name) as a call
    travels through them.
    """

    operation: str
    user_id: str | None = None
    request_id: str | None = None
    family_id: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-friendly copy, for logs and stored events."""
        return {
            "operation": self.operation,
            "user_id": self.user_id,
            "request_id": self.request_id,
            "family_id": self.family_id,
            "metadata": dict(self.metadata),
        }


class OutlastError(Exception):
    """Base of every error Outlast raises."""

    default_code: ClassVar[str] = "OUTLAST_ERROR"
    default_user_message: ClassVar[str] = "Something went wrong. Please try again."

    def __init__(
        self,
        message: str = "",
        *,
        error_code: str | None = None,
        user_message: str | None = None,
    ) -> None:
        super().__init__(message or self.default_user_message)
        self.error_code = error_code or self.default_code
        self.user_message = user_message or self.default_user_message


@dataclass(frozen=True, slots=True)
class FieldError:
    """One failing field of a validation: a dotted path, a stable code and a message."""

    field: str
    code: str
    message: str


class ValidationError(OutlastError):
    """Input failed validation; ``errors`` names every failing field."""

    default_code = "VALIDATION_ERROR"
    default_user_message = "Some of the information provided is not valid."

    def __init__(
        self,
        message: str = "",
        *,
        errors: list[FieldError] | None = None,
        error_code: str | None = None,
        user_message: str | None = None,
        context: ErrorContext | None = None,
    ) -> None:
        self.errors: list[FieldError] = list(errors or [])
        self.context = context
        if not message and self.errors:
            message = "; ".join(f"{e.field}: {e.message}" for e in self.errors)
        super().__init__(
            message,
            error_code=error_code,
            user_message=user_message or message or self.default_user_message,
        )

    def as_dict(self) -> dict[str, Any]:
        """A JSON-friendly view for API responses."""
        return {
            "error_code": self.error_code,
            "message": self.user_message,
            "errors": [
                {"field": e.field, "code": e.code, "message": e.message} for e in self.errors
            ],
        }


class CircuitBreakerOpenError(OutlastError):
    """A circuit breaker rejected the call; try again after ``retry_after`` seconds."""

    default_code = "CIRCUIT_BREAKER_OPEN"
    default_user_message = "This service is temporarily unavailable. Please try again shortly."
    # Class-level values and a lazy ``__str__`` keep construction cheap: an open breaker
    # raises this on every rejected call.
    error_code = default_code
    user_message = default_user_message

    def __init__(self, name: str, retry_after: float) -> None:
        self.args = (name, retry_after)  # lets the error pickle and unpickle whole
        self.name = name
        self.retry_after = retry_after

    def __str__(self) -> str:
        return f"circuit breaker {self.name!r} is open; retry after {self.retry_after:.3f}s"


class BulkheadCapacityError(OutlastError):
    """A bulkhead had no free permit within the allowed wait."""

    default_code = "BULKHEAD_FULL"
    default_user_message = "The system is busy right now. Please try again in a moment."

    def __init__(self, message: str = "", *, name: str = "", capacity: int = 0) -> None:
        super().__init__(message or f"bulkhead {name!r} is at capacity ({capacity})")
        self.name = name
        self.capacity = capacity


class OperationTimeoutError(OutlastError, TimeoutError):
    """An attempt ran longer than its timeout."""

    default_code = "OPERATION_TIMEOUT"
    default_user_message = "The operation took too long. Please try again."

    def __init__(self, message: str = "", *, operation: str = "", timeout: float = 0.0) -> None:
        super().__init__(message or f"operation {operation!r} timed out after {timeout}s")
        self.operation = operation
        self.timeout = timeout


class ServiceUnavailableError(OutlastError):
    """A dependency could not be reached or answered with a failure."""

    default_code = "SERVICE_UNAVAILABLE"
    default_user_message = (
        "A service we depend on is temporarily unavailable. Please try again in a few moments."
    )


class StoreUnavailableError(ServiceUnavailableError):
    """The durable store's backend did not answer or refused; ``__cause__`` says why."""

    default_code = "STORE_UNAVAILABLE"

    def __init__(self, message: str = "", *, backend: str = "", operation: str = "") -> None:
        super().__init__(message or f"{backend} store unavailable during {operation}")
        self.backend = backend
        self.operation = operation


class InternalError(OutlastError):
    """An unexpected error; ``reference_id`` appears in the logs and the user message."""

    default_code = "INTERNAL_ERROR"

    def __init__(self, message: str = "", *, reference_id: str | None = None) -> None:
        self.reference_id = reference_id or uuid.uuid4().hex[:12]
        super().__init__(
            message or "unexpected error",
            user_message=(
                "Something went wrong on our side. If it keeps happening, contact support "
                f"with reference {self.reference_id}."
            ),
        )


class ConfigurationError(OutlastError):
    """A setting, profile or argument is invalid; the message names it."""

    default_code = "CONFIGURATION_ERROR"


class SettingsError(ConfigurationError):
    """Settings failed to load: one message naming every bad variable.

    ``problems`` has one :class:`FieldError` per bad setting: ``field`` is where the value
    came from (``OUTLAST_SMTP_PORT``, or ``outlast.toml: smtp_port``), ``message`` says what
    it holds and what is expected.
    """

    default_code = "SETTINGS_ERROR"

    def __init__(self, problems: list[FieldError]) -> None:
        self.problems = tuple(problems)
        lines = [f"{p.field} {p.message}" for p in self.problems]
        if len(lines) == 1:
            message = f"invalid setting: {lines[0]}"
        else:
            message = "invalid settings:\n" + "\n".join(f"  {line}" for line in lines)
        super().__init__(message)

    def __reduce__(self) -> tuple[type[SettingsError], tuple[list[FieldError]]]:
        return (type(self), (list(self.problems),))
