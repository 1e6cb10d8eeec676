"""The seed's examples (sections 1-5 and "Usage Examples"), run as written with imports
from ``outlast``. Names the seed leaves undefined (``database_operation``,
``payment_service`` ...) are small real functions defined here."""

from __future__ import annotations

from typing import Any

import pytest
from pymongo.errors import PyMongoError

from outlast import (
    BulkheadCapacityError,
    CircuitBreakerOpenError,
    ErrorContext,
    OutlastError,
    RetryConfig,
    RetryStrategy,
    ValidationError,
    get_bulkhead,
    get_circuit_breaker,
    handle_errors,
    retry_with_backoff,
    validate_input,
)
from outlast.config import (
    get_bulkhead_config,
    get_circuit_breaker_config,
    get_retry_config,
    get_timeout_config,
)
from outlast.testing import set_testing


class FamilyLimitExceeded(Exception):
    """An application error the seed marks non-retryable."""


class InsufficientFundsError(Exception):
    """An application error the seed marks non-retryable."""


async def test_section_1_decorator_runs_and_retries_pymongo_errors() -> None:
    """Section 1: the create_family decorator retries a PyMongoError and returns the result."""
    calls: list[str] = []

    @handle_errors(
        operation_name="create_family",
        circuit_breaker="family_operations",
        bulkhead="family_creation",
        retry_config=RetryConfig(
            max_attempts=3,
            strategy=RetryStrategy.EXPONENTIAL_BACKOFF,
            retryable_exceptions=[PyMongoError, ConnectionError],
            non_retryable_exceptions=[FamilyLimitExceeded, ValidationError],
        ),
        timeout=30.0,
        user_friendly_errors=True,
    )
    async def create_family(user_id: str, name: str | None = None) -> dict[str, Any]:
        calls.append(user_id)
        if len(calls) == 1:
            raise PyMongoError("primary stepped down")
        return {"owner": user_id, "name": name}

    with set_testing(True):
        assert await create_family("u1", name="Smiths") == {"owner": "u1", "name": "Smiths"}
    assert calls == ["u1", "u1"]


async def test_section_1_non_retryable_error_reaches_caller_as_user_friendly() -> None:
    """Section 1: FamilyLimitExceeded is not retried and leaves with a user message."""
    calls = 0

    @handle_errors(
        operation_name="create_family_limit",
        retry_config=RetryConfig(
            max_attempts=3,
            retryable_exceptions=[PyMongoError, ConnectionError],
            non_retryable_exceptions=[FamilyLimitExceeded, ValidationError],
        ),
        user_friendly_errors=True,
    )
    async def create_family(user_id: str) -> None:
        nonlocal calls
        calls += 1
        raise FamilyLimitExceeded("user u1 owns 5 families (limit 5) in db families@10.0.0.7")

    with pytest.raises(OutlastError) as caught:
        await create_family("u1")
    assert calls == 1
    assert isinstance(caught.value.__cause__, FamilyLimitExceeded)
    assert "10.0.0.7" not in caught.value.user_message


async def test_section_2_circuit_breaker_call_and_open_error() -> None:
    """Section 2: cb.call runs the operation; once open, CircuitBreakerOpenError is raised."""
    cb = get_circuit_breaker("database_service", failure_threshold=5, recovery_timeout=60)

    async def database_operation() -> str:
        return "rows"

    async def failing_operation() -> str:
        raise ConnectionError("db down")

    def fallback_response() -> str:
        return "cached rows"

    assert await cb.call(database_operation) == "rows"
    for _ in range(5):
        with pytest.raises(ConnectionError):
            await cb.call(failing_operation)
    try:
        result = await cb.call(database_operation)
    except CircuitBreakerOpenError:
        result = fallback_response()
    assert result == "cached rows"


async def test_section_3_bulkhead_acquire_release() -> None:
    """Section 3: acquire/release as the seed writes it, and the capacity error it raises."""
    bulkhead = get_bulkhead("database_connections", capacity=10)

    async def database_operation() -> str:
        return "rows"

    async def guarded() -> str:
        if await bulkhead.acquire(timeout=5.0):
            try:
                return await database_operation()
            finally:
                bulkhead.release()
        else:
            raise BulkheadCapacityError("Database connection pool at capacity")

    assert await guarded() == "rows"
    assert bulkhead.stats()["active_count"] == 0
    assert bulkhead.capacity == 10  # an explicit capacity wins over the seed table's 20


