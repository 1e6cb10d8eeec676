"""The circuit breaker's behaviour suite, run once per scope: "local" (state in this process)
and "cluster" (state in Redis, shared through Lua scripts).

The same test bodies prove that both scopes open, reject, probe and close by the same rules.
Redis takes time from its own clock, so these tests use real, short recovery timeouts and
bounded polling; ``settle()`` writes a cluster breaker's pending outcomes (a no-op locally),
since a cluster breaker writes behind on another thread.

Each behaviour is proven here once for both scopes. What a real clock cannot pin down (timing
to the exact second on a fake clock), the decorators' metadata, listeners and the registry
are in tests/unit/resilience/breaker/test_breaker.py.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from _cluster_breaker_support import cluster_breaker, cluster_link, wait_until
from outlast.config import CircuitBreakerConfig, WindowType
from outlast.errors import CircuitBreakerOpenError
from outlast.resilience import _events
from outlast.resilience._events import BreakerTransition, ResilienceEvent
from outlast.resilience.breaker._breaker import CircuitBreaker, CircuitState
from outlast.resilience.breaker._redis_breaker import RedisBreakerState

RECOVERY = 0.2  # seconds: short, because the cluster scope's clock is the Redis server's


class Boom(Exception):
    """The failure the protected functions raise."""


def explode() -> str:
    raise Boom("down")


def answer() -> str:
    return "ok"


class Harness:
    """Makes breakers in one scope and lets their pending outcomes land."""

    def __init__(self, scope: str, redis_url: str) -> None:
        self.scope = scope
        self._redis_url = redis_url
        self._backends: list[RedisBreakerState] = []
        self._links: list[Any] = []

    def make(self, name: str = "svc", *, quiet: bool = False, **config: Any) -> CircuitBreaker:
        """A breaker called ``name`` with the given config fields, in this harness's scope;
        ``quiet``: a cluster breaker writes only when woken (no periodic flush or read)."""
        if self.scope == "local":
            return CircuitBreaker(name, config=CircuitBreakerConfig(**config))
        if not self._links:
            context = cluster_link(self._redis_url)
            self._links.append(context)
            self.link = context.__enter__()
        options = {"flush_interval": 60.0, "sync_interval": 60.0} if quiet else {}
        breaker, backend = cluster_breaker(self.link, name, backend_options=options, **config)
        self._backends.append(backend)
        return breaker

    def settle(self) -> None:
        """Write every pending outcome and read the shared state back (cluster scope)."""
        for backend in self._backends:
            assert backend.flush()

    def close(self) -> None:
        for context in self._links:
            context.__exit__(None, None, None)


@pytest.fixture(params=["local", "cluster"])
def harness(request: pytest.FixtureRequest, redis_url: str) -> Iterator[Harness]:
    made = Harness(request.param, redis_url)
    yield made
    made.close()


@pytest.fixture
async def async_harness(harness: Harness) -> AsyncIterator[Harness]:
    """The harness for async tests: the link's async client closes with the test's loop."""
    yield harness
    if harness.scope == "cluster":
        await harness.link.aclose()


def fail(harness: Harness, breaker: CircuitBreaker, times: int = 1) -> None:
    for _ in range(times):
        with pytest.raises(Boom):
            breaker.call_sync(explode)
    harness.settle()


def succeed(harness: Harness, breaker: CircuitBreaker, times: int = 1) -> None:
    for _ in range(times):
        assert breaker.call_sync(answer) == "ok"
    harness.settle()


def rejection(breaker: CircuitBreaker) -> CircuitBreakerOpenError:
    """The error an admission attempt raises (the protected function must not run)."""
    with pytest.raises(CircuitBreakerOpenError) as caught:
        breaker.call_sync(pytest.fail, "the protected function ran while the breaker was open")
    return caught.value


def wait_for_recovery(breaker: CircuitBreaker) -> None:
    """Poll until an open breaker's recovery timeout has passed."""
    assert breaker.state == "open"
    wait_until(lambda: breaker.retry_after == 0.0)


# -- the consecutive-failure rule and the state cycle -----------------------------------------


def test_consecutive_failures_open_the_breaker(harness: Harness) -> None:
    """``failure_threshold`` consecutive failures open it; one fewer leaves it closed."""
    breaker = harness.make(failure_threshold=3)
    fail(harness, breaker, 2)
    assert breaker.state == "closed"
    fail(harness, breaker)
    assert breaker.state is CircuitState.OPEN


def test_a_success_resets_the_consecutive_count(harness: Harness) -> None:
    """Failures separated by a success never add up to the threshold."""
    breaker = harness.make(failure_threshold=3)
    fail(harness, breaker, 2)
    succeed(harness, breaker)
    fail(harness, breaker, 2)
    assert breaker.state == "closed"
    assert breaker.stats()["failure_count"] == 2


