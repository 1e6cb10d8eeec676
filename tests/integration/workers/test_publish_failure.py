"""A retry message that the broker refuses becomes a dead letter, never a silent loss.

The broker is a redis-server this test starts on a free port; the store, the results and
the operation's own records stay in the test Redis. An idempotent operation's first
attempt waits until the test has made the broker refuse LPUSH (the command that publishes
a message) with an ACL rule, then fails with a retryable error whose 0.3 s retry is under
the park threshold, so the retry must go to the broker. Celery's publish retry policy gives
up, ``Task.retry`` raises ``Reject``, and the task writes a dead letter with reason
"publish_failed" and everything a replay needs. With LPUSH allowed again, the letter is
replayed through ``outlast.dead_letters`` and the same worker runs it, once.

Why an ACL rule and not ``maxmemory``: a Redis out of memory refuses every command queued
in MULTI, and kombu acks in a MULTI, so the worker would stop on the ack ("Unrecoverable
error") right after writing the letter; refusing LPUSH alone keeps the rest of the broker
working, so the test sees only the retry's publish fail.

Redis only: the refusal needs a broker of the test's own. The RabbitMQ here is one node
shared by every test run, and its ways to refuse publishes (user permissions, a resource
alarm, which blocks publishers rather than refusing them) act on the whole node.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from celery import Celery

from _servers import RedisServer, start_redis_server
from _workers import WorkerProcess, celery_worker_command, start_worker
from outlast.config import Settings
from outlast.store import DeadLetter, RedisStore
from outlast.workers import create_app

TESTS_DIR = Path(__file__).resolve().parents[2]
OPERATION = "tests.held_then_flaky"
GIVE_UP_WITHIN = 10.0  # seconds from the failed attempt to its dead letter: a bounded publish


@pytest.fixture
def broker() -> Iterator[RedisServer]:
    """A redis-server of this test's own, the only broker its worker knows."""
    with start_redis_server() as server:
        yield server


@pytest.fixture
def env(redis_url: str, broker: RedisServer, namespace: str) -> dict[str, str]:
    """Tasks through the test's own broker; store, results and records in the test Redis."""
    return {
        "OUTLAST_BROKER_URL": broker.url,
        "OUTLAST_RESULT_BACKEND": redis_url,
        "OUTLAST_REDIS_URL": redis_url,
        "OUTLAST_TEST_REDIS_URL": redis_url,
        "OUTLAST_NAMESPACE": namespace,
        "OUTLAST_TASK_MODULES": '["_ops_for_tests"]',
        "OUTLAST_RETRY_PARK_THRESHOLD": "1.0",  # the 0.3 s retry goes to the broker
        "PYTHONPATH": os.pathsep.join([str(TESTS_DIR), os.environ.get("PYTHONPATH", "")]),
    }


@pytest.fixture
def worker(env: dict[str, str]) -> Iterator[WorkerProcess]:
    """A prefork worker (-c 1) on the operations queue."""
    with start_worker(env, celery_worker_command(["operations"], concurrency=1)) as running:
        yield running


@pytest.fixture
def results(redis_url: str, broker: RedisServer, namespace: str) -> Iterator[Celery]:
    """A client app for reading task results (from the test Redis)."""
    settings = Settings(
        broker_url=broker.url, result_backend=redis_url, redis_url=redis_url, namespace=namespace
    )
    app = create_app(settings)
    yield app
    app.close()


