"""The error tree: one base, stable codes, safe user messages, and errors that survive
pickling (they cross process boundaries in Celery results)."""

from __future__ import annotations

import pickle

import pytest

from outlast import errors
from outlast.errors import (
    BulkheadCapacityError,
    CircuitBreakerOpenError,
    ConfigurationError,
    ErrorContext,
    FieldError,
    InternalError,
    OperationTimeoutError,
    OutlastError,
    ServiceUnavailableError,
    StoreUnavailableError,
    ValidationError,
)

SAMPLES: list[OutlastError] = [
    OutlastError("plain"),
    ValidationError(errors=[FieldError("name", "required", "is required")]),
    CircuitBreakerOpenError("database", 12.5),
    BulkheadCapacityError(name="family_creation", capacity=5),
    OperationTimeoutError(operation="query", timeout=2.0),
    ServiceUnavailableError("gateway down"),
    StoreUnavailableError(backend="redis", operation="add_dead_letter"),
    InternalError("boom"),
    ConfigurationError("capacity must be >= 1"),
]


def test_every_error_derives_from_outlast_error() -> None:
    """Every exception class in outlast.errors is an OutlastError."""
    classes = [
        value
        for value in vars(errors).values()
        if isinstance(value, type) and issubclass(value, BaseException)
    ]
    assert classes
    assert all(issubclass(cls, OutlastError) for cls in classes)


def test_the_docstring_draws_every_error_class() -> None:
    """The module docstring's tree names every error class, so it cannot drift."""
    doc = errors.__doc__ or ""
    names = [n for n in errors.__all__ if isinstance(getattr(errors, n), type)]
    exceptions = [n for n in names if issubclass(getattr(errors, n), BaseException)]
    assert len(exceptions) == 10
    assert [n for n in exceptions if n not in doc] == []


@pytest.mark.parametrize("error", SAMPLES, ids=lambda e: type(e).__name__)
def test_errors_pickle_with_their_attributes(error: OutlastError) -> None:
    """An error unpickles to the same type, message, code and attributes."""
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error)
    assert str(copy) == str(error)
    assert (copy.error_code, copy.user_message) == (error.error_code, error.user_message)
    assert vars(copy) == vars(error)


def test_timeout_error_is_a_builtin_timeout() -> None:
    """OperationTimeoutError is caught by `except TimeoutError`."""
    assert issubclass(OperationTimeoutError, TimeoutError)


def test_breaker_error_carries_name_and_retry_after() -> None:
    """CircuitBreakerOpenError says which breaker and when to come back."""
    error = CircuitBreakerOpenError("redis", 3.25)
    assert (error.name, error.retry_after) == ("redis", 3.25)
    assert "redis" in str(error)
    assert error.error_code == "CIRCUIT_BREAKER_OPEN"


def test_validation_error_lists_fields_in_its_message() -> None:
    """A ValidationError built from field errors names each field in its message."""
    error = ValidationError(
        errors=[
            FieldError("name", "min_length", "must be at least 3 characters long"),
            FieldError("email", "required", "is required"),
        ]
    )
    assert str(error) == "name: must be at least 3 characters long; email: is required"
    assert error.as_dict()["errors"][1] == {
        "field": "email",
        "code": "required",
        "message": "is required",
    }


def test_internal_error_user_message_carries_only_the_reference() -> None:
    """InternalError's user message has the reference id and nothing of the original."""
    error = InternalError("KeyError: 'password' at /srv/app/db.py:12", reference_id="abc123")
    assert "abc123" in error.user_message
    assert "/srv" not in error.user_message
    assert "password" not in error.user_message


def test_error_context_as_dict_copies_metadata() -> None:
    """ErrorContext.as_dict is a JSON-friendly copy that later changes do not touch."""
    context = ErrorContext(operation="op", user_id="u1", metadata={"attempt": 1})
    snapshot = context.as_dict()
    context.metadata["attempt"] = 2
    assert snapshot == {
        "operation": "op",
        "user_id": "u1",
        "request_id": None,
        "family_id": None,
        "metadata": {"attempt": 1},
    }
