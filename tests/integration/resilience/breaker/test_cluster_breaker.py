"""The cluster-scope circuit breaker against real Redis: trips, probes and recovery shared by
real OS processes, the rate rules across processes, a Redis that goes away and comes back,
async admission, the down policies, and the batching that keeps the success path free of I/O.

Time here comes from the Redis server, so these tests use short real timeouts (fractions of a
second) and bounded polling instead of a fake clock. Each test works under a namespace of its
own and deletes its keys; servers and processes a test starts are stopped by pid.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from _cluster_breaker_support import cluster_breaker, cluster_link, unique_namespace, wait_until
from _cluster_breaker_worker import BreakerProcess
from _servers import free_port, start_redis_server
from outlast.config import CircuitBreakerConfig, WindowType, reload_settings
from outlast.errors import CircuitBreakerOpenError, ConfigurationError
from outlast.resilience import _events, handle_errors
from outlast.resilience._events import BreakerTransition, ResilienceEvent
from outlast.resilience.breaker._breaker import CircuitBreaker
from outlast.resilience.breaker._breaker_batch import Batch, View, supersedes
from outlast.resilience.breaker._breaker_registry import get_circuit_breaker
from outlast.resilience.breaker._breaker_state import CircuitState, LocalBreakerState
from outlast.resilience.breaker._redis_breaker import RedisBreakerState
from outlast.resilience.shared._redis_link import RedisLink

PROPAGATION_LIMIT = 0.25  # seconds: the bound for every process to see a trip


class Boom(Exception):
    """The failure the protected functions raise."""


def explode() -> None:
    raise Boom("down")


def fail(breaker: CircuitBreaker, times: int = 1) -> None:
    for _ in range(times):
        with pytest.raises(Boom):
            breaker.call_sync(explode)


def succeed(breaker: CircuitBreaker, times: int = 1) -> None:
    for _ in range(times):
        assert breaker.call_sync(int, "7") == 7


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


def spawn(
    processes: list[BreakerProcess], count: int, url: str, namespace: str, **config: Any
) -> list[BreakerProcess]:
    """Start ``count`` workers sharing one breaker, and wait until each has read its view."""
    new = [BreakerProcess(url, namespace, **config) for _ in range(count)]
    processes.extend(new)
    for worker in new:
        worker.ready()
    return new


# -- several real processes -------------------------------------------------------------------


def test_four_processes_share_the_trip_the_probes_and_the_recovery(
    redis_url: str, processes: list[BreakerProcess]
) -> None:
    """Failures in one process open the breaker in all four within 250 ms; half-open admits
    exactly half_open_max_calls probes across the four; their success closes it everywhere."""
    with cluster_link(redis_url) as link:
        workers = spawn(
            processes,
            4,
            redis_url,
            link.namespace,
            failure_threshold=3,
            recovery_timeout=0.8,
            half_open_max_calls=2,
        )
        for watcher in workers[1:]:
            watcher.send("wait_state", "open", 3.0)
        results = workers[0].ask("calls", ["fail"] * 3)
        assert [outcome for outcome, _ in results] == ["failed"] * 3
        tripped_at = results[-1][1]
        seen = [watcher.receive() for watcher in workers[1:]]
        assert None not in seen
        delays = [at - tripped_at for at in seen]
        assert max(delays) < PROPAGATION_LIMIT, f"propagation delays {delays}"

        for worker in workers:
            worker.send("probe_window", 1.2)
        admitted = [worker.receive() for worker in workers]
        assert sum(admitted) == 2, f"probes admitted per process: {admitted}"

        assert sum(worker.ask("finish_probes", "ok") for worker in workers) == 2
        for worker in workers:
            worker.send("wait_state", "closed", 5.0)
        closed_at = [worker.receive() for worker in workers]
        views = [worker.ask("stats") for worker in workers]
        assert None not in closed_at, f"seen closed at {closed_at}; views {views}"
        assert workers[3].ask("calls", ["ok"])[0][0] == "ok"


def test_a_new_process_sees_an_open_breaker_and_does_not_extend_it(
    link: RedisLink, redis_url: str, processes: list[BreakerProcess]
) -> None:
    """A process started while the breaker is open starts open, rejects, and leaves the open
    deadline and the epoch where they were."""
    breaker, _ = cluster_breaker(link, "shared", failure_threshold=2, recovery_timeout=30.0)
    fail(breaker, 2)
    wait_until(lambda: breaker.state == "open")
    client = redis.Redis.from_url(redis_url)
    key = link.key("cb", "shared")
    before = client.hmget(key, "open_until", "epoch")

    [joiner] = spawn(processes, 1, redis_url, link.namespace, failure_threshold=2)
    assert joiner.ask("stats")["state"] == "open"
    [(outcome, _)] = joiner.ask("calls", ["ok"])
    assert outcome == "rejected"
    assert 0 < joiner.ask("stats")["retry_after"] <= breaker.retry_after + 0.05
    assert client.hmget(key, "open_until", "epoch") == before
    client.close()


@pytest.mark.parametrize("window_type", [WindowType.COUNT_BASED, WindowType.TIME_BASED])
def test_rate_rules_trip_on_the_calls_of_all_processes(
    redis_url: str, processes: list[BreakerProcess], window_type: WindowType
) -> None:
    """Four processes with two calls each (half failed) trip a 50 % rule needing 8 calls,
    which no process reaches alone."""
    with cluster_link(redis_url) as link:
        workers = spawn(
            processes,
            4,
            redis_url,
            link.namespace,
            failure_threshold=100,
            failure_rate_threshold=50.0,
            window_type=window_type,
            window_size=10,
            minimum_calls=8,
        )
        for worker in workers[:3]:
            assert [r for r, _ in worker.ask("calls", ["ok", "fail"])] == ["ok", "failed"]
        time.sleep(0.15)  # three flush intervals: 6 calls are in, below the minimum
        assert workers[0].ask("stats")["state"] == "closed"
        workers[3].ask("calls", ["fail", "ok"])
        for worker in workers:
            worker.send("wait_state", "open", 2.0)
        assert None not in [worker.receive() for worker in workers]


def _trip_and_wait_in_forked_child(breaker: CircuitBreaker, link: RedisLink) -> None:
    """In a forked child: fail until the breaker opens here, then wait until the child's own
    flusher has written the trip to Redis; exit 0 if both happened (multiprocessing ends
    the child with os._exit, so pending writes would be lost)."""
    for _ in range(3):
        with contextlib.suppress(Boom):
            breaker.call_sync(explode)
    opened_here = breaker.state == "open"
    client = redis.Redis.from_url(link.url)
    deadline = time.monotonic() + 3.0
    while client.hget(link.key("cb", "svc"), "state") != b"open":
        if time.monotonic() > deadline:
            raise SystemExit(1)
        time.sleep(0.002)
    client.close()
    raise SystemExit(0 if opened_here else 2)


def test_a_forked_child_runs_its_own_threads(link: RedisLink) -> None:
    """A child forked from a process with a running cluster breaker (Celery prefork) flushes
    through threads of its own; the parent sees the trip the child caused."""
    breaker, _ = cluster_breaker(link, failure_threshold=3, recovery_timeout=30.0)
    succeed(breaker)
    child = multiprocessing.get_context("fork").Process(
        target=_trip_and_wait_in_forked_child, args=(breaker, link)
    )
    child.start()
    child.join(10.0)
    if child.is_alive():
        child.kill()
        child.join()
    assert child.exitcode == 0
    wait_until(lambda: breaker.state == "open")


# -- one process, several links: notifications, expiry, probes, batching -----------------------


def test_lost_probes_give_their_slots_back_after_the_probe_lease(redis_url: str) -> None:
    """A half-open period whose probe never reports (its process died) starts over once the
    probe lease has passed, instead of rejecting every call for good."""
    namespace = unique_namespace()
    config: dict[str, Any] = {
        "failure_threshold": 1,
        "recovery_timeout": 0.2,
        "backend_options": {"probe_lease": 0.5},
    }
    with (
        cluster_link(redis_url, namespace) as first,
        cluster_link(redis_url, namespace) as second,
    ):
        dying, _ = cluster_breaker(first, **config)
        other, _ = cluster_breaker(second, **config)
        fail(dying)
        wait_until(lambda: dying.state == "open" and other.state == "open")
        wait_until(lambda: dying.retry_after == 0.0)
        dying.before_call()  # a probe whose outcome never comes
        lost_at = time.monotonic()
        wait_until(lambda: other.state == "half_open")
        with pytest.raises(CircuitBreakerOpenError):
            other.before_call()
        wait_until(lambda: _admitted(other), timeout=3.0, interval=0.05)
        assert time.monotonic() - lost_at >= 0.5
        wait_until(lambda: other.state == "closed")  # the new probe's success counted


def _admitted(breaker: CircuitBreaker) -> bool:
    """Whether the breaker admits a call now (if so, the call is reported as a success)."""
    try:
        started = breaker.before_call()
    except CircuitBreakerOpenError:
        return False
    breaker.on_success(started)
    return True


def test_the_time_window_forgets_old_calls(link: RedisLink) -> None:
    """Failures older than the time window no longer count towards the rate in Redis."""
    breaker, backend = cluster_breaker(
        link,
        failure_threshold=100,
        failure_rate_threshold=50,
        window_type=WindowType.TIME_BASED,
        window_size=2,
        minimum_calls=4,
    )
    fail(breaker, 3)
    assert backend.flush()
    assert breaker.stats()["window_calls"] == 3
    time.sleep(2.05)  # the window is two of the server's seconds: wait them out
    succeed(breaker, 3)
    fail(breaker)
    assert backend.flush()
    stats = breaker.stats()
    assert (stats["state"], stats["window_calls"]) == ("closed", 4)
    assert stats["failure_rate"] == pytest.approx(25.0)


def test_each_cluster_transition_is_reported_once(redis_url: str) -> None:
    """The process whose flush trips the breaker notifies; the others only see the state."""
    heard: list[tuple[str, BreakerTransition]] = []
    published: list[ResilienceEvent] = []
    unsubscribe = _events.add_listener(published.append)
    namespace = unique_namespace()
    try:
        with (
            cluster_link(redis_url, namespace) as first,
            cluster_link(redis_url, namespace) as second,
        ):
            tripping, _ = cluster_breaker(first, failure_threshold=2, recovery_timeout=30.0)
            watching, _ = cluster_breaker(second, failure_threshold=2, recovery_timeout=30.0)
            tripping.add_listener(lambda event: heard.append(("tripping", event)))
            watching.add_listener(lambda event: heard.append(("watching", event)))
            fail(tripping, 2)
            wait_until(lambda: watching.state == "open")
            time.sleep(0.1)  # room for a duplicate, were there one
    finally:
        unsubscribe()
    opened = BreakerTransition("svc", "closed", "open", "consecutive_failures")
    assert heard == [("tripping", opened)]
    assert [e for e in published if isinstance(e, BreakerTransition)] == [opened]


def test_keys_expire_when_unused(link: RedisLink, redis_url: str) -> None:
    """Every key a breaker writes carries a TTL of max(1 day, 10 x recovery_timeout)."""
    breaker, backend = cluster_breaker(
        link, recovery_timeout=20_000.0, failure_rate_threshold=50.0, minimum_calls=50
    )
    succeed(breaker, 3)
    assert backend.flush()
    client = redis.Redis.from_url(redis_url)
    for key in (link.key("cb", "svc"), link.key("cb", "svc", "cw")):
        assert 199_000_000 < client.pttl(key) <= 200_000_000
    client.close()


def test_successes_cost_no_round_trip_each() -> None:
    """Two thousand successful calls reach Redis as a handful of batched writes."""
    with start_redis_server() as server, cluster_link(server.url) as link:
        breaker, backend = cluster_breaker(link)
        client = redis.Redis.from_url(server.url)
        before = int(client.info("stats")["total_commands_processed"])
        succeed(breaker, 2000)
        assert backend.flush()
        commands = int(client.info("stats")["total_commands_processed"]) - before
        client.close()
        assert breaker.stats()["success_count"] == 2000
        assert commands < 50, f"{commands} commands for 2000 calls"


# -- Redis going away and coming back ---------------------------------------------------------


def test_redis_stopped_mid_run_falls_back_and_resyncs() -> None:
    """With Redis stopped calls go on without an outlast error on local state; after a restart
    the pending outcomes are written, both processes are back in cluster mode, and a trip
    propagates again."""
    server = start_redis_server()
    namespace = unique_namespace()
    fast: dict[str, Any] = {"retry_interval": 0.2}
    backend_options = {"sync_interval": 0.1}
    try:
        with (
            cluster_link(server.url, namespace, **fast) as first,
            cluster_link(server.url, namespace, **fast) as second,
        ):
            config: dict[str, Any] = {"failure_threshold": 3, "recovery_timeout": 30.0}
            caller, written = cluster_breaker(first, backend_options=backend_options, **config)
            watcher, _ = cluster_breaker(second, backend_options=backend_options, **config)
            succeed(caller, 5)
            assert written.flush()
            server.stop()
            deadline = time.monotonic() + 1.0
            calls = 0
            while time.monotonic() < deadline:
                succeed(caller)
                calls += 1
                time.sleep(0.005)
            assert caller.stats()["mode"] == "local-fallback"
            assert watcher.stats()["mode"] == "local-fallback"

            server = start_redis_server(port=server.port)
            wait_until(lambda: caller.stats()["mode"] == "cluster", timeout=3.0)
            wait_until(lambda: watcher.stats()["mode"] == "cluster", timeout=3.0)
            wait_until(lambda: watcher.stats()["success_count"] == calls, timeout=3.0)
            fail(caller, 3)
            assert wait_until(lambda: watcher.state == "open") < PROPAGATION_LIMIT
    finally:
        server.stop()


def test_the_local_policy_decides_on_local_state_while_redis_is_down() -> None:
    """With no Redis at all, policy "local" runs the normal rules on this process's state."""
    with cluster_link(f"redis://127.0.0.1:{free_port()}/0") as link:
        breaker, _ = cluster_breaker(link, failure_threshold=2, recovery_timeout=30.0)
        assert breaker.stats()["mode"] == "local-fallback"
        succeed(breaker, 3)
        fail(breaker, 2)
        assert breaker.state == "open"
        with pytest.raises(CircuitBreakerOpenError):
            succeed(breaker)


