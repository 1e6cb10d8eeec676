"""What the orphan tests and ``bench/orphans.py`` share: a worker that takes ``HELD``
messages of the counting operation (``_ops_orphans``) and holds them, the surviving
worker, sending, and reading each message's runs.

The holding worker runs ``-c CONCURRENCY`` pool processes with a prefetch multiplier of
``HELD / CONCURRENCY``: it holds ``HELD`` messages unacknowledged, ``CONCURRENCY`` of
them running (each run blocks its process until the worker is killed) and the rest
reserved, never started. ``ALL_RUNNING`` is a holder whose ``HELD`` threads all run one
message each when it is killed.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import redis
from celery import Celery

from _ops_orphans import COUNT_RUN
from _workers import WorkerProcess, celery_worker_command, start_worker
from outlast.workers._queue_depth import queue_depths
from outlast.workers.orphans._orphan_guard import orphan_keys

__all__ = [
    "ALL_RUNNING",
    "CONCURRENCY",
    "FAST_BEATS",
    "HELD",
    "PREFORK",
    "Holder",
    "Runs",
    "held_count",
    "orphan_env",
    "queue_depth",
    "send_runs",
    "start_holder",
    "start_survivor",
    "wait_until_held",
]

TESTS_DIR = Path(__file__).resolve().parent
CONCURRENCY = 4
HELD = 20
QUEUE = "operations"
FAST_BEATS = {"orphan_heartbeat_interval": "0.5", "orphan_heartbeat_ttl": "1.5"}
"""Heartbeat settings (for :func:`orphan_env`) under which a death shows in under 2 s."""


@dataclass(frozen=True)
class Holder:
    """How the holding worker holds ``HELD`` messages: ``running`` of them run at once."""

    pool: str
    running: int

    @property
    def prefetch(self) -> int:
        return HELD // self.running


PREFORK = Holder("prefork", CONCURRENCY)
ALL_RUNNING = Holder("threads", HELD)


def orphan_env(redis_url: str, broker_url: str, namespace: str, **settings: str) -> dict[str, str]:
    """Workers on ``broker_url`` running ``_ops_orphans``; ``settings`` adds ``OUTLAST_*``."""
    return {
        "OUTLAST_BROKER_URL": broker_url,
        "OUTLAST_REDIS_URL": redis_url,
        "OUTLAST_TEST_REDIS_URL": redis_url,
        "OUTLAST_NAMESPACE": namespace,
        "OUTLAST_TASK_MODULES": '["_ops_orphans"]',
        "PYTHONPATH": os.pathsep.join([str(TESTS_DIR), os.environ.get("PYTHONPATH", "")]),
        **{f"OUTLAST_{name.upper()}": value for name, value in settings.items()},
    }


def start_holder(env: dict[str, str], holder: Holder = PREFORK) -> WorkerProcess:
    """A worker whose runs hold their process; it takes up to ``HELD`` messages."""
    command = celery_worker_command(
        [QUEUE], concurrency=holder.running, pool=holder.pool, name="orphan-holder"
    )
    command += ["--prefetch-multiplier", str(holder.prefetch)]
    return start_worker({**env, "OUTLAST_TEST_ORPHAN_HOLD": "1"}, command)


def start_survivor(env: dict[str, str]) -> WorkerProcess:
    """A worker whose runs return at once: it runs whatever comes back."""
    return start_worker(env, celery_worker_command([QUEUE], concurrency=2, name="orphan-heir"))


def send_runs(results: Celery, prefix: str, count: int = HELD) -> list[str]:
    """Send ``count`` runs of the counting operation; their task ids."""
    sent = [
        results.send_task(COUNT_RUN, args=[prefix, index], queue=QUEUE) for index in range(count)
    ]
    return [result.id for result in sent]


def queue_depth(results: Celery) -> int:
    """Messages waiting in the operations queue on the results app's broker."""
    waiting = queue_depths(results, [QUEUE])[QUEUE]
    assert waiting is not None, "the broker did not answer"
    return waiting


def held_count(results: Celery) -> int:
    """Delivery tags the workers on the results app's Redis broker have recorded as held."""
    keys = orphan_keys(results)
    assert keys is not None
    client = redis.Redis.from_url(str(results.conf.broker_url))
    try:
        return sum(int(client.zcard(k)) for k in client.scan_iter(f"{keys.base}:held:*"))
    finally:
        client.close()


def wait_until_held(
    results: Celery, runs: Runs, *, running: int = CONCURRENCY, timeout: float = 30.0
) -> None:
    """Until the holding worker has taken every message and ``running`` run."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if queue_depth(results) == 0 and len(runs.starts()) == running:
            return
        time.sleep(0.1)
    raise AssertionError(f"not held: depth {queue_depth(results)}, starts {runs.starts()}")


class Runs:
    """The runs of the counting operation under one prefix, read from the test Redis."""

    def __init__(self, redis_url: str, prefix: str) -> None:
        self.client: redis.Redis = redis.Redis.from_url(redis_url)
        self.prefix = prefix

    def starts(self) -> list[tuple[int, float]]:
        """(index, time) of every run so far, in order."""
        raw = self.client.lrange(f"{self.prefix}:starts", 0, -1)
        return [(int(i), float(t)) for i, t in (_text(x).split() for x in raw)]

    def counts(self, count: int = HELD) -> list[int]:
        """How many times each index ran."""
        raw = self.client.mget([f"{self.prefix}:runs:{i}" for i in range(count)])
        return [int(x or 0) for x in raw]

    def wait_rerun_all(self, after: float, *, count: int = HELD, timeout: float) -> float:
        """Until every index has run since ``after`` (a time.time()); the time of the
        last of those runs. Fails after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            again = {i: t for i, t in self.starts() if t >= after}
            if len(again) == count:
                return max(again.values())
            time.sleep(0.05)
        raise AssertionError(f"{len(again)} of {count} ran again within {timeout}s")

    def close(self) -> None:
        self.client.close()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
