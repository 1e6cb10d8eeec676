"""Cluster-scope breakers and bulkheads on a Sentinel-watched master and on a Redis Cluster:
the ``redis+sentinel://`` and ``redis+cluster://`` URLs reach redis-py, and through them a
trip is seen by another OS process and by pub/sub, the pipelined and async paths work, a
bulkhead holds its capacity across processes and renews its leases, scripts are reloaded into
a node that lost them, a topology that does not answer never raises into a caller, and a
breaker rides out a Sentinel failover.

The topologies (``tests/_redis_topologies.py``) are real processes on free ports, started once
for the module (the failover test starts its own) and stopped by pid. Time here is Redis
server time and real concurrency, so the tests use short real timeouts and bounded polling.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

import _cluster_bulkhead_worker
from _cluster_breaker_support import cluster_breaker, unique_namespace, wait_until
from _cluster_breaker_worker import BreakerProcess
from _redis_topologies import (
    ClusterTopology,
    SentinelTopology,
    Topology,
    redis_cluster,
    sentinel_topology,
)
from _servers import free_port
from outlast.config import BulkheadConfig, reload_settings
from outlast.resilience.breaker._breaker import CircuitBreaker
from outlast.resilience.breaker._breaker_registry import get_circuit_breaker
from outlast.resilience.bulkhead._bulkhead_registry import get_bulkhead
from outlast.resilience.bulkhead._redis_bulkhead import ClusterBulkhead
from outlast.resilience.shared._lease_renewer import renewer_for, stop_lease_renewers
from outlast.resilience.shared._redis_link import RedisLink, link_for
from outlast.resilience.shared._state_sync import stop_state_sync

BULKHEAD_WORKER = Path(_cluster_bulkhead_worker.__file__).resolve()
PROCESS_TIMEOUT = 20.0
LEASE = 0.6  # seconds: short, so a test can outlive a lease twice over


class Boom(Exception):
    """The failure the protected functions raise."""


def explode() -> None:
    raise Boom("down")


async def answer() -> int:
    return 42


def fail(breaker: CircuitBreaker, times: int) -> None:
    for _ in range(times):
        with pytest.raises(Boom):
            breaker.call_sync(explode)


# -- topologies and links ----------------------------------------------------------------


@pytest.fixture(scope="module")
def sentinel() -> Iterator[SentinelTopology]:
    """A master, its replica and a sentinel, for the whole module."""
    with sentinel_topology() as running:
        yield running


@pytest.fixture(scope="module")
def cluster() -> Iterator[ClusterTopology]:
    """A three-master Redis Cluster, for the whole module."""
    with redis_cluster() as running:
        yield running


@pytest.fixture(params=["sentinel", "cluster"])
def topology(request: pytest.FixtureRequest) -> Topology:
    """Each topology in turn."""
    running: Topology = request.getfixturevalue(request.param)
    return running


@pytest.fixture
def links(topology: Topology) -> Iterator[Callable[..., RedisLink]]:
    """Makes links to the topology under one fresh namespace, as separate processes would
    have; afterwards their threads stop and their sync clients close (a test closes the
    async clients it used on its own loop)."""
    namespace = unique_namespace()
    made: list[RedisLink] = []

    def make(**options: Any) -> RedisLink:
        link = RedisLink(topology.url, namespace=namespace, **options)
        made.append(link)
        return link

    yield make
    for link in made:
        stop_state_sync(link)
        link.close()


@pytest.fixture
def configured(monkeypatch: pytest.MonkeyPatch, topology: Topology) -> Iterator[dict[str, str]]:
    """Settings point at the topology (``OUTLAST_REDIS_URL``) under a fresh namespace, with
    a short bulkhead lease; yields that environment. Afterwards the link ``get_*`` made is
    stopped and closed."""
    env = {
        "OUTLAST_REDIS_URL": topology.url,
        "OUTLAST_NAMESPACE": unique_namespace(),
        "OUTLAST_BULKHEAD_LEASE": str(LEASE),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    reload_settings()
    yield env
    link = link_for(topology.url, env["OUTLAST_NAMESPACE"])
    stop_state_sync(link)
    stop_lease_renewers()
    link.close()


def subscribers(topology: Topology, channel: str) -> int:
    """How many connections listen on ``channel``, summed over the primaries."""
    clients = topology.primaries()
    try:
        return sum(int(client.pubsub_numsub(channel)[0][1]) for client in clients)
    finally:
        for client in clients:
            client.close()


# -- worker processes --------------------------------------------------------------------


@pytest.fixture
def breaker_processes() -> Iterator[list[BreakerProcess]]:
    """Breaker worker processes a test starts; each is stopped (or killed) afterwards."""
    started: list[BreakerProcess] = []
    yield started
    for process in started:
        process.close()


@pytest.fixture
def holders() -> Iterator[list[subprocess.Popen[str]]]:
    """Bulkhead worker processes a test starts; each is killed by pid and reaped."""
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=PROCESS_TIMEOUT)
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                stream.close()


def start_holder(
    holders: list[subprocess.Popen[str]], env: dict[str, str], **options: Any
) -> subprocess.Popen[str]:
    """A process that takes one permit from ``get_bulkhead`` (configured by ``env``)."""
    process = subprocess.Popen(
        [sys.executable, str(BULKHEAD_WORKER), "hold", json.dumps(options)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, **env},
    )
    holders.append(process)
    return process


def read_line(process: subprocess.Popen[str]) -> str:
    """The worker's next line of output, within the process timeout."""
    stdout = process.stdout
    assert stdout is not None
    lines: list[str] = []
    # A daemon: if the worker hangs, killing it at teardown ends the read and the thread.
    reader = threading.Thread(target=lambda: lines.append(stdout.readline()), daemon=True)
    reader.start()
    reader.join(PROCESS_TIMEOUT)
    assert lines, f"worker {process.pid} said nothing within {PROCESS_TIMEOUT} s"
    return lines[0].strip()


