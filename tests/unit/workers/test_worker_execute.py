"""The execution core's two drivers decide alike: ``execute`` (on an event loop) and
``execute_sync`` (sync operations without an idempotency claim, off the loop).

Each case runs the same sync, non-idempotent operation through both and compares the Step.
The store is a real RedisStore that these operations never touch (no claim to take).
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from _servers import free_port
from outlast.config import Jitter, RetryConfig
from outlast.errors import ConfigurationError, OperationTimeoutError
from outlast.resilience import get_circuit_breaker
from outlast.store import RedisStore
from outlast.testing import FakeClock
from outlast.workers.execution._decisions import STORE_DEFER, PoisonMessageError
from outlast.workers.execution._envelope import Envelope
from outlast.workers.execution._execute import execute
from outlast.workers.execution._execute_sync import execute_sync
from outlast.workers.execution._operations import OperationSpec, operation
from outlast.workers.execution._steps import Dead, Defer, Done, Retry, Step
from outlast.workers.execution._sync_claimer import SyncClaimer

RETRY = RetryConfig(
    max_attempts=3, initial_delay=0.5, jitter=Jitter.NONE, retryable_exceptions=[ConnectionError]
)


def spec(fn: Callable[..., Any], **options: Any) -> OperationSpec:
    """An unregistered spec for ``fn`` (the drivers need no registry)."""
    return OperationSpec(name="unit.op", fn=fn, queue="operations", retry=RETRY, **options)


def add(a: int, b: int) -> int:
    return a + b


def reset_connection(a: int, b: int) -> int:
    raise ConnectionError("reset")


def declined(a: int, b: int) -> int:
    raise ValueError("declined")


@pytest.fixture
async def store(redis_url: str) -> AsyncIterator[RedisStore]:
    opened = RedisStore(redis_url, namespace="unit-execute")
    yield opened
    await opened.close()


async def both(
    op: OperationSpec,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    envelope: Envelope,
    store: RedisStore,
) -> tuple[Step, Step]:
    """The Step of each driver for the same call, at the same fake time."""
    clock = FakeClock()
    on_loop = await execute(op, args, kwargs, envelope, store=store, clock=clock, claim_lease=9)
    off_loop = execute_sync(op, args, kwargs, envelope, clock=clock)
    return on_loop, off_loop


def shape(step: Step) -> tuple[Any, ...]:
    """A step as comparable data (errors by type and message)."""
    if isinstance(step, Done):
        return ("done", step.result)
    if isinstance(step, Defer):
        return ("defer", round(step.delay, 3), step.reason)
    if isinstance(step, Retry):
        return ("retry", step.delay, type(step.error), str(step.error))
    return ("dead", step.reason, type(step.error))


@pytest.mark.parametrize(
    ("fn", "args", "kwargs", "attempt", "expected"),
    [
        (add, (2, 3), {}, 1, ("done", 5)),
        (add, (2,), {"c": 1}, 1, ("dead", "poison", PoisonMessageError)),
        (reset_connection, (1, 2), {}, 1, ("retry", 0.5, ConnectionError, "reset")),
        (reset_connection, (1, 2), {}, 2, ("retry", 1.0, ConnectionError, "reset")),
        (reset_connection, (1, 2), {}, 3, ("dead", "exhausted", ConnectionError)),
        (declined, (1, 2), {}, 1, ("dead", "non_retryable", ValueError)),
    ],
)
async def test_both_drivers_take_the_same_step(
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    attempt: int,
    expected: tuple[Any, ...],
    store: RedisStore,
) -> None:
    """Success, poison, retry on schedule, exhaustion and a permanent error: same Step."""
    envelope = Envelope(key="k", attempt=attempt)
    on_loop, off_loop = await both(spec(fn), args, kwargs, envelope, store)
    assert shape(on_loop) == shape(off_loop) == expected


async def test_both_drivers_defer_before_not_before(store: RedisStore) -> None:
    """Work that arrives before its not_before defers for the rest of the wait, uncalled."""
    envelope = Envelope(key="k", not_before=FakeClock().time() + 4.0)
    on_loop, off_loop = await both(spec(reset_connection), (1, 2), {}, envelope, store)
    assert shape(on_loop) == shape(off_loop) == ("defer", 4.0, "not_before")


async def test_both_drivers_defer_while_the_breaker_is_open(store: RedisStore) -> None:
    """An open breaker defers for its retry_after and the operation is not called."""
    breaker = get_circuit_breaker("unit-execute", recovery_timeout=30.0, clock=FakeClock())
    breaker.force_open()
    op = spec(declined, circuit_breaker="unit-execute")
    on_loop, off_loop = await both(op, (1, 2), {}, Envelope(key="k"), store)
    assert shape(on_loop) == shape(off_loop) == ("defer", 30.0, "breaker_open")


async def async_add(a: int, b: int) -> int:
    return a + b


@pytest.mark.parametrize(
    "op", [spec(async_add), spec(add, idempotent=True)], ids=["async", "idempotent"]
)
def test_execute_sync_refuses_what_needs_the_loop(op: OperationSpec) -> None:
    """Async operations and idempotency claims need the event loop: execute_sync refuses."""
    with pytest.raises(TypeError, match="execute_sync"):
        execute_sync(op, (1, 2), {}, Envelope(key="k"), clock=FakeClock())


def test_a_sync_operation_times_out_off_the_loop() -> None:
    """A sync operation's timeout is enforced (the call waits in a timeout thread)."""
    release = threading.Event()

    def stuck(a: int, b: int) -> int:
        release.wait(5.0)
        return a + b

    try:
        step = execute_sync(
            spec(stuck, timeout=0.05), (1, 2), {}, Envelope(key="k"), clock=FakeClock()
        )
    finally:
        release.set()
    assert isinstance(step, Dead | Retry)
    assert isinstance(step.error, OperationTimeoutError)


