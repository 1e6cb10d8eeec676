"""Through a real ``outlast api`` (uvicorn on a free loopback port, its own process): a dead
letter replayed by an admin runs again on a real worker under the letter's idempotency key,
the letter counts the replay, and the audit names the token that did it.

The API process is stopped by its pid at the end.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import redis
from celery import Celery

from _api_support import ADMIN_TOKEN, READ_TOKEN, auth
from _servers import free_port
from _workers import TESTS_DIR, celery_worker_command, start_worker
from outlast.config import Settings
from outlast.store import DeadLetter, RedisStore
from outlast.workers import create_app

START_TIMEOUT = 30.0


@pytest.fixture
def env(redis_url: str, namespace: str) -> dict[str, str]:
    """Settings of the API and the worker: the test Redis, the keyed operation, the tokens."""
    return {
        "OUTLAST_REDIS_URL": redis_url,
        "OUTLAST_BROKER_URL": redis_url,
        "OUTLAST_NAMESPACE": namespace,
        "OUTLAST_TASK_MODULES": '["_ops_keys"]',
        "OUTLAST_ADMIN_TOKENS": f"night-ops={ADMIN_TOKEN}",
        "OUTLAST_READ_TOKENS": READ_TOKEN,
        "OUTLAST_TEST_REDIS_URL": redis_url,
        "PYTHONPATH": os.pathsep.join([str(TESTS_DIR), os.environ.get("PYTHONPATH", "")]),
    }


@pytest.fixture
def api_url(env: dict[str, str]) -> Iterator[str]:
    """``outlast api`` serving on a free port until the test ends (stopped by pid)."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "outlast.cli", "api", "--host", "127.0.0.1", "--port", str(port)],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_live(url, process)
        yield url
    finally:
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()


def wait_until_live(url: str, process: subprocess.Popen[bytes]) -> None:
    """Return once ``/health/live`` answers 200; fail if the process exits or time runs out."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        assert process.poll() is None, "outlast api exited"
        try:
            if httpx.get(f"{url}/health/live", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    pytest.fail(f"outlast api did not answer within {START_TIMEOUT} s")


@pytest.fixture
async def store(redis_url: str, namespace: str) -> AsyncIterator[RedisStore]:
    """The store the API and the worker share."""
    shared = RedisStore(redis_url, namespace=namespace)
    yield shared
    await shared.close()


@pytest.fixture
def results(redis_url: str, namespace: str) -> Iterator[Celery]:
    """A client app for reading task results."""
    app = create_app(Settings(broker_url=redis_url, redis_url=redis_url, namespace=namespace))
    yield app
    app.close()


async def test_replay_through_the_served_api(
    api_url: str, env: dict[str, str], store: RedisStore, results: Celery, redis_url: str,
    namespace: str,
) -> None:  # fmt: skip
    """The replayed letter's work runs under key k-api; the audit says night-ops did it."""
    prefix = f"{namespace}:keyed"
    letter = await store.add_dead_letter(DeadLetter(
        task_name="tests.keyed", error_type="RuntimeError", error_message="gave up",
        failed_at=time.time(), args=[prefix], reason="exhausted", idempotency_key="k-api",
    ))  # fmt: skip
    async with httpx.AsyncClient(base_url=api_url, timeout=10.0) as http:
        listed = (await http.get("/admin/dead-letters", headers=auth(READ_TOKEN))).json()
        assert [item["id"] for item in listed["items"]] == [letter.id]
        with start_worker(env, celery_worker_command(["operations"])):
            answer = await http.post(
                f"/admin/dead-letters/{letter.id}/replay", headers=auth(ADMIN_TOKEN)
            )
            assert answer.status_code == 200, answer.text
            task_id = answer.json()["task_id"]
            ran_as = await asyncio.to_thread(results.AsyncResult(task_id).get, timeout=30)
        shown = await http.get(f"/admin/dead-letters/{letter.id}", headers=auth(READ_TOKEN))
        audit = (await http.get("/admin/audit", headers=auth(READ_TOKEN))).json()["items"]
    with redis.Redis.from_url(redis_url) as client:
        recorded = [key.decode() for key in client.lrange(f"{prefix}:keys", 0, -1)]
        client.delete(f"{prefix}:keys")
    assert (ran_as, recorded) == ("k-api", ["k-api"])
    assert shown.json()["replay_count"] == 1
    assert shown.json()["replay_task_id"] == task_id
    assert [(a["by"], a["action"], a["target"]) for a in audit] == [
        ("night-ops", "dead_letter.replay", letter.id)
    ]
