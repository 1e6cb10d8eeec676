"""What the worker-loss and time-limit tests share: their environment, sending an operation
of ``_ops_worker_losses``, waiting for a dead letter, replaying one, and reading starts."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import redis
from celery import Celery
from celery.result import AsyncResult

from outlast.store import DeadLetter, RedisStore

__all__ = ["heal", "losses_env", "replay", "send", "starts", "wait_for_letter"]

TESTS_DIR = Path(__file__).resolve().parent


def losses_env(redis_url: str, broker_url: str, namespace: str, **settings: str) -> dict[str, str]:
    """Workers running ``_ops_worker_losses``; ``settings`` adds ``OUTLAST_<NAME>`` variables."""
    return {
        "OUTLAST_BROKER_URL": broker_url,
        "OUTLAST_REDIS_URL": redis_url,
        "OUTLAST_TEST_REDIS_URL": redis_url,
        "OUTLAST_NAMESPACE": namespace,
        "OUTLAST_TASK_MODULES": '["_ops_worker_losses"]',
        "PYTHONPATH": os.pathsep.join([str(TESTS_DIR), os.environ.get("PYTHONPATH", "")]),
        **{f"OUTLAST_{name.upper()}": value for name, value in settings.items()},
    }


def send(results: Celery, name: str, *args: Any) -> AsyncResult:
    """Send the operation ``name`` to the operations queue, as a bare Celery message."""
    return results.send_task(name, args=list(args), queue="operations")


def starts(redis_url: str, prefix: str) -> list[float]:
    """When the operation with ``prefix`` started, one time per start."""
    client = redis.Redis.from_url(redis_url)
    try:
        return [float(x) for x in client.lrange(f"{prefix}:starts", 0, -1)]
    finally:
        client.close()


def heal(redis_url: str, prefix: str) -> None:
    """From now on the operation with ``prefix`` behaves."""
    client = redis.Redis.from_url(redis_url)
    client.set(f"{prefix}:heal", 1, ex=600)
    client.close()


async def wait_for_letter(
    store: RedisStore, task_name: str, *, count: int = 1, within: float
) -> list[DeadLetter]:
    """The dead letters of ``task_name`` once there are ``count``; fails after ``within`` s."""
    deadline = time.monotonic() + within
    letters: list[DeadLetter] = []
    while len(letters) < count:
        assert time.monotonic() < deadline, f"{len(letters)} dead letters after {within}s"
        await asyncio.sleep(0.1)
        letters = await store.list_dead_letters(task_name=task_name)
    return letters


def replay(env: dict[str, str], letter_id: str) -> str:
    """Replay a dead letter from a separate process; the replay's task id."""
    code = (
        "import asyncio, sys, _ops_worker_losses; from outlast import dead_letters;"
        "print(asyncio.run(dead_letters.replay(sys.argv[1])))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, letter_id], capture_output=True, text=True,
        env={**os.environ, **env}, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()
