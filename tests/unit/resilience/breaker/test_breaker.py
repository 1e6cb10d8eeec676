"""The local circuit breaker on a fake clock: the exact timing the real-time suite cannot
prove (retry_after to the second, recovery and slow calls at their boundaries, blocks timed
from entry), the decorators' metadata, listeners, and the per-name registry with the seed's
profiles.

What both scopes promise (the rules that open, probe and close a breaker, classification,
cancellation, drivers, events, reset) is proven once, for the local and the cluster breaker,
in tests/integration/resilience/breaker/test_breaker_both_scopes.py.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Iterator
from typing import Any

import pytest

from outlast.config import BreakerProfile, CircuitBreakerConfig, WindowType
from outlast.errors import CircuitBreakerOpenError, ConfigurationError
from outlast.resilience._events import BreakerTransition
from outlast.resilience.breaker._breaker import CircuitBreaker
from outlast.resilience.breaker._breaker_registry import (
    circuit_breakers,
    get_circuit_breaker,
    reset_circuit_breakers,
)
from outlast.testing import FakeClock


class Boom(Exception):
    """The failure the protected functions raise."""


def explode() -> str:
    raise Boom("down")


def answer() -> str:
    return "ok"


def make(clock: FakeClock, **settings: Any) -> CircuitBreaker:
    """A breaker called "svc" on ``clock`` with the given config fields."""
    return CircuitBreaker("svc", config=CircuitBreakerConfig(**settings), clock=clock)


def fail(breaker: CircuitBreaker, times: int = 1) -> None:
    for _ in range(times):
        with pytest.raises(Boom):
            breaker.call_sync(explode)


def succeed(breaker: CircuitBreaker, times: int = 1) -> None:
    for _ in range(times):
        assert breaker.call_sync(answer) == "ok"


def rejection(breaker: CircuitBreaker) -> CircuitBreakerOpenError:
    """The error an admission attempt raises (the protected function must not run)."""
    with pytest.raises(CircuitBreakerOpenError) as caught:
        breaker.call_sync(pytest.fail, "the protected function ran while the breaker was open")
    return caught.value


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(start=1000.0)


@pytest.fixture(autouse=True)
def _fresh_registry() -> Iterator[None]:
    reset_circuit_breakers()
    yield
    reset_circuit_breakers()


# -- the state cycle, to the exact second -------------------------------------------------


def test_open_rejects_with_name_and_a_shrinking_retry_after(clock: FakeClock) -> None:
    """Open rejects without calling; ``retry_after`` counts down with the clock."""
    breaker = make(clock, failure_threshold=1, recovery_timeout=30.0)
    fail(breaker)
    error = rejection(breaker)
    assert error.name == "svc"
    assert error.retry_after == pytest.approx(30.0)
    clock.advance(10.0)
    assert rejection(breaker).retry_after == pytest.approx(20.0)
    assert breaker.retry_after == pytest.approx(20.0)
    clock.advance(19.5)
    assert rejection(breaker).retry_after == pytest.approx(0.5)


def test_retry_after_is_zero_unless_open(clock: FakeClock) -> None:
    """A closed breaker, or an open one whose recovery time has passed, says 0.0."""
    breaker = make(clock, failure_threshold=1, recovery_timeout=5.0)
    assert breaker.retry_after == 0.0
    fail(breaker)
    clock.advance(5.0)
    assert breaker.state == "open"  # it moves only when a call asks
    assert breaker.retry_after == 0.0


def test_a_failed_probe_reopens_for_exactly_recovery_timeout(clock: FakeClock) -> None:
    """A failed probe reopens it: still rejecting 29.9 s later, admitting at exactly 30 s."""
    breaker = make(clock, failure_threshold=1, recovery_timeout=30.0, half_open_max_calls=2)
    fail(breaker)
    clock.advance(45.0)
    fail(breaker)
    assert breaker.state == "open"
    assert rejection(breaker).retry_after == pytest.approx(30.0)
    clock.advance(29.9)
    rejection(breaker)
    clock.advance(0.1)
    succeed(breaker)
    assert breaker.state == "half_open"


# -- the rate rules over sliding windows ----------------------------------------------------


def test_the_time_window_forgets_old_calls(clock: FakeClock) -> None:
    """Failures older than the time window no longer count towards the rate."""
    breaker = make(
        clock,
        failure_threshold=100,
        failure_rate_threshold=50,
        window_type=WindowType.TIME_BASED,
        window_size=10,
        minimum_calls=4,
    )
    fail(breaker, 3)
    clock.advance(20.0)
    succeed(breaker, 3)
    fail(breaker)
    # Counting the forgotten three, 4 of 7 failed (57 %); within the window 1 of 4 did.
    assert breaker.state == "closed"
    assert breaker.stats()["failure_rate"] == pytest.approx(25.0)


def slow_call(clock: FakeClock, seconds: float) -> str:
    clock.advance(seconds)
    return "slow"


def test_slow_call_rate_counts_only_calls_longer_than_the_limit(clock: FakeClock) -> None:
    """Calls over slow_call_duration on the clock trip the rule; a call of exactly it is not."""
    breaker = make(
        clock,
        slow_call_rate_threshold=50,
        slow_call_duration=2.0,
        window_size=10,
        minimum_calls=4,
    )
    breaker.call_sync(slow_call, clock, 2.5)
    breaker.call_sync(slow_call, clock, 2.0)  # exactly the limit: not slow
    breaker.call_sync(slow_call, clock, 0.1)
    assert breaker.state == "closed"
    assert breaker.stats()["slow_call_rate"] == pytest.approx(100 / 3)
    breaker.call_sync(slow_call, clock, 3.0)
    assert breaker.state == "open"  # 2 of 4 slow


def test_slow_failures_count_as_slow_and_failed(clock: FakeClock) -> None:
    """A failure that also took too long counts towards both rates."""
    breaker = make(
        clock,
        failure_threshold=100,
        failure_rate_threshold=90,
        slow_call_rate_threshold=90,
        slow_call_duration=1.0,
        minimum_calls=10,
    )

    def slow_failure() -> None:
        clock.advance(5.0)
        raise Boom("slow and down")

    with pytest.raises(Boom):
        breaker.call_sync(slow_failure)
    stats = breaker.stats()
    assert stats["failure_rate"] == 100.0
    assert stats["slow_call_rate"] == 100.0


def test_stats_have_rates_only_when_a_window_is_kept(clock: FakeClock) -> None:
    """Without a rate rule no window is kept and stats carry no rate fields."""
    assert "failure_rate" not in make(clock).stats()
    assert "slow_call_rate" in make(clock, slow_call_rate_threshold=80).stats()


# -- drivers: call, call_sync, decorator, context managers ----------------------------------


async def test_async_call_runs_sync_and_async_functions(clock: FakeClock) -> None:
    """``await cb.call(fn, ...)`` passes arguments and returns the result for both kinds."""
    breaker = make(clock)

    async def add(a: int, *, b: int) -> int:
        await asyncio.sleep(0)
        return a + b

    def multiply(a: int, *, b: int) -> int:
        return a * b

    assert await breaker.call(add, 2, b=3) == 5
    assert await breaker.call(multiply, 2, b=3) == 6
    assert breaker.stats()["success_count"] == 2


def test_decorating_a_sync_function(clock: FakeClock) -> None:
    """``@breaker`` keeps the function's name and ``__wrapped__`` and guards each call."""
    breaker = make(clock, failure_threshold=1)

    @breaker
    def fetch(key: str) -> str:
        """Fetch a key."""
        if key == "bad":
            raise Boom(key)
        return key.upper()

    assert fetch.__name__ == "fetch"
    assert fetch.__doc__ == "Fetch a key."
    assert inspect.unwrap(fetch) is not fetch
    assert fetch("a") == "A"
    with pytest.raises(Boom):
        fetch("bad")
    with pytest.raises(CircuitBreakerOpenError):
        fetch("a")