# -- the URL reaches redis-py --------------------------------------------------------------


def test_a_sentinel_url_talks_to_the_master_the_sentinel_names(
    sentinel: SentinelTopology,
) -> None:
    """A redis+sentinel:// link asks the sentinel for the master and writes there."""
    link = RedisLink(sentinel.url, namespace=unique_namespace())
    try:
        assert int(link.client.info("server")["tcp_port"]) == sentinel.master_port()
        assert link.client.info("replication")["role"] == "master"
    finally:
        link.close()


def test_a_cluster_url_discovers_every_node(cluster: ClusterTopology) -> None:
    """A redis+cluster:// link naming one node is a cluster client that knows all three."""
    link = RedisLink(cluster.url, namespace=unique_namespace())
    try:
        assert isinstance(link.client, redis.cluster.RedisCluster)
        primaries = {node.port for node in link.client.get_primaries()}  # type: ignore[no-untyped-call]
        assert primaries == {node.port for node in cluster.nodes}
    finally:
        link.close()


# -- cluster breakers ------------------------------------------------------------------------


def test_failures_trip_the_breaker_and_another_process_sees_it_open(
    configured: dict[str, str], breaker_processes: list[BreakerProcess]
) -> None:
    """Failures in this process open the breaker, configured through OUTLAST_REDIS_URL, in a
    separate OS process too, which then rejects calls."""
    other = BreakerProcess(
        configured["OUTLAST_REDIS_URL"],
        configured["OUTLAST_NAMESPACE"],
        failure_threshold=3,
        recovery_timeout=30.0,
    )
    breaker_processes.append(other)
    assert other.ready() == "closed"
    breaker = get_circuit_breaker("shared", failure_threshold=3, recovery_timeout=30.0)
    assert breaker.stats()["scope"] == "cluster"
    other.send("wait_state", "open", 5.0)

    fail(breaker, 3)

    assert other.receive() is not None
    [(outcome, _)] = other.ask("calls", ["ok"])
    assert outcome == "rejected"
    assert breaker.stats()["mode"] == "cluster"