def test_fail_open_admits_every_call_while_redis_is_down() -> None:
    """Policy "fail_open" admits calls, even after failures, while Redis does not answer."""
    with cluster_link(f"redis://127.0.0.1:{free_port()}/0") as link:
        breaker, _ = cluster_breaker(
            link, backend_options={"down_policy": "fail_open"}, failure_threshold=1
        )
        fail(breaker, 3)
        succeed(breaker)
        assert (breaker.state, breaker.stats()["mode"]) == ("closed", "fail-open")


def test_fail_closed_rejects_every_call_while_redis_is_down() -> None:
    """Policy "fail_closed" rejects calls for the link's retry interval while Redis is down."""
    with cluster_link(f"redis://127.0.0.1:{free_port()}/0", retry_interval=2.5) as link:
        breaker, _ = cluster_breaker(link, backend_options={"down_policy": "fail_closed"})
        with pytest.raises(CircuitBreakerOpenError) as caught:
            succeed(breaker)
        assert caught.value.retry_after == 2.5
        assert (breaker.state, breaker.stats()["mode"]) == ("open", "fail-closed")


def test_an_unknown_down_policy_is_refused(link: RedisLink) -> None:
    """A down policy outside local/fail_open/fail_closed is a ValueError naming it."""
    with pytest.raises(ValueError, match="fail_sideways"):
        RedisBreakerState(
            "svc",
            config=CircuitBreakerConfig(),
            link=link,
            down_policy="fail_sideways",  # type: ignore[arg-type]
        )