def test_open_rejects_with_name_and_retry_after(harness: Harness) -> None:
    """Open rejects without calling, naming the breaker and the time left."""
    breaker = harness.make(failure_threshold=1, recovery_timeout=30.0)
    fail(harness, breaker)
    error = rejection(breaker)
    assert error.name == "svc"
    assert 29.0 < error.retry_after <= 30.0
    assert 29.0 < breaker.retry_after <= error.retry_after


def test_after_recovery_half_open_admits_exactly_max_probes(harness: Harness) -> None:
    """Once recovery_timeout passes, exactly half_open_max_calls probes run; the next waits."""
    breaker = harness.make(failure_threshold=1, recovery_timeout=RECOVERY, half_open_max_calls=3)
    fail(harness, breaker)
    wait_for_recovery(breaker)
    for _ in range(3):
        breaker.before_call()
    assert breaker.state == "half_open"
    assert rejection(breaker).retry_after > 0
    assert breaker.retry_after == 0.0


def test_a_failed_probe_reopens_for_a_full_recovery_timeout(harness: Harness) -> None:
    """One probe failure reopens the breaker, counting recovery_timeout from that failure."""
    breaker = harness.make(failure_threshold=1, recovery_timeout=0.4, half_open_max_calls=2)
    fail(harness, breaker)
    wait_for_recovery(breaker)
    fail(harness, breaker)
    assert breaker.state == "open"
    assert 0.3 < rejection(breaker).retry_after <= 0.4
    wait_for_recovery(breaker)
    succeed(harness, breaker)
    assert breaker.state == "half_open"


def test_all_probes_succeeding_closes_and_resets_counters(harness: Harness) -> None:
    """When every probe succeeds the breaker closes and the failure count starts over."""
    breaker = harness.make(failure_threshold=2, recovery_timeout=RECOVERY, half_open_max_calls=2)
    fail(harness, breaker, 2)
    wait_for_recovery(breaker)
    succeed(harness, breaker)
    assert breaker.state == "half_open"
    succeed(harness, breaker)
    assert breaker.state == "closed"
    assert breaker.stats()["failure_count"] == 0
    fail(harness, breaker)
    assert breaker.state == "closed"
    fail(harness, breaker)
    assert breaker.state == "open"


def test_a_call_admitted_before_opening_is_no_probe(harness: Harness) -> None:
    """A call admitted while closed that ends in half-open is no probe and closes nothing."""
    breaker = harness.make(failure_threshold=1, recovery_timeout=RECOVERY, half_open_max_calls=1)
    straggler = breaker.before_call()
    fail(harness, breaker)
    wait_for_recovery(breaker)
    probe = breaker.before_call()
    breaker.on_success(straggler)
    harness.settle()
    assert breaker.state == "half_open"
    breaker.on_success(probe)
    harness.settle()
    assert breaker.state == "closed"


# -- the rate rules over sliding windows ------------------------------------------------------


def test_failure_rate_over_a_count_window(harness: Harness) -> None:
    """Once minimum_calls are in, a failure share at the threshold opens it (count window)."""
    breaker = harness.make(
        failure_threshold=100, failure_rate_threshold=50, window_size=10, minimum_calls=4
    )
    fail(harness, breaker)
    succeed(harness, breaker)
    fail(harness, breaker)
    assert breaker.state == "closed"  # 3 calls: below minimum_calls
    succeed(harness, breaker)
    assert breaker.state == "open"  # 4 calls, 50 %


def test_failure_rate_below_threshold_stays_closed(harness: Harness) -> None:
    """A failure share below the threshold leaves the breaker closed, with the window's rate."""
    breaker = harness.make(
        failure_threshold=100, failure_rate_threshold=50, window_size=3, minimum_calls=3
    )
    for _ in range(5):
        fail(harness, breaker)
        succeed(harness, breaker, 2)
    assert breaker.state == "closed"
    assert breaker.stats()["failure_rate"] == pytest.approx(100 / 3)
    assert breaker.stats()["window_calls"] == 3


def test_count_window_minimum_is_capped_at_the_window_size(harness: Harness) -> None:
    """A minimum_calls above the window size cannot switch the rate rule off."""
    breaker = harness.make(
        failure_threshold=100, failure_rate_threshold=50, window_size=4, minimum_calls=50
    )
    fail(harness, breaker)
    succeed(harness, breaker)
    fail(harness, breaker)
    assert breaker.state == "closed"
    fail(harness, breaker)
    assert breaker.state == "open"


