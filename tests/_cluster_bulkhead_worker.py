"""A separate OS process that uses a cluster bulkhead, for the multi-process tests.

Run as ``python tests/_cluster_bulkhead_worker.py <mode> <json arguments>`` with
``OUTLAST_REDIS_URL``, ``OUTLAST_NAMESPACE`` and ``OUTLAST_BULKHEAD_LEASE`` in the
environment, so the bulkhead comes from ``get_bulkhead`` exactly as an application gets it.
Every mode prints ``ready`` once its bulkhead exists, then reports on stdout, one line each:

- ``contend``: waits for a line on stdin (the start signal), then ``threads`` threads take
  the permit ``rounds`` times each; inside, a Lua script counts the callers inside in Redis
  and keeps the highest count seen (``inside_key``, ``peak_key``). Prints a JSON summary.
- ``hold``: takes one permit, prints ``held``, holds it ``seconds`` (forever if absent; the
  test then SIGKILLs it), releases it and prints ``released``.

It sleeps for real: real concurrency between processes is what the tests prove.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import Any

import redis

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
    elif mode == "hold":
        hold(options)
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main()
