"""The circuit breaker: transitions on a fake clock, rate rules, classification, drivers,
listeners, and the per-name registry with the seed's profiles."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Iterator
from typing import Any

import pytest

from outlast.config import BreakerProfile, CircuitBreakerConfig, WindowType
from outlast.errors import CircuitBreakerOpenError, ConfigurationError
from outlast.resilience import _events
from outlast.resilience._events import BreakerTransition, ResilienceEvent
from outlast.resilience.breaker._breaker import CircuitBreaker, CircuitState
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


# -- the consecutive-failure rule and the state cycle --------------------------------------


def test_consecutive_failures_open_the_breaker(clock: FakeClock) -> None:
    """``failure_threshold`` consecutive failures open it; one fewer leaves it closed."""
    breaker = make(clock, failure_threshold=3)
    fail(breaker, 2)
    assert breaker.state == "closed"
    fail(breaker)
    assert breaker.state == "open"
    assert breaker.state is CircuitState.OPEN


def test_a_success_resets_the_consecutive_count(clock: FakeClock) -> None:
    """Failures separated by a success never add up to the threshold."""
    breaker = make(clock, failure_threshold=3)
    fail(breaker, 2)
    succeed(breaker)
    fail(breaker, 2)
    assert breaker.state == "closed"
    assert breaker.stats()["failure_count"] == 2


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


def test_after_recovery_half_open_admits_exactly_max_probes(clock: FakeClock) -> None:
    """Once recovery_timeout passes, exactly half_open_max_calls probes run; the next waits."""
    breaker = make(clock, failure_threshold=1, recovery_timeout=30.0, half_open_max_calls=3)
    fail(breaker)
    clock.advance(30.0)
    starts = [breaker.before_call() for _ in range(3)]
    assert breaker.state == "half_open"
    assert starts == [clock.monotonic()] * 3
    error = rejection(breaker)
    assert error.retry_after > 0
    assert breaker.retry_after == 0.0  # not open: probes are deciding


def test_a_failed_probe_reopens_for_a_full_recovery_timeout(clock: FakeClock) -> None:
    """One probe failure reopens the breaker, counting recovery_timeout from that failure."""
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


def test_all_probes_succeeding_closes_and_resets_counters(clock: FakeClock) -> None:
    """When every probe succeeds the breaker closes and the failure count starts over."""
    breaker = make(clock, failure_threshold=2, recovery_timeout=10.0, half_open_max_calls=2)
    fail(breaker, 2)
    clock.advance(10.0)
    succeed(breaker)
    assert breaker.state == "half_open"
    succeed(breaker)
    assert breaker.state == "closed"
    assert breaker.stats()["failure_count"] == 0
    fail(breaker)
    assert breaker.state == "closed"
    fail(breaker)
    assert breaker.state == "open"


def test_a_call_admitted_before_opening_is_no_probe(clock: FakeClock) -> None:
    """A call admitted while closed that ends in half-open is no probe and closes nothing."""
    breaker = make(clock, failure_threshold=1, recovery_timeout=10.0, half_open_max_calls=1)
    straggler = breaker.before_call()
    fail(breaker)
    clock.advance(10.0)
    probe = breaker.before_call()
    breaker.on_success(straggler)
    assert breaker.state == "half_open"
    breaker.on_success(probe)
    assert breaker.state == "closed"


# -- the rate rules over sliding windows ----------------------------------------------------


def test_failure_rate_over_a_count_window(clock: FakeClock) -> None:
    """Once minimum_calls are in, a failure share at the threshold opens it (count window)."""
    breaker = make(
        clock, failure_threshold=100, failure_rate_threshold=50, window_size=10, minimum_calls=4
    )
    fail(breaker)
    succeed(breaker)
    fail(breaker)
    assert breaker.state == "closed"  # 3 calls: below minimum_calls
    succeed(breaker)
    assert breaker.state == "open"  # 4 calls, 50 %
    assert breaker.stats()["failure_rate"] is not None


def test_failure_rate_below_threshold_stays_closed(clock: FakeClock) -> None:
    """A failure share below the threshold leaves the breaker closed."""
    breaker = make(
        clock, failure_threshold=100, failure_rate_threshold=50, window_size=3, minimum_calls=3
    )
    for _ in range(5):
        fail(breaker)
        succeed(breaker, 2)
    assert breaker.state == "closed"
    assert breaker.stats()["failure_rate"] == pytest.approx(100 / 3)


def test_count_window_minimum_is_capped_at_the_window_size(clock: FakeClock) -> None:
    """A minimum_calls above the window size cannot switch the rate rule off."""
    breaker = make(
        clock, failure_threshold=100, failure_rate_threshold=50, window_size=4, minimum_calls=50
    )
    fail(breaker)
    succeed(breaker)
    fail(breaker)
    assert breaker.state == "closed"
    fail(breaker)
    assert breaker.state == "open"


def test_failure_rate_over_a_time_window(clock: FakeClock) -> None:
    """A time window applies the failure-rate rule to the calls of its last seconds."""
    breaker = make(
        clock,
        failure_threshold=100,
        failure_rate_threshold=50,
        window_type=WindowType.TIME_BASED,
        window_size=10,
        minimum_calls=4,
    )
    fail(breaker, 2)
    clock.advance(3.0)
    succeed(breaker)
    assert breaker.state == "closed"
    fail(breaker)
    assert breaker.state == "open"  # 4 calls within 10 s, 75 % failed


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


def test_slow_call_rate_opens_the_breaker(clock: FakeClock) -> None:
    """Calls longer than slow_call_duration (timed on the clock) trip the slow-call rule."""
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


# -- what counts as a failure ----------------------------------------------------------------


def test_ignored_and_unrecorded_errors_count_as_nothing(clock: FakeClock) -> None:
    """Unrecorded, ignored and interrupt errors propagate but count as nothing."""
    breaker = make(
        clock,
        failure_threshold=1,
        recorded_exceptions=(OSError,),
        ignored_exceptions=(FileNotFoundError,),
    )

    def raise_(error: BaseException) -> None:
        raise error

    with pytest.raises(ValueError, match="not recorded"):
        breaker.call_sync(raise_, ValueError("not recorded"))
    with pytest.raises(FileNotFoundError):
        breaker.call_sync(raise_, FileNotFoundError("ignored"))
    with pytest.raises(KeyboardInterrupt):
        breaker.call_sync(raise_, KeyboardInterrupt())
    stats = breaker.stats()
    assert (stats["state"], stats["total_failures"], stats["success_count"]) == ("closed", 0, 0)
    with pytest.raises(ConnectionError):
        breaker.call_sync(raise_, ConnectionError("recorded"))
    assert breaker.state == "open"


def test_an_ignored_error_frees_the_half_open_probe_slot(clock: FakeClock) -> None:
    """A probe ending in an ignored error gives its slot back for another probe."""
    breaker = make(
        clock, failure_threshold=1, half_open_max_calls=1, ignored_exceptions=(KeyError,)
    )
    lookup: dict[str, int] = {}
    fail(breaker)
    clock.advance(60.0)
    with pytest.raises(KeyError):
        breaker.call_sync(lookup.__getitem__, "missing")
    assert breaker.state == "half_open"
    succeed(breaker)
    assert breaker.state == "closed"


async def test_cancellation_counts_as_nothing_and_frees_the_probe(clock: FakeClock) -> None:
    """A cancelled probe is no failure of the service: its slot goes to the next caller."""
    breaker = make(clock, failure_threshold=1, half_open_max_calls=1)
    fail(breaker)
    clock.advance(60.0)
    started = asyncio.Event()

    async def hang() -> None:
        started.set()
        await asyncio.Event().wait()

    task = asyncio.create_task(breaker.call(hang))
    await started.wait()
    rejection(breaker)  # the probe slot is taken
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert breaker.state == "half_open"
    assert breaker.stats()["total_failures"] == 1
    assert await breaker.call(answer) == "ok"
    assert breaker.state == "closed"


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


async def test_async_call_records_async_failures(clock: FakeClock) -> None:
    """An exception raised by an awaited coroutine counts as a failure."""
    breaker = make(clock, failure_threshold=2)

    async def down() -> None:
        raise Boom("down")

    for _ in range(2):
        with pytest.raises(Boom):
            await breaker.call(down)
    assert breaker.state == "open"
    with pytest.raises(CircuitBreakerOpenError):
        await breaker.call(down)


def test_call_sync_passes_arguments(clock: FakeClock) -> None:
    """``call_sync`` forwards positional and keyword arguments."""
    breaker = make(clock)
    assert breaker.call_sync(divmod, 17, 5) == (3, 2)
    assert breaker.call_sync(int, "ff", base=16) == 255


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


def test_sync_context_manager_records_the_block(clock: FakeClock) -> None:
    """``with breaker:`` counts a clean block as a success and a raising block as a failure."""
    breaker = make(clock, failure_threshold=1)
    with breaker:
        pass
    assert breaker.stats()["success_count"] == 1
    with pytest.raises(Boom), breaker:
        raise Boom("in block")
    assert breaker.state == "open"
    ran = False
    with pytest.raises(CircuitBreakerOpenError), breaker:
        ran = True
    assert not ran


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


def test_listeners_and_published_events_see_every_transition(clock: FakeClock) -> None:
    """A full cycle reaches the breaker's listener and the global event bus, in order."""
    breaker = make(clock, failure_threshold=1, recovery_timeout=5.0)
    mine: list[BreakerTransition] = []
    published: list[ResilienceEvent] = []
    breaker.add_listener(mine.append)
    unsubscribe = _events.add_listener(published.append)
    try:
        fail(breaker)
        clock.advance(5.0)
        succeed(breaker)
    finally:
        unsubscribe()
    expected = [
        BreakerTransition("svc", "closed", "open", "consecutive_failures"),
        BreakerTransition("svc", "open", "half_open", "recovery_timeout_elapsed"),
        BreakerTransition("svc", "half_open", "closed", "probes_succeeded"),
    ]
    assert mine == expected
    assert [e for e in published if isinstance(e, BreakerTransition)] == expected


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


def test_reset_closes_and_clears_counters(clock: FakeClock) -> None:
    """``reset`` returns an open breaker to closed with zeroed counters."""
    breaker = make(clock, failure_threshold=2)
    succeed(breaker)
    fail(breaker, 2)
    reasons: list[str] = []
    breaker.add_listener(lambda event: reasons.append(event.reason))
    breaker.reset()
    stats = breaker.stats()
    assert (stats["state"], stats["failure_count"], stats["success_count"]) == ("closed", 0, 0)
    assert (stats["total_failures"], stats["rejected_count"]) == (0, 0)
    assert reasons == ["reset"]
    succeed(breaker)


def test_force_open_rejects_for_a_recovery_timeout(clock: FakeClock) -> None:
    """``force_open`` opens a healthy breaker now, for one full recovery_timeout."""
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