def test_failure_rate_over_a_time_window(harness: Harness) -> None:
    """A time window applies the failure-rate rule to the calls of its last seconds."""
    breaker = harness.make(
        failure_threshold=100,
        failure_rate_threshold=50,
        window_type=WindowType.TIME_BASED,
        window_size=10,
        minimum_calls=4,
    )
    fail(harness, breaker, 2)
    succeed(harness, breaker)
    assert breaker.state == "closed"
    fail(harness, breaker)
    assert breaker.state == "open"  # 4 calls within 10 s, 75 % failed


def test_slow_call_rate_opens_the_breaker(harness: Harness) -> None:
    """Calls longer than slow_call_duration trip the slow-call rule."""
    breaker = harness.make(
        slow_call_rate_threshold=50, slow_call_duration=0.03, window_size=10, minimum_calls=4
    )
    for seconds in (0.05, 0.0, 0.0):
        breaker.call_sync(time.sleep, seconds)
    harness.settle()
    assert breaker.state == "closed"
    assert breaker.stats()["slow_call_rate"] == pytest.approx(100 / 3)
    breaker.call_sync(time.sleep, 0.05)
    harness.settle()
    assert breaker.state == "open"  # 2 of 4 slow


BURSTS: dict[str, tuple[dict[str, Any], str]] = {
    "consecutive failures": ({"failure_threshold": 3}, "FFSFFF"),
    "failure rate, count window": (
        {"failure_threshold": 100, "failure_rate_threshold": 50, "window_size": 10,
         "minimum_calls": 4},
        "FFSF",
    ),
    "failure rate, time window": (
        {"failure_threshold": 100, "failure_rate_threshold": 50, "window_size": 10,
         "minimum_calls": 4, "window_type": WindowType.TIME_BASED},
        "SFSF",
    ),
    "slow-call rate": (
        {"slow_call_rate_threshold": 50, "slow_call_duration": 0.01, "window_size": 10,
         "minimum_calls": 4},
        "sSSs",
    ),
}  # fmt: skip


@pytest.mark.parametrize("rule", list(BURSTS))
def test_the_call_that_completes_a_rule_opens_it_at_once(harness: Harness, rule: str) -> None:
    """The state read right after the call that completes a rule is open and the next call
    does not run, with nothing written in between (F fails, S succeeds, s is slow)."""
    config, outcomes = BURSTS[rule]
    breaker = harness.make(quiet=True, **config)
    for index, outcome in enumerate(outcomes):
        assert breaker.state == "closed", f"open before call {index + 1}"
        if outcome == "F":
            with pytest.raises(Boom):
                breaker.call_sync(explode)
        else:
            breaker.call_sync(time.sleep, 0.02 if outcome == "s" else 0.0)
    assert breaker.state == "open"
    rejection(breaker)


# -- what counts as a failure -------------------------------------------------------------------


