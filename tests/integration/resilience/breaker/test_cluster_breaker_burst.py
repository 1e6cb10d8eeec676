"""A cluster breaker stops a burst of failures as fast as a local one: a process's own
outcomes count in its own decisions at once, against real Redis and real OS processes.

The process whose call completes a rule opens on that call (the state read next is open,
the next call never reaches the service) and writes the trip at once; Redis confirms it,
or another process's concurrent trip wins, and each process reports its opening once.
Each test uses a namespace (or a Redis server) of its own; processes are stopped by pid.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from _cluster_breaker_support import cluster_breaker, cluster_link, unique_namespace, wait_until
from _cluster_breaker_worker import BreakerProcess
from _servers import start_redis_server
from outlast.config import WindowType
from outlast.errors import CircuitBreakerOpenError
from outlast.resilience import _events
from outlast.resilience._events import BreakerTransition, ResilienceEvent
from outlast.resilience.breaker._breaker import CircuitBreaker
from outlast.resilience.shared._redis_link import RedisLink

HAMMER = 0.5  # seconds of back-to-back failures, as in the issue
BURST_REJECTED = 200  # and on until this many calls met an open breaker
QUIET = {"flush_interval": 60.0, "sync_interval": 60.0}  # only a trip wakes the flusher


class Boom(Exception):
    """The failure the protected service raises."""


class Service:
    """A service that fails (or answers) and counts the calls that reached it."""

    def __init__(self) -> None:
        self.calls = 0

    def fail(self) -> None:
        self.calls += 1
        raise Boom("down")

    def answer(self) -> str:
        self.calls += 1
        return "ok"


def fail(breaker: CircuitBreaker, service: Service, times: int = 1) -> None:
    for _ in range(times):
        with pytest.raises(Boom):
            breaker.call_sync(service.fail)


@pytest.fixture
def link(redis_url: str) -> Iterator[RedisLink]:
    with cluster_link(redis_url) as made:
        yield made


@pytest.fixture
def processes() -> Iterator[list[BreakerProcess]]:
    """Worker processes a test starts; every one is stopped (or killed) afterwards."""
    started: list[BreakerProcess] = []
    yield started
    for process in started:
        process.close()


def start(processes: list[BreakerProcess], count: int, url: str, **config: Any) -> list[Any]:
    """``count`` cold processes sharing one fresh breaker, each with its view read."""
    namespace = unique_namespace()
    new = [BreakerProcess(url, namespace, **config) for _ in range(count)]
    processes.extend(new)
    for worker in new:
        worker.ready()
    return new


def hammer(workers: list[BreakerProcess]) -> list[tuple[int, int]]:
    """Every worker calls a failing async service back to back for HAMMER seconds, at once,
    and on until its breaker has rejected BURST_REJECTED calls."""
    for worker in workers:
        worker.send("hammer", HAMMER, BURST_REJECTED)
    return [tuple(worker.receive()) for worker in workers]


def opened(name: str, reason: str) -> BreakerTransition:
    return BreakerTransition(name, "closed", "open", reason)


# -- the call that completes a rule opens the breaker in its process -----------------------------


def test_the_third_failure_opens_it_and_the_fourth_never_reaches_the_service(
    link: RedisLink,
) -> None:
    """Threshold 3: the state read right after the third failure is open, and the fourth
    call is rejected without reaching the service, with no flush in between."""
    breaker, _ = cluster_breaker(link, backend_options=QUIET, failure_threshold=3)
    service = Service()
    fail(breaker, service, 2)
    assert breaker.state == "closed"
    fail(breaker, service)
    assert breaker.state == "open"
    with pytest.raises(CircuitBreakerOpenError):
        breaker.call_sync(service.answer)
    assert service.calls == 3


@pytest.mark.parametrize("window_type", [WindowType.COUNT_BASED, WindowType.TIME_BASED])
def test_a_failure_rate_rule_opens_on_the_call_that_completes_it(
    link: RedisLink, window_type: WindowType
) -> None:
    """A 50 % rule needing 4 calls: closed after ok, fail, fail (too few calls), open right
    after the ok that makes 4 calls; Redis confirms the trip with the local reason."""
    breaker, backend = cluster_breaker(
        link,
        backend_options=QUIET,
        failure_threshold=100,
        failure_rate_threshold=50.0,
        window_type=window_type,
        window_size=10,
        minimum_calls=4,
    )
    service = Service()
    breaker.call_sync(service.answer)
    fail(breaker, service, 2)
    assert breaker.state == "closed"
    breaker.call_sync(service.answer)
    assert breaker.state == "open"
    assert breaker.stats()["state"] == "open"
    wait_until(lambda: backend._view.state == "open")  # the flush the trip woke
    client = redis.Redis.from_url(link.url)
    try:
        assert client.hget(link.key("cb", "svc"), "state") == b"open"
    finally:
        client.close()


def test_a_rule_the_pending_outcomes_do_not_complete_leaves_it_closed(link: RedisLink) -> None:
    """Outcomes already in the shared view count once: two failures written, then a success
    and two failures here, is a run of two under threshold 3, and nothing opens."""
    breaker, backend = cluster_breaker(link, backend_options=QUIET, failure_threshold=3)
    service = Service()
    fail(breaker, service, 2)
    assert backend.flush()
    breaker.call_sync(service.answer)
    fail(breaker, service, 2)
    assert backend.flush()
    assert breaker.state == "closed"
    assert breaker.stats()["failure_count"] == 2


def test_a_failed_half_open_probe_reopens_it_at_once(link: RedisLink) -> None:
    """A probe that fails reopens the breaker in its process on that call: the next call is
    rejected without reaching the service, and the reopening is reported once."""
    breaker, backend = cluster_breaker(
        link, backend_options=QUIET, failure_threshold=1, recovery_timeout=0.2
    )
    heard: list[BreakerTransition] = []
    breaker.add_listener(heard.append)
    service = Service()
    fail(breaker, service)
    wait_until(lambda: breaker.retry_after == 0.0)
    fail(breaker, service)  # the probe: admitted by Redis, fails
    assert breaker.state == "open"
    with pytest.raises(CircuitBreakerOpenError):
        breaker.call_sync(service.answer)
    assert service.calls == 2
    wait_until(lambda: backend._view.epoch == 3)  # opened, half-open, reopened in Redis
    time.sleep(0.05)  # room for a duplicate, were there one
    assert [(e.old_state, e.new_state, e.reason) for e in heard] == [
        ("closed", "open", "consecutive_failures"),
        ("open", "half_open", "recovery_timeout_elapsed"),
        ("half_open", "open", "probe_failed"),
    ]


# -- one report per process ---------------------------------------------------------------------


def test_an_opening_confirmed_by_redis_is_reported_once(link: RedisLink) -> None:
    """The process that opened on its own call reports it; the flush reply in which Redis
    opens the breaker too is not reported again (listeners and the event bus)."""
    published: list[ResilienceEvent] = []
    unsubscribe = _events.add_listener(published.append)
    try:
        breaker, backend = cluster_breaker(link, backend_options=QUIET, failure_threshold=2)
        heard: list[BreakerTransition] = []
        breaker.add_listener(heard.append)
        fail(breaker, Service(), 2)
        wait_until(lambda: backend._view.state == "open")
        assert backend.flush()
        time.sleep(0.05)  # room for a duplicate, were there one
    finally:
        unsubscribe()
    assert heard == [opened("svc", "consecutive_failures")]
    assert [e for e in published if isinstance(e, BreakerTransition)] == heard


def test_concurrent_trips_open_it_once_in_redis_and_each_process_reports_its_own() -> None:
    """Two processes (two links) open on their own third failure while Redis is paused; once
    it answers, one trip wins (one epoch), both stay open, and each reports exactly once."""
    namespace = unique_namespace()
    with (
        start_redis_server() as server,
        cluster_link(server.url, namespace) as first,
        cluster_link(server.url, namespace) as second,
    ):
        made = [
            cluster_breaker(x, backend_options=QUIET, failure_threshold=3) for x in (first, second)
        ]
        heard: list[list[BreakerTransition]] = [[], []]
        for (breaker, _), log in zip(made, heard, strict=True):
            breaker.add_listener(log.append)
        pauser = redis.Redis.from_url(server.url)
        pauser.client_pause(300)  # nothing either process writes gets through meanwhile
        for breaker, _ in made:
            fail(breaker, Service(), 3)
            assert breaker.state == "open"
        backends = [backend for _, backend in made]
        wait_until(lambda: all(b._view.state == "open" for b in backends), timeout=3.0)
        time.sleep(0.05)  # room for a duplicate, were there one
        assert pauser.hget(first.key("cb", "svc"), "epoch") == b"1"
        pauser.close()
    assert heard == [[opened("svc", "consecutive_failures")]] * 2


def test_a_trip_whose_write_fails_holds_and_is_written_once_redis_answers() -> None:
    """Opened here while Redis hangs: the write times out, the process stays open on local
    state, and once Redis answers the trip is written (Redis opens too), reported once."""
    with (
        start_redis_server() as server,
        cluster_link(server.url, retry_interval=0.2, socket_timeout=0.2) as link,
    ):
        breaker, backend = cluster_breaker(link, failure_threshold=2, recovery_timeout=30.0)
        heard: list[BreakerTransition] = []
        breaker.add_listener(heard.append)
        pauser = redis.Redis.from_url(server.url)
        pauser.client_pause(600)
        fail(breaker, Service(), 2)
        assert breaker.state == "open"
        wait_until(lambda: breaker.stats()["mode"] == "local-fallback")
        assert breaker.state == "open"
        wait_until(lambda: breaker.stats()["mode"] == "cluster", timeout=3.0)
        wait_until(lambda: backend._view.state == "open")
        time.sleep(0.05)  # room for a duplicate, were there one
        assert pauser.hget(link.key("cb", "svc"), "state") == b"open"
        pauser.close()
    assert heard == [opened("svc", "consecutive_failures")]


def test_an_opening_while_redis_is_down_is_not_reported_again_when_it_is_back() -> None:
    """Opened by the down policy's local state: when Redis is back, the failures kept for it
    open it there too, and that opening is not reported a second time."""
    server = start_redis_server()
    try:
        with cluster_link(server.url, retry_interval=0.2) as link:
            breaker, backend = cluster_breaker(link, failure_threshold=2, recovery_timeout=30.0)
            heard: list[BreakerTransition] = []
            breaker.add_listener(heard.append)
            server.stop()
            assert not backend.flush()
            fail(breaker, Service(), 2)
            assert (breaker.state, breaker.stats()["mode"]) == ("open", "local-fallback")
            server = start_redis_server(port=server.port)
            wait_until(lambda: breaker.stats()["mode"] == "cluster", timeout=3.0)
            wait_until(lambda: backend._view.state == "open")
            time.sleep(0.05)  # room for a duplicate, were there one
    finally:
        server.stop()
    assert heard == [opened("svc", "consecutive_failures")]


# -- bursts in real processes -------------------------------------------------------------------


def test_one_process_hammering_lets_through_the_threshold_as_a_local_breaker(
    redis_url: str, processes: list[BreakerProcess]
) -> None:
    """Threshold 5, a cold process calling a failing async service for 0.5 s: 5 calls reach
    it with a cluster breaker, exactly as with a local one."""
    config = {"failure_threshold": 5, "recovery_timeout": 30.0}
    cluster, local = (
        start(processes, 1, redis_url, scope=scope, **config)[0] for scope in ("cluster", "local")
    )
    [(reached_cluster, rejected)] = hammer([cluster])
    [(reached_local, _)] = hammer([local])
    assert (reached_cluster, reached_local) == (5, 5)
    assert rejected >= BURST_REJECTED  # the burst did go on, against an open breaker


def test_two_processes_hammering_one_fresh_breaker_let_through_at_most_ten(
    redis_url: str, processes: list[BreakerProcess]
) -> None:
    """Threshold 5, two cold processes hammering one fresh cluster breaker at once: at most
    2 x 5 calls reach the service in all, and both end up open."""
    workers = start(processes, 2, redis_url, failure_threshold=5, recovery_timeout=30.0)
    results = hammer(workers)
    reached = sum(count for count, _ in results)
    assert 5 <= reached <= 10, f"calls that reached the service per process: {results}"
    assert [worker.ask("stats")["state"] for worker in workers] == ["open", "open"]
