"""A separate OS process that uses a cluster bulkhead, for the multi-process tests.

Run as ``python tests/_cluster_bulkhead_worker.py <mode> <json arguments>`` with
``OUTLAST_REDIS_URL``, ``OUTLAST_NAMESPACE`` and ``OUTLAST_BULKHEAD_LEASE`` in the
environment, so the bulkhead comes from ``get_bulkhead`` exactly as an application gets it.
Every mode prints ``ready`` once its bulkhead exists, then reports on stdout, one line each:

- ``contend``: waits for a line on stdin (the start signal), then ``threads`` threads take
  the permit ``rounds`` times each; inside, a Lua script counts the callers inside in Redis
  and keeps the highest count seen (``inside_key``, ``peak_key``). Prints a JSON summary.
- ``burst``: builds a fresh bulkhead (no Redis call yet), readies ``callers`` threads (or,
  with ``"async": true``, coroutines on one event loop), prints ``ready`` and blocks on
  ``BLPOP go_key``: the test pushes one item per process at once, so every process starts
  at the same instant with a cold bulkhead. Each caller then takes the permit ``rounds``
  times (waiting for it, or with ``"wait": false`` only trying), counting callers inside as
  ``contend`` does. Prints a JSON summary.
- ``hold``: takes one permit, prints ``held``, holds it ``seconds`` (forever if absent; the
  test then SIGKILLs it), releases it and prints ``released``.

It sleeps for real: real concurrency between processes is what the tests prove.
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import time
from typing import Any

import redis
import redis.asyncio

from outlast.resilience import get_bulkhead

ENTER = """
local inside = redis.call('INCR', KEYS[1])
if inside > tonumber(redis.call('GET', KEYS[2]) or '0') then
  redis.call('SET', KEYS[2], inside)
end
return inside
"""


def contend(options: dict[str, Any]) -> dict[str, int]:
    """Many threads take and release the bulkhead, counting concurrency in Redis."""
    bulkhead = get_bulkhead(options["name"], capacity=options["capacity"], timeout=20.0)
    client = redis.Redis.from_url(options["redis_url"])
    enter = client.register_script(ENTER)
    keys = [options["inside_key"], options["peak_key"]]
    totals = {"acquired": 0, "rejected": 0}
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(options["rounds"]):
            if not bulkhead.acquire_sync():
                with lock:
                    totals["rejected"] += 1
                continue
            try:
                enter(keys=keys)
                try:
                    time.sleep(options["hold"])
                finally:
                    client.decr(options["inside_key"])
            finally:
                bulkhead.release()
            with lock:
                totals["acquired"] += 1

    print("ready", flush=True)
    sys.stdin.readline()
    threads = [threading.Thread(target=worker) for _ in range(options["threads"])]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    client.close()
    return totals


def burst(options: dict[str, Any]) -> dict[str, int]:
    """Callers that start at one instant across processes take and release the bulkhead."""
    bulkhead = get_bulkhead(options["name"], capacity=options["capacity"], timeout=20.0)
    if options.get("async"):
        return asyncio.run(_burst_async(bulkhead, options))
    client = redis.Redis.from_url(options["redis_url"])
    enter = client.register_script(ENTER)
    keys = [options["inside_key"], options["peak_key"]]
    take = bulkhead.acquire_sync if options["wait"] else bulkhead.try_acquire
    totals = {"acquired": 0, "rejected": 0}
    lock = threading.Lock()
    go = threading.Event()

    def caller() -> None:
        go.wait()
        for _ in range(options["rounds"]):
            if not take():
                with lock:
                    totals["rejected"] += 1
                continue
            try:
                enter(keys=keys)
                time.sleep(options["hold"])
                client.decr(options["inside_key"])
            finally:
                bulkhead.release()
            with lock:
                totals["acquired"] += 1

    threads = [threading.Thread(target=caller) for _ in range(options["callers"])]
    for thread in threads:
        thread.start()
    print("ready", flush=True)
    client.blpop([options["go_key"]], timeout=30)
    go.set()
    for thread in threads:
        thread.join()
    client.close()
    return totals


async def _burst_async(bulkhead: Any, options: dict[str, Any]) -> dict[str, int]:
    """``burst`` with coroutines: half use ``async with``, half ``acquire``/``arelease``."""
    client = redis.asyncio.Redis.from_url(options["redis_url"])
    enter = client.register_script(ENTER)
    keys = [options["inside_key"], options["peak_key"]]
    timeout = None if options["wait"] else 0
    totals = {"acquired": 0, "rejected": 0}
    go = asyncio.Event()

    async def inside() -> None:
        await enter(keys=keys)
        await asyncio.sleep(options["hold"])
        await client.decr(options["inside_key"])

    async def caller(number: int) -> None:
        await go.wait()
        for _ in range(options["rounds"]):
            if number % 2 and options["wait"]:
                async with bulkhead:
                    await inside()
            elif await bulkhead.acquire(timeout=timeout):
                try:
                    await inside()
                finally:
                    await bulkhead.arelease()
            else:
                totals["rejected"] += 1
                continue
            totals["acquired"] += 1

    callers = [asyncio.create_task(caller(number)) for number in range(options["callers"])]
    await asyncio.sleep(0)  # every caller now waits for the start
    print("ready", flush=True)
    await client.blpop([options["go_key"]], timeout=30)
    go.set()
    await asyncio.gather(*callers)
    await client.aclose()
    await bulkhead.link.aclose()
    return totals


def hold(options: dict[str, Any]) -> None:
    """Hold one permit for ``seconds`` (or until killed)."""
    bulkhead = get_bulkhead(options["name"], capacity=options["capacity"], timeout=10.0)
    print("ready", flush=True)
    if not bulkhead.acquire_sync():
        print("refused", flush=True)
        return
    print("held", flush=True)
    seconds = options.get("seconds")
    while seconds is None:
        time.sleep(60)
    time.sleep(seconds)
    bulkhead.release()
    print("released", flush=True)


def main() -> None:
    mode, options = sys.argv[1], json.loads(sys.argv[2])
    if mode == "contend":
        print(json.dumps(contend(options)), flush=True)
    elif mode == "burst":
        print(json.dumps(burst(options)), flush=True)
    elif mode == "hold":
        hold(options)
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main()