async def test_decorating_an_async_function(clock: FakeClock) -> None:
    """``@breaker`` on a coroutine function gives a coroutine function that is guarded."""
    breaker = make(clock, failure_threshold=1)

    @breaker
    async def fetch(key: str) -> str:
        if key == "bad":
            raise Boom(key)
        return key.upper()

    assert inspect.iscoroutinefunction(fetch)
    assert fetch.__name__ == "fetch"
    assert fetch.__wrapped__.__name__ == "fetch"  # type: ignore[attr-defined]
    assert await fetch("a") == "A"
    with pytest.raises(Boom):
        await fetch("bad")
    with pytest.raises(CircuitBreakerOpenError):
        await fetch("a")


async def test_async_context_manager_records_the_block(clock: FakeClock) -> None:
    """``async with breaker:`` records the block's outcome, timed from entry."""
    breaker = make(clock, slow_call_rate_threshold=50, slow_call_duration=1.0, minimum_calls=1)
    async with breaker:
        await clock.asleep(0.5)
    assert breaker.state == "closed"
    async with breaker:
        await clock.asleep(1.5)
    assert breaker.state == "open"  # 1 of 2 blocks was slow
    with pytest.raises(Boom):
        async with make(clock, failure_threshold=1) as other:
            raise Boom("in block")
    assert other.state == "open"