# -- async admission ---------------------------------------------------------------------------


@pytest.mark.parametrize("driver", ["call", "handle_errors"])
async def test_async_half_open_admission_does_not_block_the_event_loop(driver: str) -> None:
    """While Redis takes 300 ms to answer a half-open admission, other tasks keep running,
    whether the call goes through ``await cb.call`` or an async ``@handle_errors``."""
    with start_redis_server() as server, cluster_link(server.url) as link:
        breaker, _ = cluster_breaker(link, failure_threshold=1, recovery_timeout=0.2)

        @handle_errors(circuit_breaker=breaker)
        async def protected(text: str) -> int:
            return int(text)

        fail(breaker)
        wait_until(lambda: breaker.state == "open")
        wait_until(lambda: breaker.retry_after == 0.0)
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        ticker = asyncio.create_task(tick())
        await asyncio.sleep(0.02)
        pauser = redis.Redis.from_url(server.url)
        pauser.client_pause(300)
        started = time.monotonic()
        ticks = 0
        if driver == "call":
            assert await breaker.call(int, "5") == 5
        else:
            assert await protected("5") == 5
        waited = time.monotonic() - started
        ticker.cancel()
        pauser.close()
        await link.async_client().aclose()
        assert waited >= 0.2, "the admission did not wait for Redis"
        assert ticks >= 10, f"the event loop ticked {ticks} times in {waited:.3f}s"
        wait_until(lambda: breaker.state == "closed")  # the probe's success counted


