"""A cluster bulkhead under a burst: real OS processes that start at one instant on a fresh
bulkhead never hold more than its capacity together, sync and async alike, and calls
admitted while Redis was down count against the capacity as soon as it answers again.

Unlike a breaker, a cluster bulkhead decides nothing from a cached view: every permit is
granted by one atomic Lua call, so a burst cannot overshoot before Redis answers. These
tests prove it from the outside: each caller counts itself in Redis once admitted and
uncounts itself before releasing, and the highest count seen must be exactly the capacity
(reached, never passed). Processes (``tests/_cluster_bulkhead_worker.py``) are released
together by one ``RPUSH`` that every one of them waits for with ``BLPOP``, and are killed by
pid at the end whatever happened.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

import _cluster_bulkhead_worker
from _child_lines import next_line
from _servers import delete_keys_with_prefix, start_redis_server
from outlast.config import BulkheadConfig
from outlast.resilience.bulkhead._redis_bulkhead import ClusterBulkhead, DownPolicy
from outlast.resilience.shared._redis_link import RedisLink

WORKER = Path(_cluster_bulkhead_worker.__file__).resolve()
PROCESS_TIMEOUT = 30.0


@pytest.fixture
def namespace(redis_client: redis.Redis) -> Iterator[str]:
    """A Redis namespace no other test uses; its keys are deleted afterwards."""
    name = f"outlast-test-{uuid.uuid4().hex[:12]}"
    yield name
    delete_keys_with_prefix(redis_client, f"outlast:{{{name}:")


class Burst:
    """Worker processes that burst on one bulkhead; each is killed by pid and reaped."""

    def __init__(self, redis_url: str, namespace: str, prefix: str) -> None:
        self.env = {**os.environ, "OUTLAST_REDIS_URL": redis_url, "OUTLAST_NAMESPACE": namespace}
        self.options: dict[str, Any] = {
            "name": f"burst-{uuid.uuid4().hex[:8]}",  # fresh: no process has used it
            "redis_url": redis_url,
            "inside_key": f"{prefix}inside",
            "peak_key": f"{prefix}peak",
            "go_key": f"{prefix}go",
        }
        self.processes: list[subprocess.Popen[str]] = []

    def run(self, client: redis.Redis, *setups: dict[str, Any]) -> list[dict[str, int]]:
        """Start one process per setup, release them all at once, return their summaries."""
        for setup in setups:
            self.processes.append(self._start({**self.options, **setup}))
        for process in self.processes:
            assert self._line(process) == "ready"
        client.rpush(self.options["go_key"], *["go"] * len(self.processes))
        return [json.loads(self._line(process)) for process in self.processes]

    def _start(self, options: dict[str, Any]) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, str(WORKER), "burst", json.dumps(options)],
            stdout=subprocess.PIPE,
            text=True,
            env=self.env,
        )

    def _line(self, process: subprocess.Popen[str]) -> str:
        """The worker's next line of output, within the process timeout."""
        return next_line(process, PROCESS_TIMEOUT)

    def __enter__(self) -> Burst:
        return self

    def __exit__(self, *exc_info: object) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=PROCESS_TIMEOUT)
            if process.stdout is not None:
                process.stdout.close()


def peak_and_leases(client: redis.Redis, burst: Burst, namespace: str) -> tuple[int, int, int]:
    """The most callers inside at once, the callers inside now, and the leases left."""
    options = burst.options
    leases = client.zcard(f"outlast:{{{namespace}:bh:{options['name']}}}")
    inside = int(client.get(options["inside_key"]) or 0)
    return int(client.get(options["peak_key"]) or 0), inside, leases


def sync_callers(capacity: int, *, wait: bool = True, callers: int = 8) -> dict[str, Any]:
    """A process of ``callers`` threads, 6 rounds each, holding a permit 10 ms."""
    return {"capacity": capacity, "callers": callers, "rounds": 6, "hold": 0.01, "wait": wait}


def async_callers(capacity: int, *, wait: bool = True, callers: int = 16) -> dict[str, Any]:
    """A process of ``callers`` coroutines on one loop, 6 rounds each, holding 10 ms."""
    return {**sync_callers(capacity, wait=wait, callers=callers), "async": True}


# --- bursts while Redis answers ---------------------------------------------------------


def test_two_processes_bursting_on_a_fresh_bulkhead_hold_exactly_its_capacity(
    redis_url: str, namespace: str, redis_client: redis.Redis, redis_key_prefix: str
) -> None:
    """Two processes x 8 threads released at one instant on a fresh capacity-4 bulkhead:
    every call gets through in turn, and at most 4 are ever inside together (4 reached)."""
    with Burst(redis_url, namespace, redis_key_prefix) as burst:
        summaries = burst.run(redis_client, sync_callers(4), sync_callers(4))
    assert summaries == [{"acquired": 48, "rejected": 0}] * 2
    assert peak_and_leases(redis_client, burst, namespace) == (4, 0, 0)


