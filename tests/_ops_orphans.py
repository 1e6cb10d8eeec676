"""An operation that is not idempotent and counts its runs, for the orphan tests and
``bench/orphans.py``; workers import this module through ``OUTLAST_TASK_MODULES``.

Each run adds one to ``{prefix}:runs:{index}`` and notes ``index time`` in
``{prefix}:starts``. In a worker started with ``OUTLAST_TEST_ORPHAN_HOLD`` set, a run then
holds its pool process (sleeps) until the worker is killed; elsewhere it returns at once.
"""

from __future__ import annotations

import os
import time

import redis

from outlast.workers import operation

COUNT_RUN = "tests.orphans.count_run"
HOLD_SECONDS = 120.0


@operation(COUNT_RUN)
def count_run(prefix: str, index: int) -> int:
    """Count this run; hold the process when the worker says so. Returns the run's number."""
    client = redis.Redis.from_url(os.environ["OUTLAST_TEST_REDIS_URL"])
    try:
        with client.pipeline(transaction=False) as pipe:
            pipe.incr(f"{prefix}:runs:{index}")
            pipe.expire(f"{prefix}:runs:{index}", 600)
            pipe.rpush(f"{prefix}:starts", f"{index} {time.time()!r}")
            pipe.expire(f"{prefix}:starts", 600)
            runs = int(pipe.execute()[0])
    finally:
        client.close()
    if os.environ.get("OUTLAST_TEST_ORPHAN_HOLD"):
        time.sleep(HOLD_SECONDS)
    return runs
