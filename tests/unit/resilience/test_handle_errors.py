"""``handle_errors`` composes validation, bulkhead, breaker, retry, timeout, fallback and
user-friendly errors for sync and async functions."""

from __future__ import annotations

import asyncio
import inspect
import threading
import time
import unicodedata
from collections.abc import Iterator

import pytest

from outlast import (
    Bulkhead,
    CircuitBreaker,
    CircuitBreakerOpenError,
    RetryConfig,
    RetryStrategy,
    ValidationError,
    get_circuit_breaker,
    handle_errors,
)
from outlast.config import BulkheadConfig, CircuitBreakerConfig, Jitter
from outlast.errors import (
    BulkheadCapacityError,
    ConfigurationError,
    InternalError,
    OperationTimeoutError,
    OutlastError,
    ServiceUnavailableError,
)
from outlast.resilience import (
    CallFailed,
    FallbackUsed,
    ResilienceEvent,
    RetryScheduled,
    add_listener,
)
from outlast.testing import FakeClock


def exact(attempts: int = 3, **extra: object) -> RetryConfig:
    """An exponential schedule 1, 2, 4 ... without jitter, retrying ConnectionError."""
    return RetryConfig(
        max_attempts=attempts,
        initial_delay=1.0,
        backoff_factor=2.0,
        strategy=RetryStrategy.EXPONENTIAL_BACKOFF,
        jitter=Jitter.NONE,
        retryable_exceptions=[ConnectionError, TimeoutError],
        **extra,  # type: ignore[arg-type]
    )


@pytest.fixture
def events() -> Iterator[list[ResilienceEvent]]:
    seen: list[ResilienceEvent] = []
    unsubscribe = add_listener(seen.append)
    yield seen
    unsubscribe()


def test_sync_success_keeps_name_signature_and_wrapped() -> None:
    """A decorated sync function returns its value and keeps its metadata."""

    @handle_errors(operation_name="add")
    def add(a: int, b: int = 2) -> int:
        """Add two numbers."""
        return a + b

    assert add(1) == 3
    assert add.__name__ == "add"
    assert add.__doc__ == "Add two numbers."
    assert str(inspect.signature(add)) == "(a: 'int', b: 'int' = 2) -> 'int'"
    assert add.__wrapped__ is not None  # type: ignore[attr-defined]


async def test_async_function_stays_a_coroutine_function() -> None:
    """A decorated async function is still a coroutine function and returns its value."""

    @handle_errors(operation_name="double")
    async def double(x: int) -> int:
        return x * 2

    assert inspect.iscoroutinefunction(double)
    assert await double(21) == 42


def test_sync_retry_follows_the_exact_schedule() -> None:
    """Sync retries sleep 1 s then 2 s on the injected clock and return the third result."""
    clock = FakeClock()
    outcomes: list[str | Exception] = [ConnectionError("a"), ConnectionError("b"), "done"]

    @handle_errors(operation_name="flaky", retry_config=exact(), clock=clock)
    def flaky() -> str:
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    assert flaky() == "done"
    assert clock.sleeps == [1.0, 2.0]


async def test_async_retry_follows_the_exact_schedule(events: list[ResilienceEvent]) -> None:
    """Async retries sleep 1, 2 and then give up with the original error, publishing events."""
    clock = FakeClock()

    @handle_errors(operation_name="down", retry_config=exact(), clock=clock)
    async def down() -> None:
        raise ConnectionError("refused")

    with pytest.raises(ConnectionError, match="refused"):
        await down()
    assert clock.sleeps == [1.0, 2.0]
    assert [e.attempt for e in events if isinstance(e, CallFailed)] == [1, 2, 3]
    assert [e.delay for e in events if isinstance(e, RetryScheduled)] == [1.0, 2.0]