def test_ignored_and_unrecorded_errors_count_as_nothing(harness: Harness) -> None:
    """Unrecorded, ignored and interrupt errors propagate but count as nothing."""
    breaker = harness.make(
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
    harness.settle()
    stats = breaker.stats()
    assert (stats["state"], stats["total_failures"], stats["success_count"]) == ("closed", 0, 0)
    with pytest.raises(ConnectionError):
        breaker.call_sync(raise_, ConnectionError("recorded"))
    harness.settle()
    assert breaker.state == "open"


def test_an_ignored_error_frees_the_half_open_probe_slot(harness: Harness) -> None:
    """A probe ending in an ignored error gives its slot back for another probe."""
    breaker = harness.make(
        failure_threshold=1,
        recovery_timeout=RECOVERY,
        half_open_max_calls=1,
        ignored_exceptions=(KeyError,),
    )
    lookup: dict[str, int] = {}
    fail(harness, breaker)
    wait_for_recovery(breaker)
    with pytest.raises(KeyError):
        breaker.call_sync(lookup.__getitem__, "missing")
    harness.settle()
    assert breaker.state == "half_open"
    succeed(harness, breaker)
    assert breaker.state == "closed"


async def test_cancellation_counts_as_nothing_and_frees_the_probe(async_harness: Harness) -> None:
    """A cancelled probe is no failure of the service: its slot goes to the next caller."""
    harness = async_harness
    breaker = harness.make(failure_threshold=1, recovery_timeout=RECOVERY, half_open_max_calls=1)
    fail(harness, breaker)
    wait_for_recovery(breaker)
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
    harness.settle()
    assert breaker.state == "half_open"
    assert breaker.stats()["total_failures"] == 1
    assert await breaker.call(answer) == "ok"
    harness.settle()
    assert breaker.state == "closed"


# -- drivers -------------------------------------------------------------------------------------


async def test_async_drivers_record_outcomes(async_harness: Harness) -> None:
    """``await cb.call``, ``async with`` and a decorated coroutine record what happened."""
    harness = async_harness
    breaker = harness.make(failure_threshold=3)

    async def raise_boom() -> None:
        raise Boom("down")

    down = breaker(raise_boom)
    assert await breaker.call(answer) == "ok"
    with pytest.raises(Boom):
        await breaker.call(raise_boom)
    with pytest.raises(Boom):
        await down()
    with pytest.raises(Boom):
        async with breaker:
            raise Boom("in block")
    harness.settle()
    assert breaker.state == "open"
    with pytest.raises(CircuitBreakerOpenError):
        await down()
    assert breaker.stats()["success_count"] == 1


def test_sync_drivers_record_outcomes(harness: Harness) -> None:
    """``call_sync``, ``with`` and ``@breaker`` pass arguments, record outcomes, then refuse."""
    breaker = harness.make(failure_threshold=3)

    @breaker
    def fetch(key: str) -> str:
        if key == "bad":
            raise Boom(key)
        return key.upper()

    assert fetch("a") == "A"
    with breaker:
        pass
    assert breaker.call_sync(divmod, 17, 5) == (3, 2)
    assert breaker.call_sync(int, "ff", base=16) == 255
    for _ in range(2):
        with pytest.raises(Boom):
            fetch("bad")
    with pytest.raises(Boom), breaker:
        raise Boom("in block")
    harness.settle()
    assert breaker.state == "open"
    assert breaker.stats()["success_count"] == 4
    ran = False
    with pytest.raises(CircuitBreakerOpenError), breaker:
        ran = True
    assert not ran


# -- listeners, control, stats -------------------------------------------------------------------


def test_listeners_and_published_events_see_every_transition(harness: Harness) -> None:
    """A full cycle reaches the breaker's listener and the global event bus, in order."""
    breaker = harness.make(failure_threshold=1, recovery_timeout=RECOVERY)
    mine: list[BreakerTransition] = []
    published: list[ResilienceEvent] = []
    breaker.add_listener(mine.append)
    unsubscribe = _events.add_listener(published.append)
    try:
        fail(harness, breaker)
        wait_for_recovery(breaker)
        succeed(harness, breaker)
    finally:
        unsubscribe()
    expected = [
        BreakerTransition("svc", "closed", "open", "consecutive_failures"),
        BreakerTransition("svc", "open", "half_open", "recovery_timeout_elapsed"),
        BreakerTransition("svc", "half_open", "closed", "probes_succeeded"),
    ]
    assert mine == expected
    assert [e for e in published if isinstance(e, BreakerTransition)] == expected


def test_reset_closes_and_clears_counters(harness: Harness) -> None:
    """``reset`` returns an open breaker to closed with zeroed counters."""
    breaker = harness.make(failure_threshold=2)
    succeed(harness, breaker)
    fail(harness, breaker, 2)
    reasons: list[str] = []
    breaker.add_listener(lambda event: reasons.append(event.reason))
    breaker.reset()
    stats = breaker.stats()
    assert (stats["state"], stats["failure_count"], stats["success_count"]) == ("closed", 0, 0)
    assert (stats["total_failures"], stats["rejected_count"]) == (0, 0)
    assert reasons == ["reset"]
    succeed(harness, breaker)


def test_force_open_rejects_for_a_recovery_timeout(harness: Harness) -> None:
    """``force_open`` opens a healthy breaker now, for one full recovery_timeout."""
    breaker = harness.make(recovery_timeout=0.4)
    breaker.force_open()
    assert breaker.state == "open"
    assert 0.3 < rejection(breaker).retry_after <= 0.4
    wait_for_recovery(breaker)
    succeed(harness, breaker)


def test_stats_carry_the_seed_health_fields(harness: Harness) -> None:
    """stats() has the seed's health fields, totals and rejections in both scopes."""
    breaker = harness.make(failure_threshold=2, recovery_timeout=30.0)
    succeed(harness, breaker, 150)
    fail(harness, breaker, 2)
    rejection(breaker)
    harness.settle()
    stats = breaker.stats()
    assert {k: stats[k] for k in ("name", "state", "failure_count", "success_count")} == {
        "name": "svc",
        "state": "open",
        "failure_count": 2,
        "success_count": 150,
    }
    assert (stats["total_failures"], stats["rejected_count"]) == (2, 1)
    assert 29.0 < stats["retry_after"] <= 30.0
    assert stats.get("scope") == (None if harness.scope == "local" else "cluster")