async def test_errors_the_operation_ignores_leave_its_breaker_closed(store: RedisStore) -> None:
    """Errors in breaker_ignores count as neither outcome on both drivers: three rounds of
    them leave a two-failure breaker closed; two other failures then open it."""
    breaker = get_circuit_breaker("unit-ignores", failure_threshold=2, clock=FakeClock())
    op = spec(declined, circuit_breaker="unit-ignores", breaker_ignores=(ValueError,))
    for _ in range(3):
        await both(op, (1, 2), {}, Envelope(key="k"), store)
    assert (breaker.state, breaker.stats()["failure_count"]) == ("closed", 0)
    await both(
        spec(reset_connection, circuit_breaker="unit-ignores"), (1, 2), {}, Envelope(key="k"), store
    )
    assert breaker.state == "open"


def test_breaker_ignores_takes_exception_classes() -> None:
    """@operation refuses a breaker_ignores entry that is not an exception class, by name."""
    with pytest.raises(ConfigurationError, match=r"unit\.bad.*breaker_ignores.*'declined'"):
        operation("unit.bad", breaker_ignores=("declined",))(add)  # type: ignore[arg-type]


@pytest.mark.parametrize("driver", ["loop", "thread"])
async def test_idempotent_work_defers_while_the_store_does_not_answer(driver: str) -> None:
    """With no store answering (a closed port), idempotent work is deferred uncalled,
    spending no attempt, instead of running without its claim: on both drivers."""
    calls: list[int] = []

    def charge(a: int, b: int) -> int:
        calls.append(a)
        return a + b

    down = RedisStore(f"redis://127.0.0.1:{free_port()}/0", connect_timeout=0.5)
    op, envelope = spec(charge, idempotent=True), Envelope(key="k", attempt=2)
    if driver == "loop":
        step = await execute(op, (1, 2), {}, envelope, store=down, clock=FakeClock(), claim_lease=9)
    else:
        claimer = SyncClaimer(down.sync_claims(), lease=9)
        step = execute_sync(op, (1, 2), {}, envelope, clock=FakeClock(), claimer=claimer)
        claimer.close()
    await down.close()
    assert shape(step) == ("defer", STORE_DEFER, "store_unavailable")
    assert calls == []