async def test_each_failed_attempt_counts_and_an_open_breaker_stops_retries() -> None:
    """Attempts count against the breaker; once it opens the retry loop stops at once."""
    clock = FakeClock()
    breaker = CircuitBreaker(
        "retry-stop", config=CircuitBreakerConfig(failure_threshold=2), clock=clock
    )
    calls = 0

    @handle_errors(
        operation_name="guarded", circuit_breaker=breaker, retry_config=exact(5), clock=clock
    )
    async def guarded() -> None:
        nonlocal calls
        calls += 1
        raise ConnectionError("down")

    with pytest.raises(CircuitBreakerOpenError) as caught:
        await guarded()
    assert calls == 2
    assert caught.value.name == "retry-stop"
    assert breaker.state == "open"


def test_breaker_name_resolves_the_seed_profile() -> None:
    """circuit_breaker="redis" uses the seed's Redis row: it opens after 3 failures."""

    @handle_errors(operation_name="cache", circuit_breaker="redis")
    def cache() -> None:
        raise ConnectionError("redis down")

    for _ in range(3):
        with pytest.raises(ConnectionError):
            cache()
    with pytest.raises(CircuitBreakerOpenError):
        cache()
    assert get_circuit_breaker("redis").state == "open"


def test_retry_profile_name_resolves_attempts() -> None:
    """retry_config="sbd_transaction" means two attempts, as in the seed's table."""
    clock = FakeClock()
    calls = 0

    @handle_errors(operation_name="sbd", retry_config="sbd_transaction", clock=clock)
    def sbd() -> None:
        nonlocal calls
        calls += 1
        raise ConnectionError("down")

    with pytest.raises(ConnectionError):
        sbd()
    assert calls == 2
    assert len(clock.sleeps) == 1


def test_full_bulkhead_rejects_with_capacity_error() -> None:
    """A call that finds the bulkhead full (and may not wait) raises BulkheadCapacityError."""
    bulkhead = Bulkhead("tiny", config=BulkheadConfig(capacity=1, timeout=0.0))

    @handle_errors(operation_name="work", bulkhead=bulkhead)
    def work() -> str:
        return "ok"

    assert bulkhead.try_acquire()
    with pytest.raises(BulkheadCapacityError) as caught:
        work()
    assert (caught.value.name, caught.value.capacity) == ("tiny", 1)
    bulkhead.release()
    assert work() == "ok"
    assert bulkhead.active_count == 0


async def test_async_timeout_cancels_the_attempt_and_retries() -> None:
    """A slow coroutine is cancelled at the timeout; TimeoutError is retried, then raised."""
    clock = FakeClock()
    cancelled = 0

    @handle_errors(operation_name="slow", timeout=0.02, retry_config=exact(2), clock=clock)
    async def slow() -> None:
        nonlocal cancelled
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled += 1
            raise

    with pytest.raises(OperationTimeoutError):
        await slow()
    assert cancelled == 2


def test_sync_timeout_keeps_the_permit_until_the_call_really_ends() -> None:
    """A timed-out sync call raises at once but holds its bulkhead permit until it finishes."""
    bulkhead = Bulkhead("sync-timeout", config=BulkheadConfig(capacity=1, timeout=0.0))
    finish = threading.Event()

    @handle_errors(operation_name="stuck", bulkhead=bulkhead, timeout=0.02)
    def stuck() -> str:
        finish.wait(5)
        return "late"

    with pytest.raises(OperationTimeoutError):
        stuck()
    assert bulkhead.active_count == 1  # the abandoned call is still running
    finish.set()
    deadline = time.monotonic() + 2
    while bulkhead.active_count and time.monotonic() < deadline:
        time.sleep(0.005)
    assert bulkhead.active_count == 0


async def test_fallback_receives_the_call_arguments(events: list[ResilienceEvent]) -> None:
    """After the retries give up, the fallback answers with the call's own arguments."""

    async def queue_it(user_id: str, amount: int) -> dict[str, object]:
        return {"queued": (user_id, amount)}

    @handle_errors(operation_name="pay", fallback_func=queue_it)
    async def pay(user_id: str, amount: int) -> dict[str, object]:
        raise ConnectionError("gateway down")

    assert await pay("u1", amount=7) == {"queued": ("u1", 7)}
    assert any(isinstance(e, FallbackUsed) and e.operation == "pay" for e in events)


