"""The cluster bulkhead against real Redis: one capacity across real OS processes, leases
that expire with a killed holder and are renewed for a long call, waiting that neither
spins nor blocks a loop, scope selection, and a Redis that stops and comes back.

Processes are real (``tests/_cluster_bulkhead_worker.py`` under ``sys.executable``), bounded
by timeouts, and killed by pid at the end whatever happened. Each test uses its own Redis
namespace and deletes its keys; nothing flushes a database.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
import warnings
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

import _cluster_bulkhead_worker
from _child_lines import next_line
from _servers import delete_keys_with_prefix, free_port, start_redis_server
from outlast import handle_errors
from outlast.config import BulkheadConfig, reload_settings
from outlast.errors import ConfigurationError
from outlast.resilience.bulkhead._bulkhead import Bulkhead
from outlast.resilience.bulkhead._bulkhead_registry import get_bulkhead, reset_bulkheads
from outlast.resilience.bulkhead._redis_bulkhead import ClusterBulkhead, DownPolicy
from outlast.resilience.shared._lease_renewer import renewer_for
from outlast.resilience.shared._redis_link import RedisLink
from outlast.testing import FakeClock

WORKER = Path(_cluster_bulkhead_worker.__file__).resolve()
PROCESS_TIMEOUT = 20.0


@pytest.fixture
def namespace() -> str:
    """A Redis namespace no other test uses."""
    return f"outlast-test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def link(redis_url: str, namespace: str) -> AsyncIterator[RedisLink]:
    """A link to the test Redis in the test's namespace; afterwards its clients are closed
    and its keys deleted."""
    opened = RedisLink(redis_url, namespace=namespace)
    yield opened
    await opened.async_client().aclose()
    delete_keys_with_prefix(opened.client, f"outlast:{{{namespace}:")
    opened.close()


def cluster(
    link: RedisLink,
    capacity: int,
    *,
    name: str = "shared",
    timeout: float = 5.0,
    lease: float = 30.0,
    down_policy: DownPolicy = "local",
    clock: FakeClock | None = None,
) -> ClusterBulkhead:
    """A cluster bulkhead on ``link``."""
    return ClusterBulkhead(
        name,
        config=BulkheadConfig(capacity=capacity, timeout=timeout),
        link=link,
        lease=lease,
        down_policy=down_policy,
        clock=clock,
    )


def live_leases(link: RedisLink, bulkhead: ClusterBulkhead) -> int:
    """How many leases the bulkhead's sorted set holds, read straight from Redis."""
    return int(link.client.zcard(bulkhead.lease_key))


class Workers:
    """Worker processes of this test; every one is killed by pid and reaped on exit."""

    def __init__(self, redis_url: str, namespace: str, *, lease: float = 30.0) -> None:
        self.env = {
            **os.environ,
            "OUTLAST_REDIS_URL": redis_url,
            "OUTLAST_NAMESPACE": namespace,
            "OUTLAST_BULKHEAD_LEASE": str(lease),
        }
        self.processes: list[subprocess.Popen[str]] = []

    def start(self, mode: str, **options: Any) -> subprocess.Popen[str]:
        """Start a worker and wait until it says ``ready``."""
        process = subprocess.Popen(
            [sys.executable, str(WORKER), mode, json.dumps(options)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=self.env,
        )
        self.processes.append(process)
        assert self.read_line(process) == "ready"
        return process

    def read_line(self, process: subprocess.Popen[str]) -> str:
        """The worker's next line of output, within the process timeout."""
        return next_line(process, PROCESS_TIMEOUT)

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, *exc_info: object) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=PROCESS_TIMEOUT)
            for stream in (process.stdin, process.stdout):
                if stream is not None:
                    stream.close()


# --- across processes -----------------------------------------------------------------