# -- scope selection -----------------------------------------------------------------------------


def test_scope_follows_the_settings(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """With OUTLAST_REDIS_URL set a named breaker is cluster-scope unless asked for local."""
    monkeypatch.setenv("OUTLAST_REDIS_URL", redis_url)
    monkeypatch.setenv("OUTLAST_NAMESPACE", unique_namespace())
    reload_settings()
    assert get_circuit_breaker("shared-one").stats()["scope"] == "cluster"
    assert "scope" not in get_circuit_breaker("mine", scope="local").stats()
    monkeypatch.setenv("OUTLAST_STATE_SCOPE", "local")
    reload_settings()
    assert "scope" not in get_circuit_breaker("local-by-setting").stats()
    assert get_circuit_breaker("forced", scope="cluster").stats()["mode"] == "cluster"


def test_cluster_scope_without_a_redis_url_is_a_configuration_error() -> None:
    """Asking for cluster scope with no Redis configured names the setting to set."""
    with pytest.raises(ConfigurationError, match="OUTLAST_REDIS_URL"):
        get_circuit_breaker("nowhere", scope="cluster")
    with pytest.raises(ConfigurationError, match="sideways"):
        get_circuit_breaker("odd", scope="sideways")  # type: ignore[arg-type]


# -- batching is exact --------------------------------------------------------------------------

OUTCOMES = st.lists(st.sampled_from("SF"), max_size=30)


def batch_of(outcomes: str) -> Batch:
    batch = Batch(view_id="x", epoch=1, limit=100)
    for outcome in outcomes:
        if outcome == "S":
            batch.successes += 1
            batch.saw_success, batch.run = True, 0
        else:
            batch.failures += 1
            batch.closed_failure()
    return batch


@given(older=OUTCOMES, newer=OUTCOMES)
def test_a_batch_put_back_in_front_equals_one_batch(older: list[str], newer: list[str]) -> None:
    """A batch that could not be sent, merged before the next, summarises both in order."""
    merged = batch_of("".join(newer))
    merged.absorb_older(batch_of("".join(older)))
    whole = batch_of("".join(older + newer))
    assert merged.args() == whole.args()


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    outcomes=st.lists(st.tuples(st.booleans(), st.booleans()), min_size=1, max_size=25),
    cuts=st.sets(st.integers(min_value=1, max_value=24), max_size=6),
)
def test_however_outcomes_are_batched_redis_decides_as_the_local_rules_do(
    link: RedisLink, outcomes: list[tuple[bool, bool]], cuts: set[int]
) -> None:
    """Consecutive-failure and count-window rules over any flush boundaries (batches of at
    most twice the window) trip exactly when the in-process state does, with the same
    counts while closed."""
    config = CircuitBreakerConfig(
        failure_threshold=4,
        recovery_timeout=60.0,
        failure_rate_threshold=60.0,
        slow_call_rate_threshold=70.0,
        slow_call_duration=1.0,
        window_size=5,
        minimum_calls=3,
    )
    local = LocalBreakerState(config=config)
    name = unique_namespace()
    shared = RedisBreakerState(name, config=config, link=link, flush_interval=60.0)
    for index, (failed, slow) in enumerate(outcomes):
        if index in cuts or index % 10 == 9:  # a batch keeps up to twice the window's calls
            assert shared.flush()
        started, ended = 0.0, 2.0 if slow else 0.5
        for state in (local, shared):
            if failed:
                state.record_failure(started, ended)
            else:
                state.record_success(started, ended)
    assert shared.flush()
    expected, got = local.counts(0.5), shared.counts(0.5)
    assert got.state == expected.state
    if expected.state == "closed":
        assert (got.consecutive_failures, got.window_calls) == (
            expected.consecutive_failures,
            expected.window_calls,
        )
        assert got.failure_rate == pytest.approx(expected.failure_rate)
        assert got.slow_call_rate == pytest.approx(expected.slow_call_rate)


