"""Translation of any exception into an :class:`~outlast.errors.OutlastError` a user may see.

The user-facing text and error code come only from a fixed table keyed by exception type,
never from ``str(error)``, so hosts, credentials, queries, file paths and stack frames
cannot leak into a response. The original error is logged in full (type, message,
traceback) on the ``outlast.errors`` logger for support; an unexpected error gets an
:class:`~outlast.errors.InternalError` whose ``reference_id`` appears both in the user
message and in the ERROR log line, so a user's report leads straight to the traceback.

The table, most specific class first (the exception's MRO decides):

* ``OutlastError`` and subclasses: returned unchanged; they already carry a safe message.
* ``ConnectionError``, ``TimeoutError`` (``asyncio.TimeoutError`` is the same class),
  ``socket.gaierror``/``herror``, ``ssl.SSLError``, an ``OSError`` whose errno is a network
  errno, and the connection/timeout errors of redis, pymongo, httpx and kombu:
  :class:`~outlast.errors.ServiceUnavailableError` (``SERVICE_UNAVAILABLE``).
* ``PermissionError``: ``PERMISSION_DENIED``.
* Everything else, ``ValueError`` and ``TypeError`` included: ``InternalError``. Raised by
  application code they are almost always bugs, and "your input is invalid" would send the
  user retrying in vain. Input problems should raise ``ValidationError``, or the app can
  ``register_user_message(ValueError, error_code="INVALID_INPUT", message=...,
  error_class=ValidationError)``.

This module never raises the translated error: callers write
``raise translate_error(exc) from exc`` so the original stays the ``__cause__``.
``asyncio.CancelledError``, ``KeyboardInterrupt`` and ``SystemExit`` are not errors to
translate; callers must let them propagate (passed here, they become ``InternalError``).
"""

from __future__ import annotations

import errno
import logging
import uuid
from dataclasses import dataclass
from typing import Any, Final

from outlast.errors import (
    ConfigurationError,
    InternalError,
    OutlastError,
    ServiceUnavailableError,
    ValidationError,
)

__all__ = ["register_user_message", "translate_error", "user_facing_dict"]

log = logging.getLogger("outlast.errors")


@dataclass(frozen=True, slots=True)
class _Rule:
    """What one exception type turns into."""

    error_code: str
    message: str
    error_class: type[OutlastError]


_UNAVAILABLE: Final = _Rule(
    "SERVICE_UNAVAILABLE",
    ServiceUnavailableError.default_user_message,
    ServiceUnavailableError,
)
_TIMED_OUT: Final = _Rule(
    "SERVICE_UNAVAILABLE",
    "A service we depend on took too long to respond. Please try again in a few moments.",
    ServiceUnavailableError,
)
_PERMISSION: Final = _Rule(
    "PERMISSION_DENIED", "You do not have permission to perform this action.", OutlastError
)

_by_type: dict[type[BaseException], _Rule] = {
    ConnectionError: _UNAVAILABLE,
    TimeoutError: _TIMED_OUT,
    PermissionError: _PERMISSION,
}

# Classes named rather than imported, so translating never imports a client library.
_by_name: Final[dict[str, _Rule]] = {
    "socket.gaierror": _UNAVAILABLE,
    "socket.herror": _UNAVAILABLE,
    "ssl.SSLError": _UNAVAILABLE,
    "redis.exceptions.ConnectionError": _UNAVAILABLE,
    "redis.exceptions.TimeoutError": _TIMED_OUT,
    "pymongo.errors.ConnectionFailure": _UNAVAILABLE,
    "pymongo.errors.ExecutionTimeout": _TIMED_OUT,
    "httpx.TransportError": _UNAVAILABLE,
    "httpx.TimeoutException": _TIMED_OUT,
    "kombu.exceptions.OperationalError": _UNAVAILABLE,
}

# A plain OSError carries these when a socket cannot reach its peer.
_NETWORK_ERRNOS: Final = frozenset(
    getattr(errno, name)
    for name in (
        "ENETDOWN",
        "ENETUNREACH",
        "ENETRESET",
        "EHOSTDOWN",
        "EHOSTUNREACH",
        "ETIMEDOUT",
        "ECONNREFUSED",
        "ECONNRESET",
        "ECONNABORTED",
        "EADDRNOTAVAIL",
    )
    if hasattr(errno, name)
)