def test_the_listener_hears_a_trip_through_the_topology(
    topology: Topology, links: Callable[..., RedisLink]
) -> None:
    """A published trip reaches a breaker on another link through its pub/sub listener,
    long before its next periodic read (60 s away): PUBLISH from the Lua script reaches a
    subscriber on any node."""
    watcher, _ = cluster_breaker(
        links(), failure_threshold=2, backend_options={"sync_interval": 60.0}
    )
    tripping_link = links()
    wait_until(lambda: subscribers(topology, tripping_link.channel("cb")) >= 1)
    time.sleep(0.1)  # the read that follows subscribing is done: only pub/sub can tell now
    breaker, _ = cluster_breaker(tripping_link, failure_threshold=2)
    assert watcher.state == "closed"

    fail(breaker, 2)

    assert wait_until(lambda: watcher.state == "open", timeout=2.0) < 1.0


async def test_async_admission_runs_over_the_async_client(
    links: Callable[..., RedisLink],
) -> None:
    """After the open period an awaited call is admitted as the probe by the ADMIT script over
    redis.asyncio (a cluster or sentinel client); its success closes the breaker."""
    link = links()
    breaker, _ = cluster_breaker(link, failure_threshold=2, recovery_timeout=0.2)
    fail(breaker, 2)
    wait_until(lambda: breaker.state == "open")
    await asyncio.sleep(breaker.retry_after + 0.02)

    assert await breaker.call(answer) == 42

    wait_until(lambda: breaker.state == "closed")  # the flusher writes the probe's success
    await link.aclose()


def test_scripts_are_reloaded_into_a_node_that_lost_them(
    topology: Topology, links: Callable[..., RedisLink]
) -> None:
    """After SCRIPT FLUSH on every primary, the pipelined breaker flush, the bulkhead's
    acquire and the pipelined lease renewal load their scripts again and work."""
    link = links()
    breaker, state = cluster_breaker(link, failure_threshold=2)
    bulkhead = ClusterBulkhead("reports", link=link, config=BulkheadConfig(capacity=1), lease=LEASE)
    _flush_scripts(topology)

    fail(breaker, 2)
    assert state.flush()
    assert breaker.state == "open"
    assert bulkhead.try_acquire() is True
    _flush_scripts(topology)
    time.sleep(LEASE / 3)  # the lease is now due for renewal
    renewer_for(link).renew_due()

    scores = link.client.zrange(bulkhead.lease_key, 0, -1, withscores=True)
    seconds, micros = link.client.time()
    assert len(scores) == 1
    assert scores[0][1] > seconds * 1000 + micros / 1000 + LEASE * 1000 * 0.9
    bulkhead.release()


def _flush_scripts(topology: Topology) -> None:
    clients = topology.primaries()
    for client in clients:
        client.script_flush()
        client.close()


# -- cluster bulkheads -----------------------------------------------------------------------


def test_the_bulkhead_holds_its_capacity_across_processes_and_renews_leases(
    configured: dict[str, str], holders: list[subprocess.Popen[str]]
) -> None:
    """With another process holding one of two permits, this process gets the second and is
    refused a third; past twice the lease time both leases are still live (renewed in both
    processes); once the other process releases, its permit is free again."""
    holder = start_holder(holders, configured, name="reports", capacity=2, seconds=3 * LEASE)
    assert read_line(holder) == "ready"
    assert read_line(holder) == "held"
    bulkhead = get_bulkhead("reports", capacity=2)
    assert isinstance(bulkhead, ClusterBulkhead)

    assert bulkhead.try_acquire() is True
    assert bulkhead.try_acquire() is False
    assert bulkhead.acquire_sync(timeout=0.05) is False
    time.sleep(2 * LEASE)
    stats = bulkhead.stats()
    assert (stats["active_count"], stats["mode"]) == (2, "cluster")
    assert bulkhead.try_acquire() is False

    assert read_line(holder) == "released"
    assert bulkhead.try_acquire() is True
    bulkhead.release()
    bulkhead.release()
    assert bulkhead.stats()["active_count"] == 0