def _view(view_id: str, ver: int, at: int, state: CircuitState = CircuitState.CLOSED) -> View:
    return View(view_id, ver, 1, state, 0.0, 0, 0, 0, 0, 0, 0, 0, at=at)


def test_a_stale_read_of_the_absent_key_does_not_undo_its_first_published_view() -> None:
    """A read sent before the key existed, answered after the key's first view was heard,
    is older and does not replace it; a read of a key that expired later does."""
    created = _view("1700000000.5", 1, at=2_000, state=CircuitState.OPEN)
    assert not supersedes(_view("", 0, at=1_000), created)
    assert supersedes(_view("", 0, at=3_000), created)


def test_within_one_incarnation_the_write_version_orders_views() -> None:
    """Same key incarnation: a lower write version is older, whatever its server time."""
    current = _view("k", 5, at=2_000)
    assert not supersedes(_view("k", 4, at=9_000), current)
    assert supersedes(_view("k", 5, at=1_000), current)
    assert supersedes(_view("k", 6, at=2_000), current)


def test_every_view_carries_the_server_time(link: RedisLink) -> None:
    """Each view a script returns says when Redis made it (server ms, from TIME)."""
    client = redis.Redis.from_url(link.url)
    try:
        seconds, micros = client.time()
    finally:
        client.close()
    _, state = cluster_breaker(link, "view-time")
    assert state.flush()
    made = state._view.at  # what the read brought back
    assert seconds * 1000 + micros // 1000 <= made <= seconds * 1000 + 5_000
