"""``translate_error``: any exception becomes an OutlastError with a fixed, safe message;
the original is logged for support and never leaks into what a user sees."""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import traceback

import httpx
import kombu.exceptions
import pymongo.errors
import pytest
import redis.exceptions

from outlast.errors import (
    CircuitBreakerOpenError,
    ConfigurationError,
    FieldError,
    InternalError,
    OutlastError,
    ServiceUnavailableError,
    ValidationError,
)
from outlast.resilience._messages import (
    register_user_message,
    translate_error,
    user_facing_dict,
)


def raised(error: BaseException) -> BaseException:
    """``error`` after a real raise, so it carries a traceback."""
    try:
        raise error
    except BaseException as caught:
        return caught


# --- OutlastErrors pass through ------------------------------------------------------------


@pytest.mark.parametrize(
    "error",
    [
        ValidationError("Invalid email address"),
        CircuitBreakerOpenError("payments", 3.0),
        InternalError(reference_id="abc123"),
    ],
)
def test_outlast_errors_are_returned_unchanged(error: OutlastError) -> None:
    """An OutlastError already carries a code and safe message: the same object returns."""
    assert translate_error(error, operation="op") is error


# --- the built-in table --------------------------------------------------------------------


@pytest.mark.parametrize(
    "error",
    [
        ConnectionError("connection reset"),
        ConnectionRefusedError(errno.ECONNREFUSED, "refused"),
        TimeoutError("timed out"),
        asyncio.TimeoutError(),  # noqa: UP041 - the seed names it; an alias since 3.11
        socket.gaierror(socket.EAI_NONAME, "Name or service not known"),
        OSError(errno.ENETUNREACH, "Network is unreachable"),
        redis.exceptions.ConnectionError("Error 111 connecting to localhost:6379"),
        redis.exceptions.TimeoutError("Timeout reading from socket"),
        pymongo.errors.ServerSelectionTimeoutError("localhost:27017: connection refused"),
        pymongo.errors.AutoReconnect("connection closed"),
        httpx.ConnectError("All connection attempts failed"),
        httpx.ReadTimeout("timed out"),
        kombu.exceptions.OperationalError("Error 111 connecting to broker"),
    ],
    ids=lambda e: type(e).__qualname__,
)
def test_network_and_timeout_errors_become_service_unavailable(error: Exception) -> None:
    """Connection, timeout and network errors (builtin and client libraries) map to 503-ish."""
    translated = translate_error(raised(error), operation="fetch")
    assert isinstance(translated, ServiceUnavailableError)
    assert translated.error_code == "SERVICE_UNAVAILABLE"
    assert "try again" in translated.user_message


def test_timeouts_get_their_own_wording_under_the_same_code() -> None:
    """A timeout says the service was slow; a refused connection says it is unavailable."""
    slow = translate_error(TimeoutError())
    down = translate_error(ConnectionError())
    assert slow.error_code == down.error_code == "SERVICE_UNAVAILABLE"
    assert "took too long" in slow.user_message
    assert slow.user_message != down.user_message


def test_permission_error_becomes_permission_denied() -> None:
    """PermissionError maps to PERMISSION_DENIED with a fixed message."""
    translated = translate_error(PermissionError(errno.EACCES, "denied", "/etc/shadow"))
    assert type(translated) is OutlastError
    assert translated.error_code == "PERMISSION_DENIED"
    assert translated.user_message == "You do not have permission to perform this action."


@pytest.mark.parametrize(
    "error",
    [
        ValueError("invalid literal for int()"),
        TypeError("unsupported operand"),
        KeyError("user_id"),
        FileNotFoundError(errno.ENOENT, "No such file", "/srv/app/config.yaml"),
        OSError(errno.EIO, "I/O error"),
        RuntimeError("boom"),
    ],
    ids=lambda e: type(e).__qualname__,
)
def test_everything_else_becomes_internal_error_with_a_reference(error: Exception) -> None:
    """Unmapped errors (ValueError and TypeError included) become InternalError."""
    translated = translate_error(raised(error))
    assert isinstance(translated, InternalError)
    assert translated.error_code == "INTERNAL_ERROR"
    assert translated.reference_id in translated.user_message


def test_internal_errors_get_distinct_reference_ids() -> None:
    """Each unexpected error gets its own reference id."""
    first = translate_error(ValueError("x"))
    second = translate_error(ValueError("x"))
    assert isinstance(first, InternalError)
    assert isinstance(second, InternalError)
    assert first.reference_id != second.reference_id