def test_four_processes_never_exceed_the_capacity_together(
    redis_url: str, namespace: str, redis_client: redis.Redis, redis_key_prefix: str
) -> None:
    """4 processes x 250 acquisitions on a capacity-5 bulkhead: the most callers inside at
    once, counted in Redis by the callers themselves, is exactly 5."""
    inside, peak = f"{redis_key_prefix}inside", f"{redis_key_prefix}peak"
    options = {
        "name": "payments",
        "capacity": 5,
        "threads": 5,
        "rounds": 50,
        "hold": 0.002,
        "redis_url": redis_url,
        "inside_key": inside,
        "peak_key": peak,
    }
    with Workers(redis_url, namespace) as workers:
        processes = [workers.start("contend", **options) for _ in range(4)]
        for process in processes:
            assert process.stdin is not None
            process.stdin.write("go\n")
            process.stdin.flush()
        summaries = [json.loads(workers.read_line(process)) for process in processes]

    assert summaries == [{"acquired": 250, "rejected": 0}] * 4
    assert int(redis_client.get(peak) or 0) == 5
    assert int(redis_client.get(inside) or 0) == 0
    leases = redis_client.zcard(f"outlast:{{{namespace}:bh:payments}}")
    assert leases == 0


async def test_permit_of_a_killed_holder_comes_back_after_the_lease(
    redis_url: str, namespace: str, link: RedisLink
) -> None:
    """A holder SIGKILLed mid-call keeps its permit until its 1 s lease runs out, then the
    permit is free again."""
    bulkhead = cluster(link, 1, name="reports", lease=1.0)
    with Workers(redis_url, namespace, lease=1.0) as workers:
        holder = workers.start("hold", name="reports", capacity=1)
        assert workers.read_line(holder) == "held"
        os.kill(holder.pid, signal.SIGKILL)
        killed = time.monotonic()
        holder.wait(timeout=PROCESS_TIMEOUT)
        assert bulkhead.try_acquire() is False  # the dead holder's lease is still live

        while not bulkhead.try_acquire():
            assert time.monotonic() - killed < 3.0, "the permit never came back"
            await asyncio.sleep(0.02)
    reclaimed_after = time.monotonic() - killed
    assert 0.3 < reclaimed_after < 2.0
    bulkhead.release()


def test_a_long_call_keeps_its_permit_past_the_lease_time(
    redis_url: str, namespace: str, link: RedisLink
) -> None:
    """A holder that runs almost 3x its 0.8 s lease keeps its permit throughout (its
    renewer extends the lease); another process gets it as soon as the holder releases."""
    bulkhead = cluster(link, 1, name="exports", lease=0.8)
    with Workers(redis_url, namespace, lease=0.8) as workers:
        holder = workers.start("hold", name="exports", capacity=1, seconds=2.2)
        assert workers.read_line(holder) == "held"
        held_since = time.monotonic()
        probes = 0
        while time.monotonic() - held_since < 1.8:
            assert bulkhead.try_acquire() is False
            probes += 1
            time.sleep(0.02)
        assert workers.read_line(holder) == "released"
    assert probes > 20
    assert bulkhead.try_acquire() is True
    bulkhead.release()


# --- leases ---------------------------------------------------------------------------


def test_renewal_extends_only_leases_held_for_a_third_of_the_lease(link: RedisLink) -> None:
    """Leases younger than lease/3 are left alone; older ones get a new expiry in Redis."""
    clock = FakeClock()
    bulkhead = cluster(link, 2, lease=30.0, clock=clock)
    assert bulkhead.try_acquire()
    lease_id = bulkhead.due_leases()  # nothing due yet
    assert lease_id[0] == []
    (member, first_expiry), *_ = link.client.zrange(bulkhead.lease_key, 0, -1, withscores=True)

    time.sleep(0.01)  # server time must move for the new expiry to differ
    clock.advance(10.0)
    assert bulkhead.due_leases()[0] == [member.decode()]
    renewer_for(link).renew_due()
    [(_, second_expiry)] = link.client.zrange(bulkhead.lease_key, 0, -1, withscores=True)
    assert second_expiry > first_expiry
    assert bulkhead.due_leases()[0] == []  # fresh again
    bulkhead.release()


def test_renewal_restores_a_vanished_lease_when_a_permit_is_free(link: RedisLink) -> None:
    """A lease Redis forgot (it lost its data) is added back at the next renewal."""
    clock = FakeClock()
    bulkhead = cluster(link, 2, lease=30.0, clock=clock)
    assert bulkhead.try_acquire()
    link.client.delete(bulkhead.lease_key)
    clock.advance(10.0)
    renewer_for(link).renew_due()
    assert live_leases(link, bulkhead) == 1
    bulkhead.release()
    assert live_leases(link, bulkhead) == 0