async def test_section_4_retry_with_backoff() -> None:
    """Section 4: retry_with_backoff retries ConnectionError and returns the result."""
    attempts = 0

    async def operation() -> str:
        nonlocal attempts
        attempts += 1
        if attempts < 3:
            raise ConnectionError("reset by peer")
        return "ok"

    config = RetryConfig(
        max_attempts=3,
        initial_delay=1.0,
        backoff_factor=2.0,
        strategy=RetryStrategy.EXPONENTIAL_BACKOFF,
        retryable_exceptions=[ConnectionError, TimeoutError],
        non_retryable_exceptions=[ValidationError],
    )
    error_context = ErrorContext(operation="fetch")
    with set_testing(True):
        result = await retry_with_backoff(operation, config, error_context)
    assert (result, attempts) == ("ok", 3)


def test_section_5_validate_input() -> None:
    """Section 5: the seed's schema validates good input and rejects bad input per field."""
    schema = {
        "name": {
            "required": True,
            "type": str,
            "min_length": 3,
            "max_length": 50,
            "pattern": r"^[a-zA-Z0-9_\s-]+$",
        },
        "email": {"required": True, "type": str, "validator": lambda x: "@" in x and "." in x},
    }
    input_data = {"name": "The Smiths", "email": "a@b.co"}
    context = ErrorContext(operation="validate_user_input")
    validated_data = validate_input(input_data, schema, context)
    assert validated_data == input_data
    with pytest.raises(ValidationError) as caught:
        validate_input({"name": "x!", "email": "nope"}, schema, context)
    assert {e.field for e in caught.value.errors} == {"name", "email"}


def test_configuration_lookups() -> None:
    """Configuration: the four getters answer for the seed's names."""
    assert get_circuit_breaker_config("database").failure_threshold == 5
    assert get_bulkhead_config("database_connections").capacity == 20
    assert get_retry_config("family_operation").max_attempts == 3
    assert get_timeout_config("database_query") > 0


async def test_basic_error_handling_example() -> None:
    """Usage: register_user's own ValidationError reaches the caller with a user message."""

    async def create_user_in_database(email: str, password: str) -> dict[str, str]:
        return {"email": email}

    @handle_errors(operation_name="user_registration", user_friendly_errors=True)
    async def register_user(email: str, password: str) -> dict[str, str]:
        if not email or "@" not in email:
            raise ValidationError("Invalid email address")
        return await create_user_in_database(email, password)

    assert await register_user("a@b.co", "pw") == {"email": "a@b.co"}
    with pytest.raises(ValidationError) as caught:
        await register_user("nope", "pw")
    assert caught.value.user_message == "Invalid email address"


async def test_advanced_payment_example_falls_back_to_queue() -> None:
    """Usage: process_payment's fallback receives the call's arguments and queues it."""
    queued: list[tuple[str, int]] = []

    class PaymentQueue:
        async def add(self, user_id: str, amount: int) -> None:
            queued.append((user_id, amount))

    class PaymentService:
        async def charge(self, user_id: str, amount: int) -> dict[str, str]:
            raise ConnectionError("gateway unreachable")

    payment_queue, payment_service = PaymentQueue(), PaymentService()

    async def payment_fallback_handler(user_id: str, amount: int) -> dict[str, str]:
        await payment_queue.add(user_id, amount)
        return {"status": "queued", "message": "Payment queued for processing"}

    @handle_errors(
        operation_name="process_payment",
        circuit_breaker="payment_service",
        bulkhead="payment_processing",
        retry_config=RetryConfig(
            max_attempts=3,
            strategy=RetryStrategy.EXPONENTIAL_BACKOFF,
            retryable_exceptions=[ConnectionError, TimeoutError],
            non_retryable_exceptions=[InsufficientFundsError],
        ),
        timeout=30.0,
        fallback_func=payment_fallback_handler,
        user_friendly_errors=True,
    )
    async def process_payment(user_id: str, amount: int) -> dict[str, str]:
        return await payment_service.charge(user_id, amount)

    with set_testing(True):
        result = await process_payment("u1", 500)
    assert result["status"] == "queued"
    assert queued == [("u1", 500)]