def test_nested_context_managers_keep_their_own_start_times(clock: FakeClock) -> None:
    """Two breakers nested in ``with`` blocks each time their own block."""
    outer = make(clock, slow_call_rate_threshold=100, slow_call_duration=1.0, minimum_calls=1)
    inner = make(clock, slow_call_rate_threshold=100, slow_call_duration=1.0, minimum_calls=1)
    with outer:
        clock.advance(0.9)
        with inner:
            clock.advance(0.5)
    assert (outer.state, inner.state) == ("open", "closed")


# -- listeners, events, control ---------------------------------------------------------------


def test_rate_rules_name_their_reason(clock: FakeClock) -> None:
    """The transition says which rule opened the breaker."""
    reasons: list[str] = []
    breaker = make(clock, failure_threshold=100, failure_rate_threshold=50, minimum_calls=2)
    breaker.add_listener(lambda event: reasons.append(event.reason))
    succeed(breaker)
    fail(breaker)
    assert reasons == ["failure_rate"]


def test_a_failing_listener_breaks_nothing(clock: FakeClock) -> None:
    """A listener that raises is logged; the call and the other listeners go on."""
    breaker = make(clock, failure_threshold=1)
    seen: list[str] = []

    def broken(event: BreakerTransition) -> None:
        raise RuntimeError("listener bug")

    breaker.add_listener(broken)
    breaker.add_listener(lambda event: seen.append(event.new_state))
    fail(breaker)
    assert seen == ["open"]


def test_removed_listeners_hear_nothing(clock: FakeClock) -> None:
    """The function ``add_listener`` returns unsubscribes that listener."""
    breaker = make(clock, failure_threshold=1)
    seen: list[BreakerTransition] = []
    remove = breaker.add_listener(seen.append)
    remove()
    fail(breaker)
    assert seen == []


def test_force_open_rejects_for_exactly_recovery_timeout(clock: FakeClock) -> None:
    """``force_open`` rejects with retry_after 12.0 and admits again at exactly 12 s."""
    breaker = make(clock, recovery_timeout=12.0)
    breaker.force_open()
    assert breaker.state == "open"
    assert rejection(breaker).retry_after == pytest.approx(12.0)
    clock.advance(12.0)
    succeed(breaker)


