"""``outlast dead-letters`` against a real store and worker: list and show print what the
store holds (``--json`` for scripts), purge needs a filter or ``--all``, and a replay of
1,000 letters sends every one again under its own key, with progress, for a real worker to
run."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
import redis

from _servers import delete_keys_with_prefix
from _workers import TESTS_DIR, celery_worker_command, start_worker
from outlast.cli import main
from outlast.config import reload_settings
from outlast.store import DeadLetter, RedisStore
from outlast.store.redis._redis import store_prefix

TASK = "tests.keyed"
MANY = 1000


@pytest.fixture
def namespace(redis_url: str) -> Iterator[str]:
    """A namespace of this test's own; its keys are deleted afterwards."""
    name = f"cli-dl-{uuid.uuid4().hex[:10]}"
    yield name
    client = redis.Redis.from_url(redis_url)
    for prefix in (f"outlast:{{{name}:", f"outlast:{name}:", store_prefix(name), f"{name}:"):
        delete_keys_with_prefix(client, prefix)
    client.close()


@pytest.fixture
def env(redis_url: str, namespace: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The settings of the command and the worker (this process reads them too)."""
    values = {
        "OUTLAST_REDIS_URL": redis_url,
        "OUTLAST_BROKER_URL": redis_url,
        "OUTLAST_NAMESPACE": namespace,
        "OUTLAST_TASK_MODULES": '["_ops_keys"]',
        "OUTLAST_TEST_REDIS_URL": redis_url,
        "PYTHONPATH": os.pathsep.join([str(TESTS_DIR), os.environ.get("PYTHONPATH", "")]),
    }
    for name, value in values.items():
        if name != "PYTHONPATH":
            monkeypatch.setenv(name, value)
    reload_settings()
    return values


@pytest.fixture
async def store(env: dict[str, str], redis_url: str, namespace: str) -> AsyncIterator[RedisStore]:
    """The store the command reads."""
    opened = RedisStore(redis_url, namespace=namespace)
    yield opened
    await opened.close()


def letter(number: int, prefix: str) -> DeadLetter:
    """Dead letter ``number`` of the keyed operation, under key ``k-<number>``."""
    return DeadLetter(
        task_name=TASK, error_type="RuntimeError", error_message=f"gave up {number}",
        failed_at=1_700_000_000.0 + number, args=[prefix], reason="exhausted",
        idempotency_key=f"k-{number}", id=f"letter-{number:04d}",
    )  # fmt: skip


def outlast(env: dict[str, str], *argv: str) -> subprocess.CompletedProcess[str]:
    """``outlast *argv`` in its own process."""
    return subprocess.run(
        [sys.executable, "-m", "outlast.cli", *argv], env={**os.environ, **env},
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


async def test_list_show_and_purge(
    store: RedisStore, namespace: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """list shows the letters and the total; show prints one; purge needs a filter."""
    for number in (1, 2, 3):
        await store.add_dead_letter(letter(number, namespace))
    assert await asyncio.to_thread(main, ["dead-letters", "list", "--limit", "2"]) == 0
    out = capsys.readouterr().out
    assert "letter-0003" in out
    assert "letter-0001" not in out
    assert "2 of 3 (offset 0)" in out
    assert await asyncio.to_thread(main, ["dead-letters", "list", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [row["id"] for row in rows] == ["letter-0003", "letter-0002", "letter-0001"]
    assert await asyncio.to_thread(main, ["dead-letters", "show", "letter-0002"]) == 0
    assert "gave up 2" in capsys.readouterr().out
    assert await asyncio.to_thread(main, ["dead-letters", "show", "nope"]) == 1
    assert capsys.readouterr().err.count("\n") == 1
    assert await asyncio.to_thread(main, ["dead-letters", "purge"]) == 2
    assert await asyncio.to_thread(main, ["dead-letters", "purge", "--all"]) == 0
    assert "purged 3" in capsys.readouterr().out
    assert await store.count_dead_letters() == 0


async def test_replay_of_a_thousand_letters_runs_them_all(
    env: dict[str, str], store: RedisStore, redis_url: str, namespace: str
) -> None:
    """1,000 letters replayed by one command, progress on stderr; a worker runs each once
    under the letter's own key."""
    prefix = f"{namespace}:keyed"
    for number in range(MANY):
        await store.add_dead_letter(letter(number, prefix))
    started = time.monotonic()
    done = await asyncio.to_thread(outlast, env, "dead-letters", "replay", "--task", TASK)
    took = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    assert f"replayed {MANY} of {MANY}" in done.stdout
    assert f"replayed {MANY}/{MANY}" in done.stderr
    print(f"replay of {MANY} letters: {took:.1f} s")
    ran = time.monotonic()
    client = redis.Redis.from_url(redis_url)
    command = celery_worker_command(["operations"], concurrency=4)
    with start_worker(env, command):
        for _ in range(450):  # at most 90 s
            if client.llen(f"{prefix}:keys") >= MANY:
                break
            await asyncio.sleep(0.2)
    print(f"worker ran them in {time.monotonic() - ran:.1f} s")
    keys = {_text(key) for key in client.lrange(f"{prefix}:keys", 0, -1)}
    client.delete(f"{prefix}:keys")
    client.close()
    assert keys == {f"k-{number}" for number in range(MANY)}
    again = await asyncio.to_thread(outlast, env, "dead-letters", "replay", "--task", TASK)
    assert "replayed 0 of 0" in again.stdout


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
