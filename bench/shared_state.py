"""Shared-state costs in one run against one Redis: breakers and bulkheads in cluster scope.

Rows: the closed-state success path per call of a cluster-scope breaker (also with a
failure-rate rule over a count window), a local breaker, pybreaker with
``CircuitRedisStorage`` and a bare Redis PING; a cluster bulkhead
acquire/release pair; and the delay before another process sees a trip. Target: the
cluster breaker's success path at most 0.05x pybreaker-with-Redis, propagation < 250 ms.

Run: ``OUTLAST_BENCH_REDIS_URL=redis://127.0.0.1:6379/0 .venv/bin/python bench/shared_state.py``
(the URL defaults to that value; add ``--quick`` for a short run).
"""

from __future__ import annotations

import contextlib
import os
import statistics
import subprocess
import sys
import time
import timeit
import uuid
from collections.abc import Callable

import pybreaker
import redis

REDIS_URL = os.environ.get("OUTLAST_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
NAMESPACE = f"bench-{uuid.uuid4().hex[:8]}"
os.environ["OUTLAST_REDIS_URL"] = REDIS_URL
os.environ["OUTLAST_NAMESPACE"] = NAMESPACE

from outlast import CircuitBreakerConfig, get_bulkhead, get_circuit_breaker  # noqa: E402

QUICK = "--quick" in sys.argv
FAST_CALLS = 20_000 if QUICK else 200_000
SLOW_CALLS = 300 if QUICK else 2_000
ROUNDS = 3 if QUICK else 10

WATCHER = """
import os, sys, time
from outlast import get_circuit_breaker
cb = get_circuit_breaker(sys.argv[1], scope="cluster", failure_threshold=1, recovery_timeout=60)
print("ready", flush=True)
deadline = time.time() + 10
while cb.state != "open" and time.time() < deadline:
    time.sleep(0.0005)
print(time.time(), flush=True)
"""


def per_call(fn: Callable[[], object], number: int) -> float:
    """Best microseconds per call over three runs of ``number`` calls."""
    return min(timeit.repeat(fn, number=number, repeat=3)) / number * 1e6


def bare() -> int:
    return 1


def propagation_delay(name: str) -> float:
    """Seconds between a trip here and another process seeing the breaker open."""
    watcher = subprocess.Popen(
        [sys.executable, "-c", WATCHER, name],
        stdout=subprocess.PIPE,
        text=True,
        env=os.environ.copy(),
    )
    assert watcher.stdout is not None
    try:
        assert watcher.stdout.readline().strip() == "ready"
        breaker = get_circuit_breaker(name, scope="cluster", failure_threshold=1)
        tripped = time.time()
        with contextlib.suppress(ConnectionError):
            breaker.call_sync(_fail)
        seen = float(watcher.stdout.readline())
        return seen - tripped
    finally:
        watcher.kill()
        watcher.wait()


def _fail() -> None:
    raise ConnectionError("down")


def main() -> None:
    client = redis.Redis.from_url(REDIS_URL)
    storage = pybreaker.CircuitRedisStorage(pybreaker.STATE_CLOSED, client, namespace=NAMESPACE)
    pb = pybreaker.CircuitBreaker(fail_max=5, reset_timeout=60, state_storage=storage)
    cluster = get_circuit_breaker(
        "bench-cluster", scope="cluster", config=CircuitBreakerConfig(failure_threshold=5)
    )
    windowed = get_circuit_breaker(
        "bench-cluster-window",
        scope="cluster",
        config=CircuitBreakerConfig(failure_rate_threshold=50.0, window_size=100),
    )
    local = get_circuit_breaker("bench-local", scope="local")
    bulkhead = get_bulkhead("bench-bulkhead", capacity=5, scope="cluster")

    def bulkhead_pair() -> None:
        bulkhead.acquire_sync()
        bulkhead.release()

    rows = {
        "bare Redis PING": per_call(client.ping, SLOW_CALLS),
        "pybreaker + CircuitRedisStorage call": per_call(lambda: pb.call(bare), SLOW_CALLS),
        "outlast local breaker call_sync": per_call(lambda: local.call_sync(bare), FAST_CALLS),
        "outlast cluster breaker call_sync": per_call(lambda: cluster.call_sync(bare), FAST_CALLS),
        "outlast cluster breaker call_sync, count window": per_call(
            lambda: windowed.call_sync(bare), FAST_CALLS
        ),
        "outlast cluster bulkhead acquire+release": per_call(bulkhead_pair, SLOW_CALLS),
    }
    width = max(map(len, rows))
    for label, micros in rows.items():
        print(f"{label:<{width}}  {micros:10.3f} us")
    ratio = rows["outlast cluster breaker call_sync"] / rows["pybreaker + CircuitRedisStorage call"]
    print(f"{'cluster breaker / pybreaker+Redis':<{width}}  {ratio:10.4f}x  target <= 0.05")
    delays = [propagation_delay(f"bench-trip-{i}") * 1000 for i in range(ROUNDS)]
    print(
        f"{'trip propagation to another process':<{width}}  "
        f"median {statistics.median(delays):.1f} ms, max {max(delays):.1f} ms "
        f"over {ROUNDS} rounds  target < 250 ms"
    )
    for key in client.scan_iter(f"*{NAMESPACE}*"):
        client.delete(key)


if __name__ == "__main__":
    main()