def translate_error(error: BaseException, *, operation: str | None = None) -> OutlastError:
    """``error`` as an OutlastError with a safe ``user_message``; the caller raises it.

    Write ``raise translate_error(exc, operation="x") from exc``. The original is logged on
    ``outlast.errors``: at WARNING when it maps to a known kind, at ERROR with the reference
    id when it becomes an ``InternalError``.
    """
    if isinstance(error, OutlastError):
        return error
    rule = _rule_for(error)
    if rule is None:
        return _internal(error, operation)
    translated = rule.error_class(
        rule.message, error_code=rule.error_code, user_message=rule.message
    )
    log.warning(
        "%s in operation %s translated to %s",
        _qualified_name(type(error)),
        operation or "<unknown>",
        rule.error_code,
        exc_info=(type(error), error, error.__traceback__),
        extra={"outlast_operation": operation, "error_code": rule.error_code},
    )
    return translated


def register_user_message(
    exc_type: type[BaseException],
    *,
    error_code: str,
    message: str,
    error_class: type[OutlastError] = OutlastError,
) -> None:
    """Translate ``exc_type`` (and its subclasses) to ``error_class`` with a fixed message.

    A later registration of the same type replaces the earlier one; a registration for a
    subclass wins over one for its base. ``error_class`` must accept
    ``(message, *, error_code=..., user_message=...)`` like ``OutlastError`` does.
    """
    if not isinstance(exc_type, type) or not issubclass(exc_type, BaseException):
        raise ConfigurationError(f"exc_type must be an exception class, got {exc_type!r}")
    if issubclass(exc_type, OutlastError):
        raise ConfigurationError(
            f"{exc_type.__name__} is an OutlastError; it carries its own user_message"
        )
    for name, text in (("error_code", error_code), ("message", message)):
        if not isinstance(text, str) or not text.strip():
            raise ConfigurationError(f"{name} must be a non-empty string")
    _check_error_class(error_class, error_code, message)
    _by_type[exc_type] = _Rule(error_code, message, error_class)


def user_facing_dict(error: OutlastError) -> dict[str, Any]:
    """The parts of ``error`` an API may return: code, message, and reference id if any.

    A ``ValidationError`` adds ``errors``: one ``{"field", "code", "message"}`` per field.
    """
    body: dict[str, Any] = {"error_code": error.error_code, "message": error.user_message}
    reference_id = getattr(error, "reference_id", None)
    if isinstance(reference_id, str) and reference_id:
        body["reference_id"] = reference_id
    if isinstance(error, ValidationError):
        body["errors"] = [
            {"field": e.field, "code": e.code, "message": e.message} for e in error.errors
        ]
    return body


def _rule_for(error: BaseException) -> _Rule | None:
    """The rule of the most specific class in ``error``'s MRO that has one."""
    for cls in type(error).__mro__:
        rule = _by_type.get(cls) or _by_name.get(_qualified_name(cls))
        if rule is not None:
            return rule
    if isinstance(error, OSError) and error.errno in _NETWORK_ERRNOS:
        return _UNAVAILABLE
    return None


def _internal(error: BaseException, operation: str | None) -> InternalError:
    """An InternalError for an unexpected ``error``, logged at ERROR with its reference."""
    reference_id = uuid.uuid4().hex[:12]
    log.error(
        "unexpected %s in operation %s (reference %s): %s",
        _qualified_name(type(error)),
        operation or "<unknown>",
        reference_id,
        error,
        exc_info=(type(error), error, error.__traceback__),
        extra={"outlast_operation": operation, "reference_id": reference_id},
    )
    return InternalError(f"unexpected error (reference {reference_id})", reference_id=reference_id)


def _check_error_class(error_class: object, error_code: str, message: str) -> None:
    """Fail at registration, not at translation, if ``error_class`` cannot carry the rule."""
    if not isinstance(error_class, type) or not issubclass(error_class, OutlastError):
        raise ConfigurationError(f"error_class must be an OutlastError subclass: {error_class!r}")
    try:
        probe = error_class(message, error_code=error_code, user_message=message)
    except TypeError as exc:
        raise ConfigurationError(
            f"{error_class.__name__} must accept (message, *, error_code, user_message)"
        ) from exc
    if probe.error_code != error_code or probe.user_message != message:
        raise ConfigurationError(
            f"{error_class.__name__} ignores error_code or user_message; choose another class"
        )


def _qualified_name(cls: type) -> str:
    """``module.QualName`` of a class, the key of the by-name table."""
    return f"{cls.__module__}.{cls.__qualname__}"