def run_with_env(env: dict[str, str], *argv: str) -> str:
    """Run ``python argv...`` in a separate process with ``env``; its standard output."""
    done = subprocess.run(
        [sys.executable, *argv], capture_output=True, text=True,
        env={**os.environ, **env}, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


def enqueue(env: dict[str, str], prefix: str, key: str) -> str:
    """Enqueue the held operation from a separate process, as an application would; its id."""
    items: list[Any] = [[OPERATION, [prefix], {}, key]]
    sent = json.loads(run_with_env(env, str(TESTS_DIR / "_enqueue_cli.py"), json.dumps(items)))
    assert sent["status"] == "queued"
    task_id: str = sent["task_id"]
    return task_id


def replay(env: dict[str, str], letter_id: str) -> str:
    """Replay a dead letter from a separate process with ``outlast.dead_letters.replay``."""
    code = (
        "import asyncio, sys, _ops_for_tests; from outlast import dead_letters;"
        "print(asyncio.run(dead_letters.replay(sys.argv[1])))"
    )
    return run_with_env(env, "-c", code, letter_id).strip()


@contextlib.contextmanager
def client_of(url: str) -> Iterator[redis.Redis]:
    """A Redis client of ``url``, closed after."""
    client = redis.Redis.from_url(url)
    try:
        yield client
    finally:
        client.close()


def refuse_pushes(broker: RedisServer, refuse: bool) -> None:
    """Make the broker refuse LPUSH, the command that publishes a message, or allow it again.

    Every other command (BRPOP, the ack's MULTI of ZREM and HDEL) keeps working, and the
    rule applies at once to the connections already open.
    """
    rule = "-lpush" if refuse else "+lpush"
    with client_of(broker.url) as client:
        client.acl_setuser("default", enabled=True, nopass=True, commands=[rule])


def broker_refuses_a_push(broker: RedisServer) -> bool:
    """Whether an LPUSH to the broker is refused (the probe leaves nothing behind)."""
    with client_of(broker.url) as client:
        try:
            client.lpush("outlast-test:probe", "x")
        except redis.exceptions.NoPermissionError:
            return True
        client.delete("outlast-test:probe")
        return False


def refused_pushes(broker: RedisServer) -> int:
    """How many LPUSH commands the broker refused since its ACL log was last reset."""
    with client_of(broker.url) as client:
        entries: list[dict[str, Any]] = client.acl_log()
    return sum(int(entry["count"]) for entry in entries if entry["object"] == "lpush")


def unacked(broker: RedisServer, namespace: str) -> int:
    """How many delivered messages the broker holds unacknowledged (kombu's unacked hash)."""
    with client_of(broker.url) as client:
        return int(client.hlen(f"outlast:{namespace}:unacked"))


def attempts(redis_url: str, prefix: str) -> int:
    """How many attempts of the operation ran (it records each under ``prefix``)."""
    with client_of(redis_url) as client:
        return int(client.llen(f"{prefix}:attempts"))


def release(redis_url: str, prefix: str) -> None:
    """Let the held first attempt go on (to its failure)."""
    with client_of(redis_url) as client:
        client.rpush(f"{prefix}:release", 1)
        client.expire(f"{prefix}:release", 600)


def wait_until(condition: Callable[[], bool], timeout: float) -> bool:
    """Poll ``condition()`` until it is true (True) or ``timeout`` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


async def dead_letters_within(store: RedisStore, seconds: float) -> list[DeadLetter]:
    """The operation's dead letters, as soon as there is one (none after ``seconds``)."""
    deadline = time.monotonic() + seconds
    letters = await store.list_dead_letters(task_name=OPERATION)
    while not letters and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
        letters = await store.list_dead_letters(task_name=OPERATION)
    return letters


async def test_an_unpublishable_retry_is_dead_lettered_and_replays_once(
    env: dict[str, str],
    broker: RedisServer,
    worker: WorkerProcess,
    results: Celery,
    store: RedisStore,
    redis_url: str,
    namespace: str,
) -> None:
    """A retry the broker refuses is a "publish_failed" dead letter that replays once."""
    prefix = f"{namespace}:held"
    task_id = await asyncio.to_thread(enqueue, env, prefix, "order-77")
    assert await asyncio.to_thread(wait_until, lambda: attempts(redis_url, prefix) == 1, 30)

    refuse_pushes(broker, True)
    assert broker_refuses_a_push(broker)
    with client_of(broker.url) as client:
        client.acl_log_reset()
    released_at = time.monotonic()
    release(redis_url, prefix)
    [letter] = await dead_letters_within(store, GIVE_UP_WITHIN)
    assert time.monotonic() - released_at < GIVE_UP_WITHIN
    assert refused_pushes(broker) >= 1  # the retry really was offered to the broker

    assert (letter.reason, letter.task_name) == ("publish_failed", OPERATION)
    assert letter.task_id == task_id
    assert (letter.args, letter.kwargs) == ([prefix], {})
    assert (letter.idempotency_key, letter.queue, letter.attempts) == ("order-77", "operations", 1)
    assert "lpush" in letter.error_message
    original = results.AsyncResult(task_id)
    await asyncio.to_thread(original.get, timeout=30, propagate=False)
    assert original.state == "FAILURE"

    refuse_pushes(broker, False)
    new_task_id = await asyncio.to_thread(replay, env, letter.id)
    assert await asyncio.to_thread(results.AsyncResult(new_task_id).get, timeout=30) == "done"
    await asyncio.sleep(1.0)  # past the refused retry's 0.3 s: nothing else may run
    assert attempts(redis_url, prefix) == 2  # the failed attempt and the replay
    replayed = await store.get_dead_letter(letter.id)
    assert replayed is not None
    assert (replayed.replay_count, replayed.replay_task_id) == (1, new_task_id)
    assert worker.running  # the same worker took the replay after the refused publish
    # Both messages were acked: nothing comes back after the visibility timeout.
    assert await asyncio.to_thread(wait_until, lambda: unacked(broker, namespace) == 0, 10)