def test_a_lease_lost_to_a_full_bulkhead_is_reported_and_counts_again(
    link: RedisLink, caplog: pytest.LogCaptureFixture
) -> None:
    """A lease that vanished while others took every permit is written back anyway (its call
    runs) with a warning: nobody else is admitted until both calls have ended."""
    clock = FakeClock()
    mine, theirs = cluster(link, 1, lease=30.0, clock=clock), cluster(link, 1)
    newcomer = cluster(link, 1)
    assert mine.try_acquire()
    link.client.delete(mine.lease_key)
    assert theirs.try_acquire()
    clock.advance(10.0)
    with caplog.at_level(logging.WARNING, logger="outlast.resilience.bulkhead"):
        renewer_for(link).renew_due()
    assert "expired while held" in caplog.text
    assert live_leases(link, mine) == 2
    assert mine.due_leases()[0] == []  # renewed: due again only a third of a lease later
    theirs.release()
    assert newcomer.try_acquire() is False
    mine.release()
    assert newcomer.try_acquire() is True
    newcomer.release()


def test_a_lease_released_while_its_renewal_is_in_flight_is_not_left_behind(
    link: RedisLink,
) -> None:
    """A renewal that writes back a lease its holder released meanwhile removes it again,
    so the permit is free at once rather than one lease time later."""
    clock = FakeClock()
    bulkhead = cluster(link, 1, lease=30.0, clock=clock)
    assert bulkhead.try_acquire()
    clock.advance(10.0)
    due, at = bulkhead.due_leases()
    bulkhead.release()  # the renewer read the lease as due just before this
    assert bulkhead._table.adopt(due)  # its round trip writes the lease back
    assert live_leases(link, bulkhead) == 1
    bulkhead.leases_renewed(due, at)
    assert live_leases(link, bulkhead) == 0


def test_lease_keys_expire_when_unused_and_vanish_when_empty(link: RedisLink) -> None:
    """The lease set carries a TTL of at most twice the lease and is gone once empty."""
    bulkhead = cluster(link, 3, lease=2.0)
    assert bulkhead.try_acquire()
    assert 0 < link.client.pttl(bulkhead.lease_key) <= 4000
    bulkhead.release()
    assert link.client.exists(bulkhead.lease_key) == 0


def test_one_renewer_thread_per_link_and_none_after_reset(link: RedisLink) -> None:
    """Three bulkheads on one link share one renewer thread; reset_bulkheads stops it."""
    held = [cluster(link, 1, name=f"b{index}") for index in range(3)]
    for bulkhead in held:
        assert bulkhead.try_acquire()
    renewers = [t for t in threading.enumerate() if t.name.startswith("outlast-lease-renewer")]
    assert len(renewers) == 1
    assert renewers[0].daemon
    for bulkhead in held:
        bulkhead.release()
    reset_bulkheads()
    assert not renewers[0].is_alive()


def test_a_forked_child_holds_nothing_and_renews_with_its_own_thread(link: RedisLink) -> None:
    """After a fork (Celery prefork) the child holds none of the parent's leases, takes its
    own with its own clients and renewer thread, and leaves the parent's alone."""
    bulkhead = cluster(link, 2)
    assert bulkhead.try_acquire()  # the parent's lease; its renewer thread is running
    with warnings.catch_warnings():
        # Python 3.12+ warns about forking a threaded process; prefork pools do exactly that.
        warnings.simplefilter("ignore", DeprecationWarning)
        child = os.fork()
    if child == 0:  # pragma: no cover - the child reports through its exit status only
        status = 1
        try:
            try:
                bulkhead.release()
            except RuntimeError:
                assert bulkhead.try_acquire()
                assert renewer_for(link).running
                assert live_leases(link, bulkhead) == 2
                bulkhead.release()
                status = 0
        finally:
            os._exit(status)
    deadline = time.monotonic() + PROCESS_TIMEOUT
    while (reaped := os.waitpid(child, os.WNOHANG))[0] == 0:
        if time.monotonic() > deadline:
            os.kill(child, signal.SIGKILL)
            os.waitpid(child, 0)
            pytest.fail("the forked child hung")
        time.sleep(0.01)
    assert os.waitstatus_to_exitcode(reaped[1]) == 0
    assert live_leases(link, bulkhead) == 1
    bulkhead.release()
    assert live_leases(link, bulkhead) == 0


# --- waiting --------------------------------------------------------------------------