def test_a_burst_of_tries_without_waiting_never_overshoots_the_capacity(
    redis_url: str, namespace: str, redis_client: redis.Redis, redis_key_prefix: str
) -> None:
    """Two processes of 8 threads that only try (no waiting) on a fresh capacity-3 bulkhead:
    most are turned away, and never more than 3 are inside together (3 reached)."""
    with Burst(redis_url, namespace, redis_key_prefix) as burst:
        setups = [sync_callers(3, wait=False), sync_callers(3, wait=False)]
        summaries = burst.run(redis_client, *setups)
    assert all(summary["acquired"] + summary["rejected"] == 48 for summary in summaries)
    assert sum(summary["rejected"] for summary in summaries) > 0
    assert peak_and_leases(redis_client, burst, namespace) == (3, 0, 0)


def test_two_async_processes_bursting_hold_exactly_the_capacity(
    redis_url: str, namespace: str, redis_client: redis.Redis, redis_key_prefix: str
) -> None:
    """Two processes of 16 coroutines each (``async with`` and ``acquire``/``arelease``)
    released at one instant on a fresh capacity-5 bulkhead: all get through, at most 5 are
    inside together (5 reached)."""
    with Burst(redis_url, namespace, redis_key_prefix) as burst:
        summaries = burst.run(redis_client, async_callers(5), async_callers(5))
    assert summaries == [{"acquired": 96, "rejected": 0}] * 2
    assert peak_and_leases(redis_client, burst, namespace) == (5, 0, 0)


def test_an_async_burst_of_tries_without_waiting_never_overshoots(
    redis_url: str, namespace: str, redis_client: redis.Redis, redis_key_prefix: str
) -> None:
    """Two processes of 16 coroutines that only try (``acquire(timeout=0)``) on a fresh
    capacity-3 bulkhead: never more than 3 inside together (3 reached)."""
    with Burst(redis_url, namespace, redis_key_prefix) as burst:
        setups = [async_callers(3, wait=False), async_callers(3, wait=False)]
        summaries = burst.run(redis_client, *setups)
    assert all(summary["acquired"] + summary["rejected"] == 96 for summary in summaries)
    assert peak_and_leases(redis_client, burst, namespace) == (3, 0, 0)


def test_four_processes_sync_and_async_together_hold_exactly_the_capacity(
    redis_url: str, namespace: str, redis_client: redis.Redis, redis_key_prefix: str
) -> None:
    """Four processes (two of threads, two of coroutines) released at one instant on a
    fresh capacity-6 bulkhead: all get through, at most 6 inside together (6 reached)."""
    setups = [sync_callers(6), async_callers(6), sync_callers(6), async_callers(6)]
    with Burst(redis_url, namespace, redis_key_prefix) as burst:
        summaries = burst.run(redis_client, *setups)
    assert [summary["rejected"] for summary in summaries] == [0] * 4
    assert [summary["acquired"] for summary in summaries] == [48, 96, 48, 96]
    assert peak_and_leases(redis_client, burst, namespace) == (6, 0, 0)


# --- calls admitted while Redis was down ------------------------------------------------


def cluster(link: RedisLink, capacity: int, down_policy: DownPolicy) -> ClusterBulkhead:
    """A capacity-``capacity`` cluster bulkhead on ``link`` with a 0.6 s lease."""
    return ClusterBulkhead(
        "resync",
        config=BulkheadConfig(capacity=capacity, timeout=0.05),
        link=link,
        lease=0.6,
        down_policy=down_policy,
    )


def wait_for_leases(link: RedisLink, bulkhead: ClusterBulkhead, count: int) -> int:
    """The live leases once there are ``count`` (or after 3 s, whatever there are)."""
    deadline = time.monotonic() + 3.0
    while (leases := int(link.client.zcard(bulkhead.lease_key))) != count:
        if time.monotonic() > deadline:
            break
        time.sleep(0.01)
    return leases


@pytest.mark.parametrize("down_policy", ["local", "fail_open"])
def test_calls_admitted_while_redis_was_down_count_once_it_answers(
    down_policy: DownPolicy,
) -> None:
    """Two permits taken while Redis was down are written as leases by the renewer once it
    is back, so another process is refused while those calls run, and admitted after."""
    server = start_redis_server()
    links = [RedisLink(server.url, namespace="resync", retry_interval=0.1) for _ in range(2)]
    mine, theirs = cluster(links[0], 2, down_policy), cluster(links[1], 2, down_policy)
    try:
        server.stop()
        assert mine.try_acquire()
        assert mine.try_acquire()
        assert mine.stats()["mode"] != "cluster"
        restarted = start_redis_server(port=server.port)
        try:
            assert wait_for_leases(links[0], mine, 2) == 2
            assert theirs.try_acquire() is False
            mine.release()
            mine.release()
            assert wait_for_leases(links[0], mine, 0) == 0
            assert theirs.try_acquire()
            theirs.release()
        finally:
            restarted.stop()
    finally:
        server.stop()
        for link in links:
            link.close()