async def test_the_async_bulkhead_path_shares_the_capacity(
    links: Callable[..., RedisLink],
) -> None:
    """``async with`` on one link takes the only permit over redis.asyncio; a bulkhead on
    another link waits in vain meanwhile and gets it right after."""
    first_link, second_link = links(), links()
    config = BulkheadConfig(capacity=1)
    first = ClusterBulkhead("exports", link=first_link, config=config, lease=LEASE)
    second = ClusterBulkhead("exports", link=second_link, config=config, lease=LEASE)

    async with first:
        assert await second.acquire(timeout=0.05) is False
    assert await second.acquire(timeout=0) is True
    await second.arelease()

    await first_link.aclose()
    await second_link.aclose()


# -- a topology that does not answer -----------------------------------------------------------


@pytest.mark.parametrize(
    "scheme", ["redis+cluster://127.0.0.1:{}", "redis+sentinel://127.0.0.1:{}/svc"]
)
def test_a_topology_that_does_not_answer_never_raises_into_a_caller(scheme: str) -> None:
    """With nothing listening (no cluster node, no sentinel), a breaker and a bulkhead fall
    back to local state at once: calls run, permits are local, nothing raises, and no
    caller waits out redis-py's own retries."""
    link = RedisLink(scheme.format(free_port()), namespace=unique_namespace())
    try:
        started = time.monotonic()
        breaker, _ = cluster_breaker(link, failure_threshold=2)
        bulkhead = ClusterBulkhead("reports", link=link, config=BulkheadConfig(capacity=1))

        assert breaker.call_sync(int, "7") == 7
        assert bulkhead.try_acquire() is True
        assert bulkhead.try_acquire() is False

        assert breaker.stats()["mode"] == "local-fallback"
        assert bulkhead.stats()["mode"] == "local-fallback"
        assert time.monotonic() - started < 2 * link.socket_timeout
        bulkhead.release()
    finally:
        stop_state_sync(link)
        link.close()


# -- sentinel failover -------------------------------------------------------------------------


def test_a_breaker_rides_out_a_sentinel_failover() -> None:
    """When the master dies, calls keep running on local state; once the sentinel promotes
    the replica the breaker returns to cluster mode, and a trip is written to the new master
    and seen by another link. Afterwards every process of the topology has exited."""
    with sentinel_topology() as topology:
        namespace = unique_namespace()
        link = RedisLink(topology.url, namespace=namespace, retry_interval=0.2)
        other_link = RedisLink(topology.url, namespace=namespace, retry_interval=0.2)
        try:
            breaker, _ = cluster_breaker(link, failure_threshold=3, recovery_timeout=30.0)
            watcher, _ = cluster_breaker(other_link, failure_threshold=3, recovery_timeout=30.0)
            assert breaker.stats()["mode"] == "cluster"

            topology.master.stop()
            wait_until(lambda: _succeeds(breaker) and breaker.stats()["mode"] == "local-fallback")
            wait_until(lambda: topology.master_port() == topology.replica.port, timeout=15.0)
            wait_until(lambda: _succeeds(breaker) and breaker.stats()["mode"] == "cluster")

            fail(breaker, 3)
            wait_until(lambda: watcher.state == "open")
            new_master = redis.Redis(port=topology.replica.port)
            assert new_master.hget(link.key("cb", "svc"), "state") == b"open"
            new_master.close()
        finally:
            for each in (link, other_link):
                stop_state_sync(each)
                each.close()
    assert not any(s.running for s in (topology.master, topology.replica, topology.sentinel))


def _succeeds(breaker: CircuitBreaker) -> bool:
    """One successful call through ``breaker`` (it must never raise, Redis or not)."""
    return breaker.call_sync(int, "1") == 1