def test_waiting_polls_with_growing_pauses_up_to_50_ms(link: RedisLink) -> None:
    """A waiter on a full bulkhead sleeps 2, 4, 8 ... ms, capped at 50 ms, until its
    timeout: it does not spin."""
    clock = FakeClock()
    bulkhead = cluster(link, 1, clock=clock)
    assert bulkhead.try_acquire()
    assert bulkhead.acquire_sync(timeout=0.3) is False
    assert clock.sleeps == pytest.approx(
        [0.002, 0.004, 0.008, 0.016, 0.032, 0.05, 0.05, 0.05, 0.05, 0.038]
    )
    bulkhead.release()


async def test_async_waiter_does_not_block_the_event_loop(link: RedisLink) -> None:
    """While a coroutine waits 0.3 s for a permit held elsewhere, the loop keeps running
    other tasks every few milliseconds."""
    holder, waiter = cluster(link, 1), cluster(RedisLink(link.url, namespace=link.namespace), 1)
    assert holder.try_acquire()
    gaps: list[float] = []

    async def ticker() -> None:
        last = time.perf_counter()
        while True:
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    ticking = asyncio.create_task(ticker())
    assert await waiter.acquire(timeout=0.3) is False
    ticking.cancel()
    with pytest.raises(asyncio.CancelledError):
        await ticking
    assert len(gaps) > 30
    assert max(gaps) < 0.15  # a blocking wait would stall the loop for the whole 0.3 s
    holder.release()
    await waiter.link.async_client().aclose()
    waiter.link.close()


async def test_cancelled_acquire_gives_back_a_lease_granted_in_flight(
    link: RedisLink,
) -> None:
    """An acquire cancelled while its Redis call is in flight removes the lease Redis
    granted meanwhile, so no permit is lost for the lease time."""
    bulkhead = cluster(link, 1)
    attempt = asyncio.create_task(bulkhead.acquire(timeout=1.0))
    await asyncio.sleep(0)  # the attempt's Redis call is scheduled, not yet answered
    attempt.cancel()
    with pytest.raises(asyncio.CancelledError):
        await attempt
    await asyncio.sleep(0.2)  # the call completes (granting a lease) and its callback runs
    assert live_leases(link, bulkhead) == 0
    assert bulkhead.stats()["total_acquired"] == 0
    assert bulkhead.try_acquire()
    bulkhead.release()


# --- scope selection ------------------------------------------------------------------


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """Set OUTLAST_* variables for the test; settings are re-read now and afterwards."""
    for variable in ("OUTLAST_REDIS_URL", "OUTLAST_STATE_SCOPE", "OUTLAST_NAMESPACE"):
        monkeypatch.delenv(variable, raising=False)
    yield monkeypatch
    monkeypatch.undo()
    reload_settings()


def test_scope_defaults_to_cluster_exactly_when_a_redis_url_is_set(
    environment: pytest.MonkeyPatch, redis_url: str, namespace: str
) -> None:
    """No URL: local; a URL: cluster; state_scope=local wins over the URL; an explicit
    scope wins over both."""
    reload_settings()
    assert type(get_bulkhead("plain")) is Bulkhead
    environment.setenv("OUTLAST_REDIS_URL", redis_url)
    environment.setenv("OUTLAST_NAMESPACE", namespace)
    reload_settings()
    shared = get_bulkhead("shared")
    assert isinstance(shared, ClusterBulkhead)
    assert shared.lease_key == f"outlast:{{{namespace}:bh:shared}}"
    assert type(get_bulkhead("mine", scope="local")) is Bulkhead
    environment.setenv("OUTLAST_STATE_SCOPE", "local")
    reload_settings()
    assert type(get_bulkhead("still-local")) is Bulkhead
    assert isinstance(get_bulkhead("forced", scope="cluster"), ClusterBulkhead)


def test_cluster_scope_without_a_redis_url_names_the_setting(
    environment: pytest.MonkeyPatch,
) -> None:
    """Asking for a cluster bulkhead with no Redis configured is a ConfigurationError that
    says to set OUTLAST_REDIS_URL."""
    reload_settings()
    with pytest.raises(ConfigurationError, match="OUTLAST_REDIS_URL"):
        get_bulkhead("lonely", scope="cluster")
    with pytest.raises(ConfigurationError, match="scope"):
        get_bulkhead("odd", scope="galaxy")  # type: ignore[arg-type]