def test_internal_error_is_logged_at_error_with_reference_and_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Support finds the full original (type, message, traceback) by the reference id."""
    original = raised(KeyError("SELECT * FROM users"))
    caplog.set_level(logging.ERROR, logger="outlast.errors")
    translated = translate_error(original, operation="load_user")
    assert isinstance(translated, InternalError)
    (record,) = caplog.records
    assert (record.name, record.levelno) == ("outlast.errors", logging.ERROR)
    assert record.reference_id == translated.reference_id  # type: ignore[attr-defined]
    assert record.outlast_operation == "load_user"  # type: ignore[attr-defined]
    message = record.getMessage()
    assert translated.reference_id in message
    assert "builtins.KeyError" in message
    assert "SELECT * FROM users" in message
    assert record.exc_info is not None
    assert record.exc_info[1] is original
    assert "in raised" in "".join(traceback.format_tb(record.exc_info[2]))


def test_mapped_error_is_logged_at_warning_with_its_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A known kind of failure is logged too, at WARNING, with the original attached."""
    original = raised(ConnectionError("refused"))
    caplog.set_level(logging.WARNING, logger="outlast.errors")
    translate_error(original, operation="fetch")
    (record,) = caplog.records
    assert record.levelno == logging.WARNING
    assert record.exc_info is not None
    assert record.exc_info[1] is original
    assert record.getMessage() == (
        "builtins.ConnectionError in operation fetch translated to SERVICE_UNAVAILABLE"
    )


def test_caller_chains_the_original_as_cause() -> None:
    """The documented pattern ``raise translate_error(e) from e`` keeps the original."""
    original = ConnectionError("refused")

    def boundary() -> None:
        try:
            raise original
        except ConnectionError as error:
            raise translate_error(error) from error

    with pytest.raises(ServiceUnavailableError) as caught:
        boundary()
    assert caught.value.__cause__ is original


# --- nothing internal leaks ----------------------------------------------------------------

SECRETS = [
    "db-primary.internal.example.net",
    "redis://admin:hunter2@10.0.3.7:6379/0",
    "SELECT password_hash FROM users WHERE email = 'a@b.c'",
    '{"$where": "this.balance > 0"}',
    "/srv/outlast/app/settings/production.py",
    'Traceback (most recent call last):\n  File "/srv/app/db.py", line 42, in connect',
]
LEAK_MARKERS = [
    "db-primary",
    "internal",
    "redis://",
    "hunter2",
    "10.0.3.7",
    "6379",
    "SELECT",
    "password",
    "$where",
    "balance",
    "/srv",
    "production.py",
    "Traceback",
    "line 42",
]


class LeakyError(Exception):
    """An application error registered with its own fixed message."""


@pytest.mark.parametrize(
    "kind",
    [
        ConnectionError,
        TimeoutError,
        PermissionError,
        ValueError,
        RuntimeError,
        LeakyError,
        redis.exceptions.ConnectionError,
        pymongo.errors.OperationFailure,
    ],
)
@pytest.mark.parametrize("secret", SECRETS)
def test_user_facing_parts_never_contain_internals(kind: type[Exception], secret: str) -> None:
    """Hosts, credentials, queries, paths and tracebacks in str(error) never reach users."""
    register_user_message(LeakyError, error_code="LEAKY", message="That did not work out.")
    translated = translate_error(raised(kind(secret)), operation="op")
    body = user_facing_dict(translated)
    shown = [
        translated.user_message,
        translated.error_code,
        str(translated),
        *map(str, body.values()),
    ]
    # The reference id is random hex: it may spell a marker such as "6379" by chance.
    reference = getattr(translated, "reference_id", None) or "\x00"
    shown = [text.replace(reference, "<reference>") for text in shown]
    for marker in LEAK_MARKERS:
        assert not any(marker in text for text in shown), (marker, shown)


# --- registration --------------------------------------------------------------------------


class QuotaExceeded(Exception):
    """An application error a test maps to its own code."""


class DailyQuotaExceeded(QuotaExceeded):
    """A more specific application error."""


class PaymentDeclined(Exception):
    """An application error re-registered to prove replacement."""


class BadInput(ValueError):
    """An application's own ValueError meaning bad user input."""