def test_a_process_counts_its_own_fallback_calls_before_taking_a_lease() -> None:
    """Right after Redis returns, a process that still runs calls admitted on its local
    ledger writes them before asking for a lease: it is refused while they fill the
    capacity, and the other process too."""
    server = start_redis_server()
    links = [RedisLink(server.url, namespace="resync", retry_interval=0.1) for _ in range(2)]
    mine, theirs = cluster(links[0], 2, "local"), cluster(links[1], 2, "local")
    try:
        server.stop()
        assert mine.try_acquire()
        assert mine.try_acquire()
        restarted = start_redis_server(port=server.port)
        try:
            time.sleep(0.15)  # the link's retry interval
            assert mine.try_acquire() is False
            assert mine.stats()["mode"] == "cluster"
            assert theirs.try_acquire() is False
            assert int(links[0].client.zcard(mine.lease_key)) == 2
            mine.release()
            assert theirs.try_acquire()
            theirs.release()
            mine.release()
            assert int(links[0].client.zcard(mine.lease_key)) == 0
        finally:
            restarted.stop()
    finally:
        server.stop()
        for link in links:
            link.close()


async def test_an_async_caller_counts_its_process_fallback_calls_before_its_lease() -> None:
    """The async path too: right after Redis returns, ``await acquire`` first writes the
    calls admitted on the local ledger, so it is refused while they fill the capacity."""
    server = start_redis_server()
    link = RedisLink(server.url, namespace="resync", retry_interval=0.1)
    mine = cluster(link, 2, "local")
    try:
        server.stop()
        assert await mine.acquire(timeout=0)
        assert await mine.acquire(timeout=0)
        restarted = start_redis_server(port=server.port)
        try:
            await asyncio.sleep(0.15)  # the link's retry interval
            assert await mine.acquire(timeout=0) is False
            assert mine.stats()["mode"] == "cluster"
            assert int(link.client.zcard(mine.lease_key)) == 2
            await mine.arelease()
            assert await mine.acquire(timeout=0)
            await mine.arelease()
            await mine.arelease()
            assert int(link.client.zcard(mine.lease_key)) == 0
        finally:
            await link.aclose()
            restarted.stop()
    finally:
        server.stop()
        link.close()


#: Keeps the Redis server busy (a script blocks every other client) for ARGV[1] microseconds.
BUSY = """
local start = redis.call('TIME')
repeat
  local now = redis.call('TIME')
until (now[1] - start[1]) * 1000000 + now[2] - start[2] > tonumber(ARGV[1])
return 1
"""


@contextlib.contextmanager
def a_lost_grant(
    down_policy: DownPolicy, *, lease: float
) -> Iterator[tuple[ClusterBulkhead, bool]]:
    """A capacity-1 bulkhead on a Redis of its own that was too busy to answer one grant in
    time but carried it out after the caller gave up: yields the bulkhead and whether that
    caller was admitted anyway (by the down policy). The lease is in Redis, held by nobody."""
    server = start_redis_server()
    link = RedisLink(server.url, namespace="lost", socket_timeout=0.1, retry_interval=0.05)
    bulkhead, warm = (
        ClusterBulkhead(
            name,
            config=BulkheadConfig(capacity=1, timeout=0.05),
            link=link,
            lease=lease,
            down_policy=down_policy,
        )
        for name in ("lost", "warm")
    )
    blocker = redis.Redis.from_url(server.url)
    busy = threading.Thread(target=lambda: blocker.eval(BUSY, 0, 400_000))
    try:
        assert warm.try_acquire()  # connected, and the grant script loaded
        warm.release()
        busy.start()
        time.sleep(0.05)  # the busy script runs
        admitted = bulkhead.try_acquire()  # sent, then given up after 0.1 s
        busy.join()
        assert admitted is (down_policy == "local")
        assert wait_for_leases(link, bulkhead, 1) == 1  # granted after all, to nobody
        yield bulkhead, admitted
    finally:
        if busy.is_alive():
            busy.join()
        blocker.close()
        link.close()
        server.stop()


@pytest.mark.parametrize("down_policy", ["fail_closed", "local"])
def test_a_grant_whose_answer_never_came_does_not_hold_a_permit_for_nobody(
    down_policy: DownPolicy,
) -> None:
    """A grant that Redis carried out after its caller gave up waiting holds a permit for
    nobody; the next grant once Redis answers removes it first, so the permit is free at
    once rather than one lease time (30 s) later."""
    with a_lost_grant(down_policy, lease=30.0) as (bulkhead, admitted):
        if admitted:
            bulkhead.release()
        time.sleep(0.1)  # the link's retry interval
        assert bulkhead.try_acquire() is True
        assert wait_for_leases(bulkhead.link, bulkhead, 1) == 1
        bulkhead.release()
        assert wait_for_leases(bulkhead.link, bulkhead, 0) == 0


def test_the_renewer_removes_a_lost_grant_when_nobody_asks_again() -> None:
    """With nobody asking for a permit after it, a grant whose answer was lost is removed by
    the renewer (it wakes every second for a 6 s lease) well before the lease would end."""
    with a_lost_grant("fail_closed", lease=6.0) as (bulkhead, _):
        started = time.monotonic()
        assert wait_for_leases(bulkhead.link, bulkhead, 0) == 0
        assert time.monotonic() - started < 3.0