def test_lease_and_down_policy_come_from_the_settings(
    environment: pytest.MonkeyPatch, redis_url: str, namespace: str
) -> None:
    """OUTLAST_BULKHEAD_LEASE and OUTLAST_REDIS_DOWN_POLICY configure new cluster bulkheads."""
    environment.setenv("OUTLAST_REDIS_URL", redis_url)
    environment.setenv("OUTLAST_NAMESPACE", namespace)
    environment.setenv("OUTLAST_BULKHEAD_LEASE", "7.5")
    environment.setenv("OUTLAST_REDIS_DOWN_POLICY", "fail_closed")
    reload_settings()
    bulkhead = get_bulkhead("configured")
    assert isinstance(bulkhead, ClusterBulkhead)
    assert (bulkhead.lease_seconds, bulkhead.down_policy) == (7.5, "fail_closed")


# --- Redis down -----------------------------------------------------------------------


async def test_redis_stopped_mid_run_falls_back_locally_and_resumes_after_restart() -> None:
    """With its Redis stopped, a cluster bulkhead keeps admitting calls on a local ledger
    of the same capacity, without raising; once Redis is back, permits are leases again."""
    server = start_redis_server()
    try:
        link = RedisLink(server.url, namespace="outage", retry_interval=0.2)
        bulkhead = cluster(link, 2, timeout=0.05)

        @handle_errors(bulkhead=bulkhead)
        def guarded() -> str:
            return bulkhead.stats()["mode"]

        assert guarded() == "cluster"
        assert bulkhead.try_acquire()  # a lease, held across the outage
        server.stop()

        assert guarded() == "local-fallback"
        assert bulkhead.stats()["mode"] == "local-fallback"
        assert await bulkhead.acquire(timeout=0.05)  # local: the held lease counts too
        assert bulkhead.stats()["active_count"] == 2
        assert bulkhead.acquire_sync(timeout=0.05) is False
        bulkhead.release()  # the local permit
        bulkhead.release()  # the lease: Redis is gone, it would expire by itself

        restarted = start_redis_server(port=server.port)
        try:
            await asyncio.sleep(0.25)  # the link's retry interval
            assert bulkhead.try_acquire()
            assert bulkhead.stats()["mode"] == "cluster"
            assert live_leases(link, bulkhead) == 1
            bulkhead.release()
            assert live_leases(link, bulkhead) == 0
        finally:
            await link.async_client().aclose()
            link.close()
            restarted.stop()
    finally:
        server.stop()


@pytest.fixture
def dead_link() -> Iterator[RedisLink]:
    """A link to a port where nothing listens."""
    opened = RedisLink(f"redis://127.0.0.1:{free_port()}/0", namespace="nowhere")
    yield opened
    opened.close()


def test_fail_open_admits_every_call_while_redis_is_down(dead_link: RedisLink) -> None:
    """Under fail_open an unreachable Redis admits beyond capacity; releases balance."""
    bulkhead = cluster(dead_link, 1, down_policy="fail_open")
    assert [bulkhead.try_acquire() for _ in range(3)] == [True, True, True]
    stats = bulkhead.stats()
    assert (stats["mode"], stats["active_count"]) == ("fail-open", 3)
    for _ in range(3):
        bulkhead.release()
    with pytest.raises(RuntimeError):
        bulkhead.release()


def test_fail_closed_rejects_at_once_while_redis_is_down(dead_link: RedisLink) -> None:
    """Under fail_closed an unreachable Redis rejects every call without waiting."""
    bulkhead = cluster(dead_link, 3, down_policy="fail_closed")
    started = time.perf_counter()
    assert bulkhead.acquire_sync(timeout=5.0) is False
    assert time.perf_counter() - started < 2.0
    assert bulkhead.try_acquire() is False
    stats = bulkhead.stats()
    assert (stats["mode"], stats["total_rejected"], stats["active_count"]) == ("fail-closed", 1, 0)


def test_local_fallback_keeps_the_capacity_within_the_process(dead_link: RedisLink) -> None:
    """Under the default policy an unreachable Redis still caps this process at capacity."""
    bulkhead = cluster(dead_link, 2)
    assert [bulkhead.try_acquire() for _ in range(3)] == [True, True, False]
    assert bulkhead.stats()["mode"] == "local-fallback"
    bulkhead.release()
    bulkhead.release()
    assert bulkhead.stats()["active_count"] == 0
