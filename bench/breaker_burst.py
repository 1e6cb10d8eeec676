"""How many calls of a burst of failures reach the service before a breaker stops them.

For N = 1, 2 and 4 cold processes sharing one fresh breaker (``failure_threshold=5``), each
calls a failing async service back to back for 0.5 s, all starting together. Printed per N:
the calls that reached the service with ``scope="local"`` breakers (one per process, so
N x 5), with one ``scope="cluster"`` breaker, and the bound N x threshold a cluster breaker
must stay within (each process opens on its own fifth failure at the latest).

Run: ``OUTLAST_BENCH_REDIS_URL=redis://127.0.0.1:6379/0 .venv/bin/python bench/breaker_burst.py``
(the URL defaults to that value; add ``--rounds K`` to repeat each row and print the worst).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import sys
import time
import uuid
from multiprocessing.synchronize import Barrier
from typing import Any, Literal

import redis

REDIS_URL = os.environ.get("OUTLAST_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
NAMESPACE = f"bench-burst-{uuid.uuid4().hex[:8]}"
THRESHOLD = 5
SECONDS = 0.5
PROCESSES = (1, 2, 4)
Scope = Literal["local", "cluster"]
ROUNDS = int(sys.argv[sys.argv.index("--rounds") + 1]) if "--rounds" in sys.argv else 1


class Down(Exception):
    """The failing service's error."""


def hammer_in_process(scope: Scope, name: str, start: Barrier, results: Any) -> None:
    """In a fresh process: make the breaker, wait for the others, hammer, report."""
    logging.disable(logging.WARNING)  # one "closed -> open" line per process, per row
    os.environ["OUTLAST_REDIS_URL"] = REDIS_URL
    os.environ["OUTLAST_NAMESPACE"] = NAMESPACE
    from outlast import get_circuit_breaker

    breaker = get_circuit_breaker(
        name, scope=scope, failure_threshold=THRESHOLD, recovery_timeout=60.0
    )
    start.wait()
    results.put(asyncio.run(_hammer(breaker)))


async def _hammer(breaker: Any) -> int:
    """Calls that reached a failing async service in SECONDS of back-to-back calls."""
    from outlast.errors import CircuitBreakerOpenError

    reached = 0

    async def service() -> None:
        nonlocal reached
        reached += 1
        raise Down("down")

    deadline = time.monotonic() + SECONDS
    while time.monotonic() < deadline:
        with contextlib.suppress(Down, CircuitBreakerOpenError):
            await breaker.call(service)
    return reached


def burst(scope: Scope, processes: int) -> int:
    """Calls that reached the service from ``processes`` processes on one fresh breaker."""
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(processes + 1)
    results = context.Queue()
    name = f"burst-{uuid.uuid4().hex[:8]}"
    workers = [
        context.Process(target=hammer_in_process, args=(scope, name, start, results))
        for _ in range(processes)
    ]
    for worker in workers:
        worker.start()
    try:
        start.wait(timeout=60.0)
        return sum(results.get(timeout=30.0) for _ in workers)
    finally:
        for worker in workers:
            worker.join(10.0)
            if worker.is_alive():
                worker.kill()
                worker.join()


def main() -> None:
    print(f"threshold {THRESHOLD}, {SECONDS} s of back-to-back failing async calls per process")
    print(f"{'processes':>9}  {'local':>5}  {'cluster':>7}  {'bound N x threshold':>19}")
    for count in PROCESSES:
        local = max(burst("local", count) for _ in range(ROUNDS))
        cluster = max(burst("cluster", count) for _ in range(ROUNDS))
        print(f"{count:>9}  {local:>5}  {cluster:>7}  {count * THRESHOLD:>19}")
    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter(f"*{NAMESPACE}*"):
        client.delete(key)
    client.close()


if __name__ == "__main__":
    main()