def test_registered_type_and_its_subclasses_use_the_registration() -> None:
    """A registration maps the type and, through the MRO, its subclasses."""
    register_user_message(QuotaExceeded, error_code="QUOTA_EXCEEDED", message="Limit reached.")
    for error in (QuotaExceeded("user 42 over quota"), DailyQuotaExceeded("user 42")):
        translated = translate_error(error)
        assert (type(translated), translated.error_code, translated.user_message) == (
            OutlastError,
            "QUOTA_EXCEEDED",
            "Limit reached.",
        )


def test_subclass_registration_wins_over_the_base_whatever_the_order() -> None:
    """The most specific registered class in the MRO decides, not the latest registration."""
    register_user_message(
        DailyQuotaExceeded, error_code="DAILY_QUOTA", message="Come back tomorrow."
    )
    register_user_message(QuotaExceeded, error_code="QUOTA_EXCEEDED", message="Limit reached.")
    assert translate_error(DailyQuotaExceeded()).error_code == "DAILY_QUOTA"
    assert translate_error(QuotaExceeded()).error_code == "QUOTA_EXCEEDED"


def test_later_registration_of_the_same_type_replaces_the_earlier() -> None:
    """Registering a type again replaces its code and message."""
    register_user_message(PaymentDeclined, error_code="DECLINED_V1", message="Declined.")
    register_user_message(PaymentDeclined, error_code="DECLINED", message="Card declined.")
    translated = translate_error(PaymentDeclined("card 4242 declined by issuer"))
    assert (translated.error_code, translated.user_message) == ("DECLINED", "Card declined.")


def test_registration_can_choose_the_error_class() -> None:
    """An app can turn its own ValueError subclass into a ValidationError."""
    register_user_message(
        BadInput,
        error_code="INVALID_INPUT",
        message="Please check the information you entered.",
        error_class=ValidationError,
    )
    translated = translate_error(BadInput("int('x') failed at /srv/app/forms.py"))
    assert isinstance(translated, ValidationError)
    assert translated.error_code == "INVALID_INPUT"
    assert translated.user_message == "Please check the information you entered."
    assert isinstance(translate_error(ValueError("plain")), InternalError)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"exc_type": "ValueError"}, "exc_type must be an exception class"),
        ({"exc_type": int}, "exc_type must be an exception class"),
        ({"exc_type": ValidationError}, "is an OutlastError"),
        ({"error_code": " "}, "error_code must be a non-empty string"),
        ({"message": ""}, "message must be a non-empty string"),
        ({"error_class": ValueError}, "error_class must be an OutlastError subclass"),
        ({"error_class": InternalError}, "InternalError must accept"),
        ({"error_class": CircuitBreakerOpenError}, "CircuitBreakerOpenError must accept"),
    ],
)
def test_bad_registrations_are_configuration_errors(
    arguments: dict[str, object], message: str
) -> None:
    """A registration that could not translate correctly fails when made, not later."""
    call: dict[str, object] = {
        "exc_type": QuotaExceeded,
        "error_code": "X",
        "message": "Y.",
        "error_class": OutlastError,
    }
    call.update(arguments)
    with pytest.raises(ConfigurationError, match=message):
        register_user_message(**call)  # type: ignore[arg-type]


# --- user_facing_dict ----------------------------------------------------------------------


def test_user_facing_dict_has_code_and_message() -> None:
    """A mapped error becomes just its code and message."""
    assert user_facing_dict(translate_error(ConnectionError("x"))) == {
        "error_code": "SERVICE_UNAVAILABLE",
        "message": ServiceUnavailableError.default_user_message,
    }


def test_user_facing_dict_adds_the_reference_id_when_present() -> None:
    """An InternalError's reference id is part of the body."""
    error = InternalError(reference_id="ref123")
    assert user_facing_dict(error) == {
        "error_code": "INTERNAL_ERROR",
        "message": error.user_message,
        "reference_id": "ref123",
    }


def test_user_facing_dict_lists_field_errors_of_a_validation_error() -> None:
    """A ValidationError body names each failing field."""
    error = ValidationError(errors=[FieldError("name", "required", "is required")])
    assert user_facing_dict(error) == {
        "error_code": "VALIDATION_ERROR",
        "message": "name: is required",
        "errors": [{"field": "name", "code": "required", "message": "is required"}],
    }