def test_fallback_does_not_answer_for_bad_input() -> None:
    """A ValidationError passes the fallback by: bad input is the caller's to fix."""

    @handle_errors(operation_name="check", fallback_func=lambda value: "fallback")
    def check(value: str) -> str:
        raise ValidationError("value is bad")

    with pytest.raises(ValidationError):
        check("x")


def test_async_fallback_for_a_sync_function_is_refused() -> None:
    """An async fallback on a sync function is a ConfigurationError at decoration time."""

    async def later() -> None:
        return None

    with pytest.raises(ConfigurationError, match="async"):

        @handle_errors(operation_name="sync_op", fallback_func=later)
        def sync_op() -> None:
            return None


def test_user_friendly_translation_chains_the_original() -> None:
    """A ConnectionError leaves as ServiceUnavailableError without internals, chained."""

    @handle_errors(operation_name="fetch", user_friendly_errors=True)
    def fetch() -> None:
        raise ConnectionError("redis://admin:hunter2@10.1.2.3:6379 refused")

    with pytest.raises(ServiceUnavailableError) as caught:
        fetch()
    assert isinstance(caught.value.__cause__, ConnectionError)
    assert "10.1.2.3" not in caught.value.user_message
    assert "hunter2" not in caught.value.user_message


async def test_unknown_error_gets_a_reference_id() -> None:
    """An unexpected error leaves as InternalError whose message carries a reference id."""

    @handle_errors(operation_name="boom", user_friendly_errors=True)
    async def boom() -> None:
        raise KeyError("SELECT * FROM users WHERE id = 1")

    with pytest.raises(InternalError) as caught:
        await boom()
    assert caught.value.reference_id in caught.value.user_message
    assert "SELECT" not in caught.value.user_message
    assert isinstance(caught.value, OutlastError)


def test_outlast_errors_pass_through_translation_unchanged() -> None:
    """An OutlastError already carries a user message and is raised as it is."""
    original = ValidationError("name is required")

    @handle_errors(operation_name="same", user_friendly_errors=True)
    def same() -> None:
        raise original

    with pytest.raises(ValidationError) as caught:
        same()
    assert caught.value is original


def test_input_schema_rejects_every_bad_field() -> None:
    """input_schema validates the bound arguments and names every failing field."""
    schema = {
        "name": {"required": True, "type": str, "min_length": 3},
        "age": {"type": int, "min": 0},
    }

    @handle_errors(operation_name="register", input_schema=schema)
    def register(name: str, age: int = 0) -> tuple[str, int]:
        return name, age

    with pytest.raises(ValidationError) as caught:
        register("ab", age=-1)
    assert sorted(e.field for e in caught.value.errors) == ["age", "name"]


def test_input_schema_passes_sanitized_values_on() -> None:
    """Validated arguments reach the function NFC-normalized."""
    decomposed = "Rene\u0301e"

    @handle_errors(operation_name="greet", input_schema={"name": {"type": str}})
    def greet(name: str) -> str:
        return name

    assert greet(decomposed) == unicodedata.normalize("NFC", decomposed)
    assert greet(decomposed) != decomposed


async def test_cancellation_is_never_retried_nor_translated() -> None:
    """Cancelling a task under handle_errors cancels it: no retry, no fallback, no wrapping."""
    started = asyncio.Event()
    calls = 0

    @handle_errors(
        operation_name="cancel_me",
        retry_config=RetryConfig(max_attempts=5, retryable_exceptions=[BaseException]),
        fallback_func=lambda: "fallback",
        user_friendly_errors=True,
    )
    async def cancel_me() -> str:
        nonlocal calls
        calls += 1
        started.set()
        await asyncio.sleep(10)
        return "never"

    task = asyncio.create_task(cancel_me())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert calls == 1


def test_a_single_attempt_still_publishes_its_failure(events: list[ResilienceEvent]) -> None:
    """Without a retry_config the call runs once, and its failure is published."""

    @handle_errors(operation_name="once")
    def once() -> None:
        raise ConnectionError("down")

    with pytest.raises(ConnectionError):
        once()
    failed = [e for e in events if isinstance(e, CallFailed)]
    assert [(e.operation, e.attempt) for e in failed] == [("once", 1)]
    assert not [e for e in events if isinstance(e, RetryScheduled)]