def test_stats_look_like_the_seed_health_json(clock: FakeClock) -> None:
    """stats() carries the seed's health fields plus totals, rejections and retry_after."""
    breaker = make(clock, failure_threshold=2, recovery_timeout=30.0)
    succeed(breaker, 150)
    assert {k: breaker.stats()[k] for k in ("state", "failure_count", "success_count")} == {
        "state": "closed",
        "failure_count": 0,
        "success_count": 150,
    }
    fail(breaker, 2)
    rejection(breaker)
    clock.advance(10.0)
    rejection(breaker)
    assert breaker.stats() == {
        "name": "svc",
        "state": "open",
        "failure_count": 2,
        "success_count": 150,
        "total_failures": 2,
        "rejected_count": 2,
        "retry_after": pytest.approx(20.0),
    }


# -- the registry --------------------------------------------------------------------------------


def test_one_breaker_per_name() -> None:
    """``get_circuit_breaker`` returns the same instance for a name, whatever the arguments."""
    first = get_circuit_breaker("database_service", failure_threshold=5, recovery_timeout=60)
    assert get_circuit_breaker("database_service") is first
    assert get_circuit_breaker("database_service", failure_threshold=1) is first
    assert first.config.failure_threshold == 5
    assert circuit_breakers() == {"database_service": first}


def test_seed_names_pick_up_their_profile() -> None:
    """A seed-table name gets that row: "redis" opens after 3, recovers after 30 s, 3 probes."""
    config = get_circuit_breaker("redis").config
    assert (config.failure_threshold, config.recovery_timeout, config.half_open_max_calls) == (
        3,
        30.0,
        3,
    )
    assert get_circuit_breaker("email").config.half_open_max_calls == 5
    assert get_circuit_breaker("database").config.recovery_timeout == 60.0


def test_unknown_names_get_the_default_profile() -> None:
    """A name outside the seed table gets the default breaker config."""
    assert get_circuit_breaker("payment_service").config == CircuitBreakerConfig()


def test_explicit_arguments_override_the_profile() -> None:
    """Positional thresholds and keyword config fields are applied over the seed row."""
    config = get_circuit_breaker(
        "redis", 7, 15.0, failure_rate_threshold=40.0, profile="aggressive"
    ).config
    assert (config.failure_threshold, config.recovery_timeout) == (7, 15.0)
    assert config.failure_rate_threshold == 40.0
    assert config.profile is BreakerProfile.AGGRESSIVE
    assert config.half_open_max_calls == 5


def test_a_whole_config_replaces_the_profile() -> None:
    """``config=`` replaces the seed row; explicit thresholds still apply on top."""
    given = CircuitBreakerConfig(failure_threshold=9, half_open_max_calls=2)
    assert get_circuit_breaker("redis", config=given).config is given
    other = get_circuit_breaker("email", recovery_timeout=1.0, config=given).config
    assert (other.failure_threshold, other.recovery_timeout, other.half_open_max_calls) == (
        9,
        1.0,
        2,
    )


def test_registry_breakers_use_the_given_clock(clock: FakeClock) -> None:
    """The clock passed on first creation drives the breaker's recovery timing."""
    breaker = get_circuit_breaker("clocked", failure_threshold=1, recovery_timeout=5, clock=clock)
    fail(breaker)
    clock.advance(5.0)
    succeed(breaker)
    assert breaker.state == "closed"


def test_unknown_settings_are_refused() -> None:
    """A keyword that is no breaker setting raises ConfigurationError naming it."""
    with pytest.raises(ConfigurationError, match="failure_treshold"):
        get_circuit_breaker("typo", failure_treshold=3)
    assert "typo" not in circuit_breakers()


def test_reset_circuit_breakers_forgets_every_name() -> None:
    """After ``reset_circuit_breakers`` a name gets a fresh breaker."""
    first = get_circuit_breaker("database")
    reset_circuit_breakers()
    assert circuit_breakers() == {}
    assert get_circuit_breaker("database") is not first
